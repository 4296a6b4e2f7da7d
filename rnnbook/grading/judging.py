"""Judging, in the grader's process only: comparisons with messages that say what was expected and
what came back, the classic mistakes, and the case builders the exercise sets share.

An exercise set (:mod:`rnnbook.grading.ch01` ...) is a list of :func:`question` s whose cases are
mostly :func:`call_case` s ("call the learner's function on these inputs and compare the result
with this reference") and :func:`choice_case` s ("the answer is one of these strings").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnbook.grading.inputs import public_generator
from rnnbook.grading.model import Case, Failure, Question, Request, Unsupported, Verdict

__all__ = [
    "judge_case",
    "describe_answer",
    "tensors_in",
    "compare_answer",
    "compare_tensor",
    "compare_value",
    "relative_close",
    "compare_parts",
    "compare_tensors",
    "compare_output_states",
    "Mistake",
    "diagnose",
    "judged_case",
    "call_case",
    "choice_case",
    "question",
]


def tensors_in(value) -> list:
    """The tensors in a plain value (a tensor, or nested tuples and lists), in order."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in tensors_in(item)]
    return []


def judge_case(case: Case, result) -> Verdict:
    """Apply ``case.judge`` to the learner's result, handling failures and empty answers first.

    A failure whose message contains one of ``case.symptoms``' fragments gets that symptom's hint.
    """
    if isinstance(result, Failure):
        hints = [hint for fragment, hint in case.symptoms if fragment in result.message]
        return Verdict(False, result.message + "".join(f" Hint: {hint}" for hint in hints[:1]))
    if result is None or result is Ellipsis:
        return Verdict(
            False, f"not answered yet: `{case.request.name}` gave {'None' if result is None else '...'}"
        )
    if isinstance(result, Unsupported):
        return Verdict(False, f"got {result.description}, which the grader cannot read")
    try:
        return case.judge(result)
    except Exception as error:  # noqa: BLE001 - a judge must never crash the grader
        return Verdict(False, f"could not judge the answer ({type(error).__name__}: {error})")


