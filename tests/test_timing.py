"""rnnbook.timing with a fake clock: which calls are timed, and how durations are summarized and printed.
No test depends on how fast this machine is."""

import time
import types

import pytest

from rnnbook import timing
from rnnbook.timing import Timing, format_seconds, measure


class FakeClock:
    """A clock that only moves when the function being measured runs: call ``k`` (from 0) takes
    ``durations[k]`` seconds. Durations are small integers, so differences of readings are exact."""

    def __init__(self, durations):
        self.now, self.durations, self.calls = 0.0, list(durations), 0

    def perf_counter(self):
        return self.now

    def work(self):
        self.now += self.durations[self.calls]
        self.calls += 1


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock([10, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=fake.perf_counter))
    return fake


def test_measure_times_only_the_calls_after_warmup(clock):
    result = measure(clock.work, repeat=4, warmup=2)
    assert clock.calls == 6  # warmup + repeat calls in all
    assert isinstance(result, Timing)
    assert result.times == (1.0, 2.0, 3.0, 4.0)  # the warmup calls (10 s and 20 s) are not timed


def test_measure_without_warmup_times_every_call(clock):
    result = measure(clock.work, repeat=3, warmup=0)
    assert clock.calls == 3
    assert result.times == (10.0, 20.0, 1.0)


def test_measure_defaults_to_two_warmup_calls_and_ten_timed_ones(monkeypatch):
    fake = FakeClock(range(1, 13))
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=fake.perf_counter))
    result = measure(fake.work)
    assert fake.calls == 12
    assert result.times == tuple(float(k) for k in range(3, 13))


def test_measure_times_each_call_separately(clock):
    """A time that ran on from the start of the first call would grow: 1, 3, 6, ..."""
    result = measure(clock.work, repeat=5, warmup=2)
    assert result.times == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert result.median == 3.0 and result.min == 1.0 and result.max == 5.0


@pytest.mark.parametrize("repeat", [0, -1])
def test_measure_refuses_fewer_than_one_repeat_before_calling(clock, repeat):
    with pytest.raises(ValueError, match="repeat must be at least 1"):
        measure(clock.work, repeat=repeat)
    assert clock.calls == 0  # not even the warmup ran


def test_measure_with_the_real_clock_returns_non_negative_times():
    calls = []
    result = measure(lambda: calls.append(1), repeat=3, warmup=1)
    assert len(calls) == 4
    assert len(result.times) == 3 and all(t >= 0 for t in result.times)


@pytest.mark.parametrize(
    "times, median",
    [
        ((0.5,), 0.5),
        ((3.0, 1.0, 2.0), 2.0),  # the middle value, whatever the order
        ((4.0, 1.0, 3.0, 2.0), 2.5),  # an even count: the mean of the two middle values
        ((1.0, 1.0, 9.0), 1.0),
    ],
)
def test_timing_summaries(times, median):
    t = Timing(times)
    assert t.median == median
    assert t.min == sorted(times)[0]
    assert t.max == sorted(times)[-1]


def test_timing_is_immutable():
    t = Timing((1.0,))
    with pytest.raises(AttributeError):
        t.times = (2.0,)


def test_timing_prints_median_min_max_and_count():
    assert str(Timing((0.004, 0.002, 0.001))) == "median 2.0 ms (min 1.0 ms, max 4.0 ms, n=3)"
    assert str(Timing((2.5e-4,))) == "median 250 µs (min 250 µs, max 250 µs, n=1)"


@pytest.mark.parametrize(
    "seconds, text",
    [
        (412e-6, "412 µs"),  # the docstring's three examples
        (3.1e-3, "3.1 ms"),
        (2.05, "2.05 s"),
        (0.0, "0 µs"),
        (999e-6, "999 µs"),  # just under a millisecond: still microseconds
        (1e-3, "1.0 ms"),  # a millisecond and up: milliseconds, one decimal
        (0.25, "250.0 ms"),
        (0.9995, "999.5 ms"),  # just under a second: still milliseconds
        (1.0, "1.00 s"),  # a second and up: seconds, two decimals
        (125.0, "125.00 s"),
    ],
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_measure_with_the_thread_clock_leaves_out_waiting():
    """Sleeping stands for waiting for a core: wall-clock time counts it, the thread's CPU time does
    not (the real clocks, since the point is what they count)."""

    def wait():
        time.sleep(0.05)

    wall = measure(wait, repeat=2, warmup=0)
    cpu = measure(wait, repeat=2, warmup=0, clock=time.thread_time)
    assert wall.min >= 0.05
    assert cpu.max < 0.02
