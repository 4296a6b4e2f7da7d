"""The data model of grading: questions, test cases, requests, verdicts, exercise sets, limits.

A *case* is one test of one question. It has two halves that never meet in the same process
when a submission is graded:

* a :class:`Request` says what to ask the learner's code: the value of a name, the result of
  calling a function on given inputs, or the output of a module built with given weights. The
  learner's process (:mod:`rnnbook.grading.learner`, run in the sandbox) carries it out and sends
  back plain data;
* a *judge* (a function of that plain data, built with :mod:`rnnbook.grading.judging`) compares
  it with a reference it computes itself from the ``rnnbook`` library and returns a
  :class:`Verdict` with a message that says what was expected and what came back. Judges run in
  the grader's own process only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "Request",
    "Verdict",
    "Case",
    "Question",
    "ExerciseSet",
    "Failure",
    "Unsupported",
    "Limits",
    "STATUSES",
    "MAX_ITEMS",
    "MAX_DEPTH",
    "MAX_STRING",
    "MAX_ELEMENTS",
]

# Limits on what an answer may contain (the sandbox applies them; so does the grader's reader).
MAX_ITEMS = 64
MAX_DEPTH = 4
MAX_STRING = 2000
MAX_ELEMENTS = 2_000_000

# The status of a graded submission.
STATUSES = ("ok", "timeout", "out of memory", "crashed", "not a notebook")


@dataclass(frozen=True)
class Limits:
    """Limits for one submission, and whether it is isolated at all."""

    timeout: float = 60.0  # wall clock for the whole submission, seconds
    cell_timeout: float = 10.0  # per code cell and per request, seconds
    memory_mb: int = 2048  # memory of the whole submission (cgroup), and address space per process
    file_mb: int = 64  # largest file the sandbox may write
    processes: int = 256  # processes and threads of the whole submission (with a cgroup)
    isolate: bool = True  # False only with --no-isolation: learner code runs unconfined


@dataclass(frozen=True)
class Request:
    """What to ask the learner's code. ``kind`` is one of:

    * ``"value"``: the value bound to ``name``;
    * ``"call"``: ``name(*args)``;
    * ``"module"``: ``name(*init_args)``, then ``load_state_dict(dict(state))``, then ``module(*args)``;
    * ``"grad"``: ``name(*args)``, then the gradients of ``sum(output_i * cotangents[i])`` (over the
      output's tensors, in order) with respect to the tensors of ``args[i]`` for ``i`` in ``wrt``.

    ``args`` and ``init_args`` hold tensors, numbers, strings and tuples of them.
    """

    kind: str
    name: str
    args: tuple = ()
    init_args: tuple = ()
    state: tuple = ()
    wrt: tuple = ()
    cotangents: tuple = ()
    unavailable: tuple[str, ...] = ()  # library functions withheld while answering (see ``withheld``)

    def __post_init__(self):
        if self.kind not in ("value", "call", "module", "grad"):
            raise ValueError(f"Request kind must be value, call, module or grad, got {self.kind!r}")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one case: passed or not, and a message for the learner."""

    passed: bool
    message: str


@dataclass(frozen=True)
class Failure:
    """The learner's code could not produce an answer (an exception, a missing name, a timeout)."""

    message: str


@dataclass(frozen=True)
class Unsupported:
    """An answer of a type the grader does not accept, described for the learner by its type and a
    short repr: ``Unsupported("a tensor of shape (2, 3) and dtype torch.complex64")``."""

    description: str


@dataclass(frozen=True)
class Case:
    """One test of one question: a request, a judge for its answer, and the points it is worth."""

    question: str
    label: str
    request: Request
    judge: Callable[[Any], Verdict]
    points: float = 1.0
    hidden: bool = False
    # (a fragment of an error message, what to look at): hints for answers that fail with that error
    symptoms: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Question:
    """A graded question.

    ``names`` are the names the learner's notebook must define. ``public_cases()`` returns the
    cases a learner can run in the notebook (fixed inputs); ``hidden_cases(generator)`` returns
    the cases used only when grading, with inputs drawn from ``generator``.
    """

    id: str
    title: str
    names: tuple[str, ...]
    public_cases: Callable[[], list[Case]]
    hidden_cases: Callable[[torch.Generator], list[Case]]
    unavailable: tuple[str, ...] = ()  # library functions the question asks the learner to write

    def with_rules(self, cases: list[Case]) -> list[Case]:
        """``cases`` whose requests withhold this question's ``unavailable`` functions."""
        if not self.unavailable:
            return cases
        return [
            dataclasses.replace(c, request=dataclasses.replace(c.request, unavailable=self.unavailable))
            for c in cases
        ]


@dataclass
class ExerciseSet:
    """An exercise set: its id ("01"), the notebook file name, and its questions in order."""

    id: str
    notebook: str
    title: str
    questions: list[Question]

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        known = ", ".join(q.id for q in self.questions)
        raise KeyError(f"no question {question_id!r} in exercise set {self.id} (questions: {known})")

    def cases(self, seed: int, extra: list[Case] = ()) -> list[Case]:
        """Every case of the set: public, hidden (inputs drawn with ``seed``), then ``extra``."""
        generator = torch.Generator().manual_seed(seed)
        cases = []
        for question in self.questions:
            cases += question.with_rules(question.public_cases())
            cases += question.with_rules([_as_hidden(c) for c in question.hidden_cases(generator)])
        known = {q.id for q in self.questions}
        for case in extra:
            if case.question not in known:
                raise ValueError(
                    f"extra case {case.label!r} names question {case.question!r}, "
                    f"which is not in exercise set {self.id} ({sorted(known)})"
                )
            cases.append(_as_hidden(case))
        return cases

    def check(self, question_id: str, **answers) -> None:
        """Run the public checks of one question on the learner's objects and print the verdicts
        (see :func:`rnnbook.grading.learner.run_public_checks`). Never raises."""
        from rnnbook.grading.learner import run_public_checks

        run_public_checks(self, question_id, answers)


def _as_hidden(case: Case) -> Case:
    return case if case.hidden else dataclasses.replace(case, hidden=True)
