"""Timing helpers: measure a function the same way everywhere in the book."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Timing", "measure", "format_seconds"]


@dataclass(frozen=True)
class Timing:
    """Times of repeated calls, in seconds (wall-clock time unless :func:`measure` had another clock)."""

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def max(self) -> float:
        return max(self.times)

    def __str__(self) -> str:
        return (
            f"median {format_seconds(self.median)} "
            f"(min {format_seconds(self.min)}, max {format_seconds(self.max)}, n={len(self.times)})"
        )


def measure(
    fn: Callable[[], object], repeat: int = 10, warmup: int = 2, clock: Callable[[], float] | None = None
) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``repeat`` times timed; return the times.

    ``clock`` reads the time: wall-clock time (``time.perf_counter``) by default. With
    ``clock=time.thread_time`` only the CPU time of the calling thread counts: for work that runs
    on that one thread (``torch.set_num_threads(1)``), the time spent waiting for a core while
    other programs run is left out, so a busy machine does not inflate the result.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    clock = clock or time.perf_counter
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return Timing(tuple(times))


def format_seconds(seconds: float) -> str:
    """Format a duration with a unit a reader can read at a glance: '412 µs', '3.1 ms', '2.05 s'."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"
