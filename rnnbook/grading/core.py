"""The pieces every exercise set is made of: questions, test cases, requests, verdicts.

A *case* is one test of one question. It has two halves that never meet in the same process
when a submission is graded:

* a :class:`Request` says what to ask the learner's code: the value of a name, the result of
  calling a function on given inputs, or the output of a module built with given weights. The
  learner's process (the sandbox) carries it out and sends back plain data;
* a *judge* (a function of that plain data) compares it with a reference it computes itself from
  the ``rnnbook`` library and returns a :class:`Verdict` with a message that says what was
  expected and what came back. Judges run in the grader's own process only.

In a notebook, :meth:`Chapter.check` runs the public cases of one question in the learner's own
kernel and prints the verdicts: that is feedback, not grading.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import textwrap
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["Request", "Verdict", "Case", "Question", "Chapter", "Failure", "Unsupported",
           "to_plain", "answer_request", "judge_case", "describe", "compare_tensor",
           "compare_tensors", "compare_value", "random_tensor"]

# Limits on what an answer may contain (the sandbox applies them; so does the parent's decoder).
MAX_ITEMS = 64
MAX_DEPTH = 4
MAX_STRING = 2000
MAX_ELEMENTS = 2_000_000


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
    """An answer of a type the grader does not accept (shown by its type name and a short repr)."""

    type_name: str
    text: str


@dataclass(frozen=True)
class Case:
    """One test of one question: a request, a judge for its answer, and the points it is worth."""

    question: str
    label: str
    request: Request
    judge: Callable[[Any], Verdict]
    points: float = 1.0
    hidden: bool = False


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
        return [dataclasses.replace(c, request=dataclasses.replace(c.request, unavailable=self.unavailable))
                for c in cases]


@dataclass
class Chapter:
    """An exercise set: its id ("01"), the notebook file name, and its questions in order."""

    id: str
    notebook: str
    title: str
    questions: list[Question]
    _public_cache: dict = field(default_factory=dict, repr=False)

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
                raise ValueError(f"extra case {case.label!r} names question {case.question!r}, "
                                 f"which is not in exercise set {self.id} ({sorted(known)})")
            cases.append(_as_hidden(case))
        return cases

    def check(self, question_id: str, **answers) -> None:
        """Run the public checks of one question on the learner's objects and print the verdicts.

        Never raises: an unfinished answer prints "not done yet".
        """
        question = self.question(question_id)
        missing = [name for name in question.names if name not in answers]
        if missing:
            print(f"{question.title}: pass {', '.join(missing)} to check(), e.g. "
                  f"check({question_id!r}, {', '.join(f'{n}={n}' for n in question.names)})")
            return
        cases = question.with_rules(question.public_cases())
        verdicts = []
        for case in cases:
            result = answer_request(answers, case.request)
            verdicts.append((case, result, judge_case(case, result)))
        head = f"{question.title}:"
        if all(_unanswered(result) for _, result, _ in verdicts):
            _say(f"{head} not done yet.")
            _say("Fill in the code marked YOUR CODE HERE, run it, then run this check again.", "  ")
            return
        failed = [(case, verdict) for case, _, verdict in verdicts if not verdict.passed]
        if not failed:
            _say(f"{head} all {len(cases)} public checks passed. More tests run when your notebook "
                 "is graded.")
            for case, _, verdict in verdicts:
                _say(f"- {case.label}: {verdict.message}", "  ")
            return
        _say(f"{head} {len(failed)} of {len(cases)} public checks failed.")
        for case, verdict in failed:
            _say(f"- {case.label}: {verdict.message}", "  ")


def _say(text: str, indent: str = "") -> None:
    """Print wrapped to 88 columns, so that messages read well on a phone and in the book."""
    print(textwrap.fill(text, 88, initial_indent=indent, subsequent_indent=indent + "  ",
                        break_on_hyphens=False, break_long_words=False))


def _as_hidden(case: Case) -> Case:
    return case if case.hidden else Case(case.question, case.label, case.request, case.judge,
                                         case.points, True)


def _unanswered(result) -> bool:
    return result is None or result is Ellipsis


# ---------------------------------------------------------------------------------------------
# Turning a learner's object into plain data (the same code runs in the notebook and the sandbox)
# ---------------------------------------------------------------------------------------------

def to_plain(obj, depth: int = 0):
    """Convert an answer into plain data: None, Ellipsis, bool, int, float, str, CPU tensors
    (detached copies) and tuples of those. Anything else becomes :class:`Unsupported`."""
    if depth > MAX_DEPTH:
        return Unsupported("nested", "nested deeper than the grader accepts")
    if obj is None or obj is Ellipsis or type(obj) in (bool, int, float):
        return obj
    if type(obj) is str:
        return obj[:MAX_STRING]
    if isinstance(obj, torch.Size):
        return tuple(int(n) for n in obj)
    if isinstance(obj, np.generic):
        return to_plain(obj.item(), depth)
    if isinstance(obj, np.ndarray):
        obj = torch.from_numpy(np.array(obj))
    if isinstance(obj, Tensor):
        if obj.is_complex() or obj.numel() > MAX_ELEMENTS:
            return Unsupported("Tensor", f"tensor of shape {tuple(obj.shape)} and dtype {obj.dtype}")
        return torch.Tensor(obj.detach()).to("cpu").clone()
    if isinstance(obj, (tuple, list)):
        if len(obj) > MAX_ITEMS:
            return Unsupported(type(obj).__name__, f"{len(obj)} items (at most {MAX_ITEMS})")
        return tuple(to_plain(item, depth + 1) for item in obj)
    text = repr(obj) if not isinstance(obj, type) else obj.__name__
    return Unsupported(type(obj).__name__, text[:200])


def _clone(value):
    if isinstance(value, Tensor):
        return value.clone()
    if isinstance(value, tuple):
        return tuple(_clone(v) for v in value)
    return value


def _learner_error(name: str, error: BaseException) -> Failure:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith("<cell")
              or "ipython-input" in f.filename or f.filename.startswith("/tmp/ipykernel")]
    where = f" (line {frames[-1].lineno} of your code: {frames[-1].line})" if frames else ""
    text = str(error).strip().splitlines()
    first = text[0][:300] if text else ""
    return Failure(f"{name} raised {type(error).__name__}: {first}{where}")


def _raising_code(name: str) -> types.CodeType:
    message = (f"{name} is not available while your answer is checked: the question asks you to "
               "write it yourself")
    scope: dict = {}
    exec(f"def withheld(*args, **kwargs):\n    raise NotImplementedError({message!r})\n", scope)
    return scope["withheld"].__code__


def _resolve(dotted: str):
    module_name, _, rest = dotted.partition(".")
    obj = importlib.import_module(module_name)
    for part in rest.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(f"{obj.__name__}.{part}")
    return obj


@contextlib.contextmanager
def withheld(names: tuple[str, ...]):
    """While the block runs, the library functions ``names`` (dotted, e.g.
    ``"rnnbook.cells.gru_cell"``) raise ``NotImplementedError`` saying that the question asks the
    learner to write them. The function objects themselves are changed, so a name the learner
    imported earlier (``from rnnbook.cells import gru_cell``) is withheld too."""
    swapped = []
    try:
        for name in names:
            function = getattr(_resolve(name), "__func__", _resolve(name))
            if isinstance(function, types.FunctionType) and not function.__code__.co_freevars:
                swapped.append((function, function.__code__))
                function.__code__ = _raising_code(name)
        yield
    finally:
        for function, code in swapped:
            function.__code__ = code


def answer_request(namespace: dict, request: Request):
    """Carry out ``request`` against the learner's ``namespace``; return plain data or a Failure."""
    with withheld(request.unavailable):
        return _answer(namespace, request)


