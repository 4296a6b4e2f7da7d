"""Judging, in the grader's process only: comparisons with messages that say what was expected and
what came back, and the random inputs of hidden tests.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnbook.grading.model import Case, Failure, Unsupported, Verdict

__all__ = ["judge_case", "describe_answer", "compare_tensor", "compare_tensors", "compare_value",
           "relative_close", "random_tensor", "tensors_in"]


def tensors_in(value) -> list:
    """The tensors in a plain value (a tensor, or nested tuples and lists), in order."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in tensors_in(item)]
    return []


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


def describe_answer(value) -> str:
    """A short description of a plain answer, for messages: 'a tensor of shape (2, 4)'."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)} ({str(value.dtype).replace('torch.', '')})"
    if isinstance(value, tuple) and not tensors_in(value) and len(repr(value)) <= 200 and \
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
                              f"got {describe_answer(got)}")
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
        return Verdict(False, f"expected a tuple ({', '.join(names)}), got {describe_answer(got)}")
    verdicts = [compare_tensor(e, g, n, **tolerances) for e, g, n in zip(expected, got, names)]
    return Verdict(all(v.passed for v in verdicts), "; ".join(v.message for v in verdicts))


def compare_value(expected, got, what: str = "answer") -> Verdict:
    """Compare a plain value (a shape tuple, an int, a string) exactly."""
    if isinstance(expected, tuple) and isinstance(got, tuple):
        got = tuple(int(g) if isinstance(g, (int, bool)) else g for g in got)
    if got == expected and type(got) is type(expected):
        return Verdict(True, f"{what}: {got!r}, right")
    return Verdict(False, f"{what}: expected {expected!r}, got {describe_answer(got)}")


def relative_close(expected: float, got, what: str, rtol: float) -> Verdict:
    """Compare a float answer within a relative tolerance."""
    if isinstance(got, Tensor) and got.numel() == 1:
        got = float(got)
    if type(got) not in (int, float) or not math.isfinite(got):
        return Verdict(False, f"{what}: expected a number, got {describe_answer(got)}")
    error = abs(got - expected) / max(abs(expected), 1e-12)
    if error <= rtol:
        return Verdict(True, f"{what}: relative error below {rtol:.0e}")
    return Verdict(False, f"{what}: got {got:.4g}, relative error {error:.1e} from the reference "
                          f"(should be below {rtol:.0e})")


def random_tensor(generator: torch.Generator, *shape: int, scale: float = 1.0) -> Tensor:
    """A float64 tensor with entries uniform in [-scale, scale), drawn from ``generator``."""
    return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) * scale