def describe_answer(value) -> str:
    """A short description of a plain answer, for messages: 'a tensor of shape (2, 4)'."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)} ({str(value.dtype).replace('torch.', '')})"
    if (
        isinstance(value, tuple)
        and not tensors_in(value)
        and len(repr(value)) <= 200
        and not any(isinstance(v, (Failure, Unsupported)) for v in value)
    ):
        return repr(value)
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, Unsupported):
        return value.description
    if isinstance(value, Failure):
        return value.message
    return f"{type(value).__name__} {value!r}"[:200]


def compare_tensor(
    expected: Tensor, got, what: str = "result", rtol: float = 1e-6, atol: float = 1e-8
) -> Verdict:
    """Compare a tensor answer with the reference; say the shapes or the max error."""
    if not isinstance(got, Tensor):
        return Verdict(
            False, f"{what}: expected a tensor of shape {tuple(expected.shape)}, got {describe_answer(got)}"
        )
    if tuple(got.shape) != tuple(expected.shape):
        return Verdict(False, f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
    if got.is_floating_point() is False and expected.is_floating_point():
        got = got.to(torch.float64)
    got64, expected64 = got.to(torch.float64), expected.to(torch.float64)
    if not bool(torch.isfinite(got64).all()):
        return Verdict(False, f"{what}: contains NaN or infinity")
    error = float((got64 - expected64).abs().max()) if got64.numel() else 0.0
    bound = atol + rtol * float(expected64.abs().max()) if expected64.numel() else atol
    if error <= bound:
        return Verdict(True, f"{what}: shape {tuple(expected.shape)}, max |error| below {bound:.0e}")
    return Verdict(
        False,
        f"{what}: shape {tuple(expected.shape)} is right, but max |error| is "
        f"{error:.1e} (should be below {bound:.0e})",
    )


def compare_value(expected, got, what: str = "answer") -> Verdict:
    """Compare a plain value (a shape tuple, an int, a string) exactly."""
    if isinstance(expected, tuple) and isinstance(got, tuple):
        got = tuple(int(g) if isinstance(g, (int, bool)) else g for g in got)
    if got == expected and type(got) is type(expected):
        return Verdict(True, f"{what}: {got!r}, right")
    return Verdict(False, f"{what}: expected {expected!r}, got {describe_answer(got)}")


def relative_close(expected: float, got, what: str, rtol: float = 1e-6) -> Verdict:
    """Compare a float answer within a relative tolerance."""
    if isinstance(got, Tensor) and got.numel() == 1:
        got = float(got)
    if type(got) not in (int, float) or not math.isfinite(got):
        return Verdict(False, f"{what}: expected a number, got {describe_answer(got)}")
    error = abs(got - expected) / max(abs(expected), 1e-12)
    if error <= rtol:
        return Verdict(True, f"{what}: relative error below {rtol:.0e}")
    return Verdict(
        False,
        f"{what}: got {got:.4g}, relative error {error:.1e} from the reference (should be below {rtol:.0e})",
    )


def compare_answer(expected, got, what: str | tuple[str, ...] = "result", **options) -> Verdict:
    """Compare an answer with the reference as the reference's type asks: item by item when
    ``what`` names the items of a tuple (:func:`compare_parts`, which takes the options ``form``,
    ``all_right`` and ``items``), a tensor or a float within the tolerances in ``options``
    (:func:`compare_tensor`, :func:`relative_close`), anything else exactly (:func:`compare_value`)."""
    if isinstance(what, tuple):
        return compare_parts(expected, got, what, each=compare_answer, **options)
    if isinstance(expected, Tensor):
        return compare_tensor(expected, got, what, **options)
    if isinstance(expected, float):
        return relative_close(expected, got, what, **options)
    return compare_value(expected, got, what)


def compare_parts(
    expected: tuple,
    got,
    names: tuple[str, ...],
    *,
    each: Callable[..., Verdict] = compare_value,
    form: str | None = None,
    all_right: str | None = None,
    items: tuple[int, ...] | None = None,
    **options,
) -> Verdict:
    """Compare a tuple answer item by item with ``each`` (default :func:`compare_value`; its
    ``options``, e.g. tolerances, are passed on), each item named by ``names``; with ``items``,
    only the items at those positions. The message reports every item compared, or with
    ``all_right`` only the wrong ones (``all_right`` when none is). ``form`` describes the expected
    tuple when the answer is not one: "a pair (mean, standard_error)" (default: "a tuple (the
    names)")."""
    if not isinstance(got, tuple) or len(got) != len(expected):
        form = form or f"a tuple ({', '.join(names)})"
        return Verdict(False, f"expected {form}, got {describe_answer(got)}")
    items = range(len(expected)) if items is None else items
    verdicts = [each(expected[i], got[i], names[i], **options) for i in items]
    passed = all(v.passed for v in verdicts)
    if all_right is None:
        return Verdict(passed, "; ".join(v.message for v in verdicts))
    return Verdict(passed, all_right if passed else "; ".join(v.message for v in verdicts if not v.passed))


def compare_tensors(expected: tuple[Tensor, ...], got, names: tuple[str, ...], **tolerances) -> Verdict:
    """Compare a tuple of tensors, e.g. ``(outputs, h_n)``; report every part."""
    return compare_parts(expected, got, names, each=compare_tensor, **tolerances)


def compare_output_states(
    expected: tuple, got, names: tuple[str, ...], *, form: str, **tolerances
) -> Verdict:
    """Compare ``(output, (state, ...))`` (a tensor and a tuple of states) part by part; ``names``
    name the output and each state, ``form`` says what was expected: "(outputs, (H, H1))"."""
    output, states = expected
    if isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], tuple) and len(got[1]) == len(states):
        return compare_tensors((output, *states), (got[0], *got[1]), names, **tolerances)
    return Verdict(False, f"expected {form}, got {describe_answer(got)}")


# --- classic mistakes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mistake:
    """A mistake learners make, known by what it computes: ``result()`` is the wrong answer it gives
    on a case's inputs, and ``hint`` says what to look at. A failed answer that equals the result
    of a mistake (as the case compares) gets its hint; no code is read."""

    hint: str
    result: Callable[[], object]


def diagnose(
    got, mistakes: Sequence[Mistake], compare: Callable[..., Verdict], what, **options
) -> str | None:
    """The hint of the first of ``mistakes`` whose result ``got`` equals, or None."""
    for mistake in mistakes:
        try:
            wrong = mistake.result()
        except Exception:  # noqa: BLE001 - a variant that cannot run on these inputs matches nothing
            continue
        if compare(wrong, got, what, **options).passed:
            return mistake.hint
    return None


# --- case builders -------------------------------------------------------------------------------