def _answer(namespace: dict, request: Request):
    if request.name not in namespace:
        return Failure(f"`{request.name}` is not defined: run the cell that defines it "
                       "(was it deleted or renamed?)")
    obj = namespace[request.name]
    try:
        if request.kind == "value":
            return to_plain(obj)
        if obj is None or obj is Ellipsis:
            return obj
        if not callable(obj):
            return Failure(f"`{request.name}` should be a function or class, got {type(obj).__name__}")
        if request.kind == "call":
            return to_plain(obj(*_clone(request.args)))
        if request.kind == "grad":
            return _gradients(obj, request)
        module = obj(*_clone(request.init_args))
        try:
            module.load_state_dict({k: v.clone() for k, v in request.state}, strict=True)
        except Exception as error:  # noqa: BLE001 - any failure here is the learner's
            first = str(error).strip().splitlines()[0][:300]
            return Failure(f"{request.name}(...).load_state_dict failed: {first} "
                           f"(keep the parameter names {[k for k, _ in request.state]})")
        return to_plain(module(*_clone(request.args)))
    except Exception as error:  # noqa: BLE001 - any learner exception becomes a message
        return _learner_error(request.name, error)


def _tensors(value) -> list:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    return []


def _gradients(function, request: Request):
    args = list(_clone(request.args))
    leaves = []
    for index in request.wrt:
        for tensor in _tensors(args[index]):
            tensor.requires_grad_(True)
            leaves.append(tensor)
    outputs = _tensors(function(*args))
    if len(outputs) != len(request.cotangents):
        return Failure(f"{request.name} returned {len(outputs)} tensors, expected {len(request.cotangents)}")
    total = 0
    for position, (output, weight) in enumerate(zip(outputs, request.cotangents)):
        if tuple(output.shape) != tuple(weight.shape):
            return Failure(f"{request.name}: output {position} has shape {tuple(output.shape)}, "
                           f"expected {tuple(weight.shape)}")
        total = total + (output * weight).sum()
    if not isinstance(total, Tensor) or not total.requires_grad:
        return Failure(f"{request.name}: the outputs do not depend on the inputs through autograd")
    try:
        grads = torch.autograd.grad(total, leaves, allow_unused=True)
    except Exception as error:  # noqa: BLE001 - e.g. an in-place modification
        first = (str(error).strip().splitlines() or [""])[0][:300]
        return Failure(f"backward through {request.name} raised {type(error).__name__}: {first}")
    return to_plain(tuple(torch.zeros_like(leaf) if g is None else g for g, leaf in zip(grads, leaves)))


