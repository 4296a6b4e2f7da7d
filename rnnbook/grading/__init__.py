"""Graded exercises: questions and tests (one module per exercise set), notebook generation, sandbox.

* :mod:`rnnbook.grading.core`: questions, test cases, requests, verdicts, comparisons, ``check``.
* :mod:`rnnbook.grading.ch01`, ...: one exercise set each (its questions, public and hidden tests,
  and the reference answers, computed from the ``rnnbook`` library).
* :mod:`rnnbook.grading.assign`: builds ``exercises/NN_*.ipynb`` (learner) and
  ``solutions/NN_*.ipynb`` (clean reference) from one master per set in ``exercises/src/``.
* :mod:`rnnbook.grading.sandbox`: runs a submission's code and answers the grader's requests.
* :mod:`rnnbook.grade`: the command that grades a class (``python -m rnnbook.grade``); its
  docstring explains the design and why otter-grader is used for authoring only.

Instructors' private tests (``--tests DIR``) are Python files that define
``cases(chapter: str, generator: torch.Generator) -> list[Case]``; the case builders of each
exercise set (for example :func:`rnnbook.grading.ch01.rnn_step_case`) make that short.
"""

from __future__ import annotations

import importlib

from rnnbook.grading.core import Case, Chapter, Question, Request, Verdict

__all__ = ["CHAPTERS", "load_chapter", "Case", "Chapter", "Question", "Request", "Verdict"]

# Exercise set id -> module defining ``CHAPTER``. Sets whose library chapter is missing are skipped.
CHAPTERS = {
    "01": "rnnbook.grading.ch01",
    "02": "rnnbook.grading.ch02",
    "03": "rnnbook.grading.ch03",
    "04": "rnnbook.grading.ch04",
    "05": "rnnbook.grading.ch05",
    "06": "rnnbook.grading.ch06",
    "07": "rnnbook.grading.ch07",
    "08": "rnnbook.grading.ch08",
}


def available() -> list[str]:
    """Ids of the exercise sets whose module exists."""
    return [key for key, module in CHAPTERS.items() if importlib.util.find_spec(module) is not None]


def load_chapter(name: str) -> Chapter:
    """The exercise set named ``name``: "1", "01", "ch01", or a notebook name such as
    "01_rnn_from_scratch" or "exercises/01_rnn_from_scratch.ipynb"."""
    stem = name.rsplit("/", 1)[-1].removesuffix(".ipynb").removeprefix("ch")
    key = stem.split("_", 1)[0]
    key = key.zfill(2) if key.isdigit() else key
    if key not in CHAPTERS or importlib.util.find_spec(CHAPTERS[key]) is None:
        raise SystemExit(f"unknown exercise set {name!r}: choose one of {', '.join(available())}")
    return importlib.import_module(CHAPTERS[key]).CHAPTER
