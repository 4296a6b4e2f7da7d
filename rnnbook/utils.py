"""Small helpers every notebook uses: fixed seeds and thread count, round-off reported as a bound,
and errors shown cleanly.

Why bounds and not digits: the stored outputs of every notebook are compared with fresh ones by
``make test`` (nbval), on whatever CPU runs it. The last bits of a floating-point result depend on
the CPU's instruction set and the libraries' code paths (``ATEN_CPU_CAPABILITY``, ``MKL_CBWR``),
so ``1.1e-16`` on one machine is ``1.7e-16`` on the next. What every machine agrees on is that the
difference is *below* a tolerance: :func:`agree` and :func:`below` print that, and fail loudly
(naming the real value) when it does not hold.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterable, Iterator

import numpy as np
import torch

__all__ = ["set_seed", "max_difference", "below", "magnitude", "agree", "show_error", "add_to_class"]


def set_seed(seed: int = 0, num_threads: int = 1) -> None:
    """Seed Python, NumPy and PyTorch, and fix PyTorch's CPU thread count.

    Results of floating-point reductions depend on how work is split between threads (1 and 2
    threads differ around the 7th significant digit), so every notebook fixes the count. One
    thread also keeps notebooks that run side by side under ``pytest -n 2`` from competing.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(num_threads)


Tensors = torch.Tensor | Iterable[torch.Tensor]


def _as_list(x: Tensors) -> list[torch.Tensor]:
    return [x] if isinstance(x, torch.Tensor) else list(x)


def max_difference(actual: Tensors, expected: Tensors) -> float:
    """The largest ``|actual - expected|`` over a tensor, or over matching sequences of tensors.

    Shapes must match exactly (no broadcasting): a shape mismatch is an error, not a difference.
    A NaN in either gives NaN, which :func:`below` and :func:`agree` reject.
    """
    actual, expected = _as_list(actual), _as_list(expected)
    if len(actual) != len(expected):
        raise ValueError(f"{len(actual)} tensors compared with {len(expected)}")
    worst = 0.0
    for a, b in zip(actual, expected):
        if a.shape != b.shape:
            raise ValueError(f"shapes differ: {tuple(a.shape)} and {tuple(b.shape)}")
        if a.numel():
            difference = (a.detach() - b.detach()).abs().max().item()
            if math.isnan(difference):  # max() would drop it: a NaN anywhere is no agreement
                return math.nan
            worst = max(worst, difference)
    return worst


def _short(number: float) -> str:
    """``1e-12`` and ``6e-7`` rather than ``1e-12`` and ``6e-07``."""
    mantissa, exponent = f"{number:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def below(value: float, tolerance: float) -> str:
    """``"below 1e-12"`` after checking that ``value < tolerance``; raise if it is not.

    Use it to print a round-off error or any quantity whose digits depend on the CPU: the text
    is the same on every machine, and the cell fails (with the real value) if the claim breaks.
    """
    if not value < tolerance:  # also catches NaN
        raise AssertionError(f"{value:.3g} is not below {_short(tolerance)}")
    return f"below {_short(tolerance)}"


def magnitude(value: float, smallest: float = 1e-4) -> str:
    """A positive quantity that spans orders of magnitude (a gradient norm after ``k`` steps),
    printed so that every CPU prints the same: two significant digits from ``smallest`` up, and
    below it only a bound, the next power of ten (``"below 1e-7"`` for ``3.2e-8``), because the
    digits of a tiny value are mostly round-off. Chapters 2 and 3 print their decay curves with it.
    """
    if not value >= 0:  # also catches NaN
        raise ValueError(f"magnitude expects a value >= 0, got {value}")
    if value >= smallest:
        return f"{value:.1e}"
    if value == 0:
        return "0"
    return below(value, 10.0 ** (math.floor(math.log10(value)) + 1))


def agree(actual: Tensors, expected: Tensors, tolerance: float = 1e-12) -> str:
    """``"max |difference| below 1e-12"`` for two tensors (or sequences of tensors) that agree
    to within ``tolerance``; raise an ``AssertionError`` naming the difference if they do not.

    The default suits float64 computations that differ only in the order of operations; pass
    about ``1e-5`` for float32.
    """
    return f"max |difference| {below(max_difference(actual, expected), tolerance)}"


@contextlib.contextmanager
def show_error(*kinds: type[BaseException]) -> Iterator[None]:
    """Run a block that must raise one of ``kinds``; print the error as ``Type: message``.

    The book uses it where a mistake is the lesson (a wrong shape, an in-place write): the page
    shows the message a learner would see, without a traceback full of one machine's paths, and
    the cell fails if the block stops raising.
    """
    kinds = kinds or (Exception,)
    try:
        yield
    except kinds as error:
        message = str(error).strip()
        print(f"{type(error).__name__}: {message}" if message else type(error).__name__)
    else:
        names = " or ".join(k.__name__ for k in kinds)
        raise AssertionError(f"expected the block to raise {names}, but it ran without error")


def add_to_class(cls: type):
    """Decorator that adds the function it decorates to ``cls`` as a method (d2l's ``add_to_class``).

    A chapter builds a class up over several cells this way, each method next to the text that
    explains it. ``make library`` writes such methods into the class's body in the generated
    module, so the library itself never needs this.
    """

    def register(method):
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        setattr(cls, method.__name__, method)
        return method

    return register
