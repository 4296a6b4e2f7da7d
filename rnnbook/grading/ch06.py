"""Exercise set 6: the shapes of PyTorch's recurrent modules (questions, tests, references).

The notebook is ``exercises/06_shapes.ipynb``, generated from ``exercises/src/06_shapes.py``.
The references are real runs of ``torch.nn.RNN``, ``GRU`` and ``LSTM`` (the contract that
Chapter 6 states and :func:`rnnbook.describe` checks).

Questions: (q1) predict the shapes of ``output``, ``h_n`` and ``c_n`` (with ``batch_first``,
``bidirectional``, ``proj_size``); (q2) each sequence's final states read from a padded output;
(q3) the same from ``h_n`` with the ``h_n.view`` split; (q4) fix seed 002's general form (an index
out of range and the wrong backward slice); (q5) measure the error of ``output[:, -1]`` on a padded
batch that was not packed.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from rnnbook.grading.inputs import random_tensor, seeded_module
from rnnbook.grading.judging import call_case, choice_case, compare_tensor, describe_answer, question
from rnnbook.grading.model import Case, ExerciseSet, Verdict

__all__ = ["EXERCISE_SET", "predict_shapes_case", "last_real_steps_case", "last_layer_summary_case",
           "seed_final_states_case", "padding_error_case", "reference_padding_error"]

KINDS = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}


def _lengths(generator, n, longest):
    """``n`` lengths in [1, longest], one of them equal to ``longest``, in random order."""
    lengths = torch.randint(1, longest + 1, (n,), generator=generator)
    lengths[int(torch.randint(0, n, (1,), generator=generator))] = longest
    return lengths


# --- q1: predict the shapes -----------------------------------------------------------------------

PART_NAMES = ("output", "h_n", "c_n")


def _reference_shapes(kind, T, n, d, h, L, bidirectional, batch_first, proj_size):
    extra = {"proj_size": proj_size} if kind == "LSTM" else {}
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        model = KINDS[kind](d, h, num_layers=L, bidirectional=bidirectional, batch_first=batch_first, **extra)
        with torch.no_grad():
            output, state = model(torch.zeros((n, T, d) if batch_first else (T, n, d)))
    h_n, c_n = state if kind == "LSTM" else (state, None)
    return tuple(output.shape), tuple(h_n.shape), None if c_n is None else tuple(c_n.shape)


def predict_shapes_case(label: str, kind: str, T: int, n: int, d: int, h: int, L: int, bidirectional: bool,
                        batch_first: bool, proj_size: int = 0, *, hidden: bool = True,
                        points: float = 1.0) -> Case:
    """A test of ``predict_shapes(kind, T, n, d, h, L, bidirectional, batch_first, proj_size)``."""
    args = (kind, T, n, d, h, L, bidirectional, batch_first, proj_size)
    return call_case("q1", "predict_shapes", label, args, lambda: _reference_shapes(*args),
                     what=PART_NAMES, form=f"a tuple of 3 ({', '.join(PART_NAMES)})",
                     all_right="all three right", hidden=hidden, points=points)


Q1 = question(1, ("predict_shapes",), public=lambda g: [
    predict_shapes_case("GRU, T=5, n=3, d=2, h=4, 2 layers",
                        "GRU", 5, 3, 2, 4, 2, False, False, hidden=False),
    predict_shapes_case("LSTM, bidirectional, batch_first, T=6, n=2, d=3, h=5, 1 layer",
                        "LSTM", 6, 2, 3, 5, 1, True, True, hidden=False),
], hidden=lambda g: [
    predict_shapes_case("RNN, bidirectional, T=7, n=4, d=3, h=2, 3 layers",
                        "RNN", 7, 4, 3, 2, 3, True, False),
    predict_shapes_case("GRU, batch_first, T=2, n=9, d=5, h=3, 2 layers",
                        "GRU", 2, 9, 5, 3, 2, False, True),
    predict_shapes_case("LSTM, proj_size=2, T=4, n=3, d=6, h=5, 2 layers",
                        "LSTM", 4, 3, 6, 5, 2, False, False, 2),
    predict_shapes_case("LSTM, bidirectional, batch_first, proj_size=3, T=3, n=2, d=4, h=7, 3 layers",
                        "LSTM", 3, 2, 4, 7, 3, True, True, 3),
    predict_shapes_case("LSTM, T=1, n=1, d=1, h=1, 1 layer",
                        "LSTM", 1, 1, 1, 1, 1, False, False),
])


# --- q2 and q3: each sequence's final states ------------------------------------------------------

def _packed_run(generator, kind, n, longest, d, h, L, bidirectional):
    """(padded batch-first output, lengths, h_n) of a packed run of a seeded float64 module."""
    model = seeded_module(generator, KINDS[kind], d, h, num_layers=L, bidirectional=bidirectional,
                          batch_first=True)
    lengths = _lengths(generator, n, longest)
    padded = pad_sequence([random_tensor(generator, int(t), d) for t in lengths], batch_first=True)
    with torch.no_grad():
        packed_output, state = model(pack_padded_sequence(padded, lengths, batch_first=True,
                                                          enforce_sorted=False))
    output, _ = pad_packed_sequence(packed_output, batch_first=True)
    h_n = state[0] if kind == "LSTM" else state
    return output, lengths, h_n


def last_real_steps_case(label: str, generator: torch.Generator, kind: str, n: int, longest: int, h: int,
                         L: int, bidirectional: bool, *, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``last_real_steps(output, lengths, bidirectional)`` on a packed run padded back."""
    output, lengths, h_n = _packed_run(generator, kind, n, longest, 3, h, L, bidirectional)
    summary = torch.cat([h_n[-2], h_n[-1]], dim=1) if bidirectional else h_n[-1]
    return call_case("q2", "last_real_steps", label, (output, lengths, bidirectional), lambda: summary,
                     what=f"final states (lengths {lengths.tolist()})", hidden=hidden, points=points)