def judge_case(case: Case, result) -> Verdict:
    """Apply ``case.judge`` to the learner's result, handling failures and empty answers first."""
    if isinstance(result, Failure):
        return Verdict(False, result.message)
    if result is None or result is Ellipsis:
        return Verdict(False, f"not answered yet: `{case.request.name}` gave "
                              f"{'None' if result is None else '...'}")
    if isinstance(result, Unsupported):
        return Verdict(False, f"got {result.type_name} {result.text}, which the grader cannot read")
    try:
        return case.judge(result)
    except Exception as error:  # noqa: BLE001 - a judge must never crash the grader
        return Verdict(False, f"could not judge the answer ({type(error).__name__}: {error})")


# ---------------------------------------------------------------------------------------------
# Comparisons with messages
# ---------------------------------------------------------------------------------------------

def describe(value) -> str:
    """A short description of a plain answer, for messages: 'a tensor of shape (2, 4)'."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)} ({str(value.dtype).replace('torch.', '')})"
    if isinstance(value, tuple) and not _tensors(value) and len(repr(value)) <= 200 and \
            not any(isinstance(v, (Failure, Unsupported)) for v in value):
        return repr(value)
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, Unsupported):
        return f"{value.type_name} {value.text}"
    if isinstance(value, Failure):
        return value.message
    return f"{type(value).__name__} {value!r}"[:200]


def compare_tensor(expected: Tensor, got, what: str = "result", rtol: float = 1e-6,
                   atol: float = 1e-8) -> Verdict:
    """Compare a tensor answer with the reference; say the shapes or the max error."""
    if not isinstance(got, Tensor):
        return Verdict(False, f"{what}: expected a tensor of shape {tuple(expected.shape)}, "
                              f"got {describe(got)}")
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
    return Verdict(False, f"{what}: shape {tuple(expected.shape)} is right, but max |error| is "
                          f"{error:.1e} (should be below {bound:.0e})")


def compare_tensors(expected: tuple[Tensor, ...], got, names: tuple[str, ...], **tolerances) -> Verdict:
    """Compare a tuple of tensors, e.g. ``(outputs, h_n)``; report every part."""
    if not isinstance(got, tuple) or len(got) != len(expected):
        return Verdict(False, f"expected a tuple ({', '.join(names)}), got {describe(got)}")
    verdicts = [compare_tensor(e, g, n, **tolerances) for e, g, n in zip(expected, got, names)]
    return Verdict(all(v.passed for v in verdicts), "; ".join(v.message for v in verdicts))


def compare_value(expected, got, what: str = "answer") -> Verdict:
    """Compare a plain value (a shape tuple, an int, a string) exactly."""
    if isinstance(expected, tuple) and isinstance(got, tuple):
        got = tuple(int(g) if isinstance(g, (int, bool)) else g for g in got)
    if got == expected and type(got) is type(expected):
        return Verdict(True, f"{what}: {got!r}, right")
    return Verdict(False, f"{what}: expected {expected!r}, got {describe(got)}")


def relative_close(expected: float, got, what: str, rtol: float) -> Verdict:
    """Compare a float answer within a relative tolerance."""
    if isinstance(got, Tensor) and got.numel() == 1:
        got = float(got)
    if type(got) not in (int, float) or not math.isfinite(got):
        return Verdict(False, f"{what}: expected a number, got {describe(got)}")
    error = abs(got - expected) / max(abs(expected), 1e-12)
    if error <= rtol:
        return Verdict(True, f"{what}: relative error below {rtol:.0e}")
    return Verdict(False, f"{what}: got {got:.4g}, relative error {error:.1e} from the reference "
                          f"(should be below {rtol:.0e})")


def random_tensor(generator: torch.Generator, *shape: int, scale: float = 1.0) -> Tensor:
    """A float64 tensor with entries uniform in [-scale, scale), drawn from ``generator``."""
    return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) * scale
