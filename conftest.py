"""Root pytest configuration: report how long each notebook took, so a slow chapter is visible; a
fixture the library's tests share."""

from collections import defaultdict

import pytest

_durations: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _durations[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _durations:
        return
    terminalreporter.section("time per notebook")
    for path, seconds in sorted(_durations.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}")
    terminalreporter.write_line(f"{sum(_durations.values()):7.1f} s  in all (summed over workers)")


@pytest.fixture
def autograd_node_names():
    """A function giving the names of the autograd nodes a tensor was computed through (the tests
    of the layer loops use it to show that no step was taken by indexing, ``SelectBackward0``)."""

    def names(tensor) -> set[str]:
        seen, stack = set(), [tensor.grad_fn]
        while stack:
            node = stack.pop()
            if node is not None and node not in seen:
                seen.add(node)
                stack.extend(next_node for next_node, _ in node.next_functions)
        return {type(node).__name__ for node in seen}

    return names