Q2 = question(2, ("last_real_steps",), public=lambda g: [
    last_real_steps_case("GRU, one direction, n=3", g, "GRU", 3, 5, 4, 1, False, hidden=False),
    last_real_steps_case("GRU, bidirectional, n=4", g, "GRU", 4, 6, 3, 1, True, hidden=False),
], hidden=lambda g: [
    last_real_steps_case("RNN, one direction, 2 layers, n=5", g, "RNN", 5, 7, 2, 2, False),
    last_real_steps_case("LSTM, bidirectional, 2 layers, n=3", g, "LSTM", 3, 4, 5, 2, True),
    last_real_steps_case("GRU, bidirectional, n=6", g, "GRU", 6, 8, 2, 1, True),
])


def last_layer_summary_case(label: str, generator: torch.Generator, L: int, n: int, h: int,
                            bidirectional: bool, *, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``last_layer_summary(h_n, num_layers, bidirectional)`` on a random ``h_n``."""
    D = 2 if bidirectional else 1
    h_n = random_tensor(generator, D * L, n, h)
    last = h_n.view(L, D, n, h)[-1]  # PyTorch's layout: layer-major, then direction
    return call_case("q3", "last_layer_summary", label, (h_n, L, bidirectional),
                     lambda: torch.cat(list(last), dim=1), what="last layer's final states", hidden=hidden,
                     points=points)


Q3 = question(3, ("last_layer_summary",), public=lambda g: [
    last_layer_summary_case("2 layers, bidirectional, n=3, h=4", g, 2, 3, 4, True, hidden=False),
    last_layer_summary_case("3 layers, one direction, n=2, h=5", g, 3, 2, 5, False, hidden=False),
], hidden=lambda g: [
    last_layer_summary_case("1 layer, bidirectional, n=2, h=3", g, 1, 2, 3, True),
    last_layer_summary_case("4 layers, bidirectional, n=1, h=2", g, 4, 1, 2, True),
    last_layer_summary_case("1 layer, one direction, n=4, h=6", g, 1, 4, 6, False),
    last_layer_summary_case("3 layers, bidirectional, n=5, h=3", g, 3, 5, 3, True),
])


# --- q4: seed 002's general form ------------------------------------------------------------------

def _compare_final_states(expected, got, names):
    """``(forward, backward)`` final states; ``backward`` must be None for a one-direction module."""
    forward_state, backward_state = expected
    if not isinstance(got, tuple) or len(got) != 2:
        return Verdict(False, f"expected a pair (forward_final, backward_final), got {describe_answer(got)}")
    forward = compare_tensor(forward_state, got[0], names[0])
    if backward_state is None:
        if got[1] is not None:
            return Verdict(False, f"{forward.message}; backward: expected None for a one-direction "
                                  f"module, got {describe_answer(got[1])}")
        return forward
    backward = compare_tensor(backward_state, got[1], names[1])
    return Verdict(forward.passed and backward.passed, f"{forward.message}; {backward.message}")


def seed_final_states_case(label: str, generator: torch.Generator, B: int, S: int, H: int, L: int,
                           bidirectional: bool, *, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``seed_final_states(output, H, bidirectional)`` on a batch-first GRU's ``output``:
    the last layer's final states must equal the matching slices of ``h_n``."""
    model = seeded_module(generator, nn.GRU, 2, H, num_layers=L, bidirectional=bidirectional,
                          batch_first=True)
    with torch.no_grad():
        output, h_n = model(random_tensor(generator, B, S, 2))
    expected = (h_n[-2], h_n[-1]) if bidirectional else (h_n[-1], None)
    return call_case("q4", "seed_final_states", label, (output, H, bidirectional), lambda: expected,
                     compare=_compare_final_states, what=("forward final state", "backward final state"),
                     hidden=hidden, points=points)


Q4 = question(4, ("seed_final_states",), public=lambda g: [
    seed_final_states_case("one direction, 3 layers, B=4, S=6, H=5", g, 4, 6, 5, 3, False, hidden=False),
    seed_final_states_case("bidirectional, 2 layers, B=3, S=5, H=4", g, 3, 5, 4, 2, True, hidden=False),
], hidden=lambda g: [
    seed_final_states_case("one direction, 1 layer, B=2, S=1, H=3", g, 2, 1, 3, 1, False),
    seed_final_states_case("one direction, 2 layers, B=1, S=9, H=2", g, 1, 9, 2, 2, False),
    seed_final_states_case("bidirectional, 1 layer, B=3, S=4, H=6", g, 3, 4, 6, 1, True),
    seed_final_states_case("bidirectional, 3 layers, B=2, S=7, H=2", g, 2, 7, 2, 3, True),
])


# --- q5: what the padding does to output[:, -1] -----------------------------------------------------

ZERO = 1e-6  # "zero" up to float32 rounding


@functools.lru_cache(maxsize=64)
def reference_padding_error(lengths: tuple[int, ...]) -> torch.Tensor:
    """The question's per-sequence max |output[i, -1] (padded run) - h_n[0, i] (packed run)|."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        gru = nn.GRU(3, 4, batch_first=True)
        padded = pad_sequence([torch.randn(int(t), 3) for t in lengths], batch_first=True)
    with torch.no_grad():
        padded_output, _ = gru(padded)
        _, h_n = gru(pack_padded_sequence(padded, torch.tensor(lengths), batch_first=True,
                                          enforce_sorted=False))
    return (padded_output[:, -1] - h_n[0]).abs().amax(dim=1)


def padding_error_case(lengths: tuple[int, ...], *, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``padding_error(lengths)``."""
    lengths = tuple(int(t) for t in lengths)
    return call_case("q5", "padding_error", f"padding_error({list(lengths)})", (lengths,),
                     lambda: reference_padding_error(lengths), what="errors per sequence", rtol=1e-4,
                     atol=1e-5, hidden=hidden, points=points)


SEQUENCES = ("the longest sequence", "a shorter sequence")


def _errors() -> tuple[str, str]:
    """The right ``q5_errors``: is the error zero for the longest sequence, for a shorter one?"""
    errors = reference_padding_error((5, 2, 4))  # sequence 0 is the longest, sequence 1 shorter
    return tuple("zero" if float(errors[i]) < ZERO else "nonzero" for i in (0, 1))


def _errors_cases(*, hidden: bool) -> list[Case]:
    return [choice_case("q5", "q5_errors", f"is the error zero for {which}?", ("zero", "nonzero"), _errors,
                        what=f"error of output[i, -1] for {which}", hidden=hidden, index=index, size=2)
            for index, which in enumerate(SEQUENCES)]


Q5 = question(5, ("padding_error", "q5_errors"), public=lambda g: [
    padding_error_case((5, 2, 4), hidden=False), *_errors_cases(hidden=False),
], hidden=lambda g: [
    *(padding_error_case(tuple(_lengths(g, n, longest).tolist())) for n, longest in ((4, 6), (2, 3))),
    padding_error_case((1,)), *_errors_cases(hidden=True),
])


EXERCISE_SET = ExerciseSet("06", "06_shapes.ipynb", "The shapes of PyTorch's recurrent modules",
                           [Q1, Q2, Q3, Q4, Q5])
check = EXERCISE_SET.check