def judged_case(
    question: str,
    label: str,
    request: Request,
    reference: Callable[[], object],
    *,
    compare: Callable[..., Verdict] = compare_answer,
    what: str | tuple[str, ...] = "result",
    hidden: bool = True,
    points: float = 1.0,
    mistakes: Sequence[Mistake] = (),
    symptoms: tuple[tuple[str, str], ...] = (),
    **options,
) -> Case:
    """A case that asks ``request`` and judges the answer with ``compare(reference(), answer,
    what, **options)`` (by default :func:`compare_answer`: ``what`` names the result in the
    messages, or its items when it is a tuple). ``reference`` is called only when an answer is
    judged, never in the sandbox. A wrong answer that matches one of ``mistakes`` gets its hint;
    one that fails with an error containing a fragment of ``symptoms`` gets that hint."""

    def judge(got):
        verdict = compare(reference(), got, what, **options)
        if verdict.passed or not mistakes:
            return verdict
        hint = diagnose(got, mistakes, compare, what, **options)
        return verdict if hint is None else Verdict(False, f"{verdict.message}. Hint: {hint}")

    return Case(question, label, request, judge, points, hidden, tuple(symptoms))


def call_case(
    question: str, name: str, label: str, args: tuple, reference: Callable[[], object], **options
) -> Case:
    """A case that calls the learner's ``name(*args)`` and compares the result with ``reference()``
    (the options are those of :func:`judged_case`)."""
    return judged_case(question, label, Request("call", name, tuple(args)), reference, **options)


def choice_case(
    question: str,
    name: str,
    label: str,
    options: tuple[str, ...],
    answer: Callable[[], object],
    *,
    what: str,
    hidden: bool,
    index: int | None = None,
    size: int = 0,
    points: float = 1.0,
) -> Case:
    """A case for a multiple-choice answer: the learner's ``name`` holds one of ``options``, the
    right one being ``answer()``; or, with ``index``, a tuple of ``size`` such strings of which this
    case judges item ``index`` (``answer()`` is then the right tuple).

    The public form (``hidden=False``, worth 0 points, labelled "(form only)") checks only that
    the answer is one of the options; the hidden one compares it with the right answer (described
    as ``what`` in the message). ``answer`` is called only then, never in the sandbox."""

    def judge(got):
        if index is not None:
            if not isinstance(got, tuple) or len(got) != size:
                form = "a pair of strings" if size == 2 else f"a tuple of {size} strings"
                return Verdict(False, f"expected {form} from {options}, got {describe_answer(got)}")
            got = got[index]
        if got not in options:
            return Verdict(False, f"expected one of {options}, got {describe_answer(got)}")
        if not hidden:
            return Verdict(True, f"{got!r} is one of the allowed answers (checked when graded)")
        right = answer() if index is None else answer()[index]
        return compare_value(right, got, what)

    label += "" if hidden else " (form only)"
    return Case(question, label, Request("value", name), judge, points if hidden else 0.0, hidden)


def question(
    number: int,
    names: tuple[str, ...],
    *,
    public: Callable[[torch.Generator], list[Case]],
    hidden: Callable[[torch.Generator], list[Case]],
    unavailable: tuple[str, ...] = (),
) -> Question:
    """Question ``number`` ("q1", titled "Question 1 (names)"): the learner defines ``names``;
    ``public(generator)`` makes its public cases with inputs drawn from :func:`public_generator`,
    ``hidden(generator)`` its hidden cases with inputs drawn from the grader's generator."""
    return Question(
        f"q{number}",
        f"Question {number} ({', '.join(names)})",
        tuple(names),
        lambda: public(public_generator()),
        hidden,
        unavailable,
    )


def question_from_builder(
    number: int,
    names: tuple[str, ...],
    builder: Callable[..., Case],
    *,
    public: list[tuple],
    hidden: list[tuple],
    unavailable: tuple[str, ...] = (),
) -> Question:
    """A :func:`question` whose cases all come from one case builder,
    ``builder(label, generator, *sizes, hidden=..., **options)``. ``public`` and ``hidden`` list
    the cases as ``(label, *sizes)``, or ``(label, *sizes, options)`` with a dict of options."""

    def build(specs: list[tuple], generator: torch.Generator, is_hidden: bool) -> list[Case]:
        cases = []
        for label, *sizes in specs:
            options = sizes.pop() if sizes and isinstance(sizes[-1], dict) else {}
            cases.append(builder(label, generator, *sizes, hidden=is_hidden, **options))
        return cases

    return question(
        number,
        names,
        public=lambda g: build(public, g, False),
        hidden=lambda g: build(hidden, g, True),
        unavailable=unavailable,
    )
