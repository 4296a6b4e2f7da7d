"""Graded exercises: one module per exercise set, and the machinery that grades them.

One job per module:

* :mod:`~rnnbook.grading.model`: the data model: questions, test cases, requests, verdicts,
  exercise sets, limits;
* :mod:`~rnnbook.grading.learner`: what runs in the learner's process (the notebook, or the
  sandbox): turning answers into plain data, carrying out requests, the public ``check``;
* :mod:`~rnnbook.grading.judging`: comparisons with messages, the classic mistakes and the common
  case builders; :mod:`~rnnbook.grading.inputs`: the test cases' inputs (random tensors and layers,
  modules holding given weights);
* :mod:`~rnnbook.grading.ch01` ... ``ch08``: one exercise set each, a list of questions whose
  references come from the ``rnnbook`` library;
* :mod:`~rnnbook.grading.sandbox`: the sandbox a submission runs in (both halves, the files
  between them, and its isolation);
* :mod:`~rnnbook.grading.grader`: grading submissions; :mod:`~rnnbook.grading.report`: the CSV,
  the feedback and the summary; :mod:`~rnnbook.grading.cli`: the command,
  ``python -m rnnbook.grading`` (also ``python -m rnnbook.grade``).

Instructors' private tests (``--tests DIR``) are Python files that define
``cases(exercise_set_id: str, generator: torch.Generator) -> list[Case]``; the case builders of
each exercise set (for example :func:`rnnbook.grading.ch01.rnn_step_case`) make that short.
"""

from __future__ import annotations

import importlib

from rnnbook.grading.model import Case, ExerciseSet, Question, Request, Verdict

__all__ = ["EXERCISE_SETS", "load_exercise_set", "Case", "ExerciseSet", "Question", "Request", "Verdict"]

# Exercise set id -> module defining ``EXERCISE_SET``.
EXERCISE_SETS = {f"{n:02d}": f"rnnbook.grading.ch{n:02d}" for n in range(1, 9)}


def load_exercise_set(name: str) -> ExerciseSet:
    """The exercise set named ``name``: "1", "01", "ch01", or a notebook name such as
    "01_rnn_from_scratch" or "exercises/01_rnn_from_scratch.ipynb"."""
    stem = name.rsplit("/", 1)[-1].removesuffix(".ipynb").removeprefix("ch")
    key = stem.split("_", 1)[0]
    key = key.zfill(2) if key.isdigit() else key
    if key not in EXERCISE_SETS:
        raise SystemExit(f"unknown exercise set {name!r}: choose one of {', '.join(EXERCISE_SETS)}")
    return importlib.import_module(EXERCISE_SETS[key]).EXERCISE_SET
