"""What runs in the learner's process (the notebook's kernel, or the sandbox when grading): turning
the learner's objects into plain data, carrying out the grader's requests, and the public checks
printed by ``check(...)`` in the exercise notebooks.
"""

from __future__ import annotations

import contextlib
import importlib
import textwrap
import traceback
import types

import numpy as np
import torch
from torch import Tensor

from rnnbook.grading.judging import judge_case, tensors_in
from rnnbook.grading.model import (
    MAX_DEPTH,
    MAX_ELEMENTS,
    MAX_ITEMS,
    MAX_STRING,
    ExerciseSet,
    Failure,
    Request,
    Unsupported,
)

__all__ = ["to_plain", "answer_request", "withheld", "run_public_checks"]


def run_public_checks(exercise_set: ExerciseSet, question_id: str, answers: dict) -> None:
    """Run the public checks of one question on the learner's objects and print the verdicts.

    Never raises: an unfinished answer prints "not done yet".
    """
    question = exercise_set.question(question_id)
    missing = [name for name in question.names if name not in answers]
    if missing:
        print(
            f"{question.title}: pass {', '.join(missing)} to check(), e.g. "
            f"check({question_id!r}, {', '.join(f'{n}={n}' for n in question.names)})"
        )
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
        _say(f"{head} all {len(cases)} public checks passed. More tests run when your notebook is graded.")
        for case, _, verdict in verdicts:
            _say(f"- {case.label}: {verdict.message}", "  ")
        return
    _say(f"{head} {len(failed)} of {len(cases)} public checks failed.")
    for case, verdict in failed:
        _say(f"- {case.label}: {verdict.message}", "  ")


def _say(text: str, indent: str = "") -> None:
    """Print wrapped to 88 columns, so that messages read well on a phone and in the book."""
    print(
        textwrap.fill(
            text,
            88,
            initial_indent=indent,
            subsequent_indent=indent + "  ",
            break_on_hyphens=False,
            break_long_words=False,
        )
    )


def _unanswered(result) -> bool:
    return result is None or result is Ellipsis


def to_plain(obj, depth: int = 0):
    """Convert an answer into plain data: None, Ellipsis, bool, int, float, str, CPU tensors
    (detached copies) and tuples of those. Anything else becomes :class:`Unsupported`."""
    if depth > MAX_DEPTH:
        return Unsupported("a value nested deeper than the grader accepts")
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
            return Unsupported(f"a tensor of shape {tuple(obj.shape)} and dtype {obj.dtype}")
        return torch.Tensor(obj.detach()).to("cpu").clone()
    if isinstance(obj, (tuple, list)):
        if len(obj) > MAX_ITEMS:
            return Unsupported(f"a {type(obj).__name__} of {len(obj)} items (at most {MAX_ITEMS})")
        return tuple(to_plain(item, depth + 1) for item in obj)
    text = repr(obj) if not isinstance(obj, type) else obj.__name__
    return Unsupported(f"{type(obj).__name__} {text[:200]}")


def _clone(value):
    if isinstance(value, Tensor):
        return value.clone()
    if isinstance(value, tuple):
        return tuple(_clone(v) for v in value)
    return value


def _learner_error(name: str, error: BaseException) -> Failure:
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if f.filename.startswith("<cell")
        or "ipython-input" in f.filename
        or f.filename.startswith("/tmp/ipykernel")
    ]
    where = f" (line {frames[-1].lineno} of your code: {frames[-1].line})" if frames else ""
    text = str(error).strip().splitlines()
    first = text[0][:300] if text else ""
    return Failure(f"{name} raised {type(error).__name__}: {first}{where}")


def _raising_code(name: str) -> types.CodeType:
    message = (
        f"{name} is not available while your answer is checked: the question asks you to write it yourself"
    )
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
        return Failure(
            f"`{request.name}` is not defined: run the cell that defines it (was it deleted or renamed?)"
        )
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
            return Failure(
                f"{request.name}(...).load_state_dict failed: {first} "
                f"(keep the parameter names {[k for k, _ in request.state]})"
            )
        return to_plain(module(*_clone(request.args)))
    except Exception as error:  # noqa: BLE001 - any learner exception becomes a message
        return _learner_error(request.name, error)


def _gradients(function, request: Request):
    args = list(_clone(request.args))
    leaves = []
    for index in request.wrt:
        for tensor in tensors_in(args[index]):
            tensor.requires_grad_(True)
            leaves.append(tensor)
    outputs = tensors_in(function(*args))
    if len(outputs) != len(request.cotangents):
        return Failure(f"{request.name} returned {len(outputs)} tensors, expected {len(request.cotangents)}")
    total = 0
    for position, (output, weight) in enumerate(zip(outputs, request.cotangents)):
        if tuple(output.shape) != tuple(weight.shape):
            return Failure(
                f"{request.name}: output {position} has shape {tuple(output.shape)}, "
                f"expected {tuple(weight.shape)}"
            )
        total = total + (output * weight).sum()
    if not isinstance(total, Tensor) or not total.requires_grad:
        return Failure(f"{request.name}: the outputs do not depend on the inputs through autograd")
    try:
        grads = torch.autograd.grad(total, leaves, allow_unused=True)
    except Exception as error:  # noqa: BLE001 - e.g. an in-place modification
        first = (str(error).strip().splitlines() or [""])[0][:300]
        return Failure(f"backward through {request.name} raised {type(error).__name__}: {first}")
    return to_plain(tuple(torch.zeros_like(leaf) if g is None else g for g, leaf in zip(grads, leaves)))
