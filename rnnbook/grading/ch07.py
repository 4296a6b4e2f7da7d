"""Exercise set 7: how fast a recurrent network can be (questions, tests, references).

The notebook is ``exercises/07_performance.ipynb``, generated from
``exercises/src/07_performance.py``. References come from :mod:`rnnbook.cells` and
:mod:`rnnbook.modules` (``rnnbook.GRU`` and ``rnnbook.RNN``, equal to ``torch.nn``) and from
:func:`rnnbook.fast.recurrent_flops` (Chapter 7).

Questions: (q1) a GRU step with one recurrent product for all gates; (q2) a GRU layer with the
input products of all steps hoisted into one product; (q3) count the FLOPs of a step and of a
forward pass; (q4) fix a hoisted version of seed 003's two-layer RNN that broadcasts silently;
(q5) measure the GFLOP/s of a matrix product (a sanity range) and say which shape runs faster.
"""

from __future__ import annotations

import math

import torch

from rnnbook.cells import gru_cell
from rnnbook.fast import recurrent_flops
from rnnbook.grading.inputs import loaded_module, random_layer, random_tensor
from rnnbook.grading.judging import (
    call_case,
    choice_case,
    compare_output_states,
    compare_parts,
    describe_answer,
    question,
    question_from_builder,
)
from rnnbook.grading.model import Case, ExerciseSet, Verdict
from rnnbook.modules import GRU, RNN

__all__ = ["EXERCISE_SET", "fused_gru_step_case", "hoisted_gru_layer_case", "count_flops_case",
           "hoisted_seed_rnn_case", "measured_gflops_case", "GFLOPS_RANGE"]

GFLOPS_RANGE = (0.01, 10_000.0)  # any CPU of this century, one thread or many


# --- q1: one product for all gates ----------------------------------------------------------------

def fused_gru_step_case(label: str, generator: torch.Generator, n: int, d: int, h: int, *,
                        hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``fused_gru_step(x_gates, h, weight_hh, bias_hh)`` against ``gru_cell``."""
    weight_ih, weight_hh, bias_ih, bias_hh = random_layer(generator, 3, d, h)
    x, state = random_tensor(generator, n, d), random_tensor(generator, n, h)
    return call_case("q1", "fused_gru_step", label, (x @ weight_ih.T + bias_ih, state, weight_hh, bias_hh),
                     lambda: gru_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh), what="new state",
                     hidden=hidden, points=points)


Q1 = question(1, ("fused_gru_step",), public=lambda g: [
    fused_gru_step_case("n=2, d=3, h=4", g, 2, 3, 4, hidden=False),
], hidden=lambda g: [
    fused_gru_step_case(f"n={n}, d={d}, h={h}", g, n, d, h) for n, d, h in [(1, 1, 1), (5, 2, 6), (3, 7, 3)]
])


# --- q2: a hoisted GRU layer ----------------------------------------------------------------------

def hoisted_gru_layer_case(label: str, generator: torch.Generator, T: int, n: int, d: int, h: int, *,
                           hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``hoisted_gru_layer(inputs, h_0, weight_ih, weight_hh, bias_ih, bias_hh)``."""
    weights = random_layer(generator, 3, d, h)
    inputs, h_0 = random_tensor(generator, T, n, d), random_tensor(generator, n, h)

    def reference():
        output, h_n = loaded_module(GRU, [weights], d, h)(inputs, h_0[None])
        return output, h_n[0]

    return call_case("q2", "hoisted_gru_layer", label, (inputs, h_0, *weights), reference,
                     what=("output", "h_T"), hidden=hidden, points=points)


Q2 = question_from_builder(2, ("hoisted_gru_layer",), hoisted_gru_layer_case,
                           public=[("T=4, n=2, d=3, h=5", 4, 2, 3, 5)],
                           hidden=[(f"T={T}, n={n}, d={d}, h={h}", T, n, d, h)
                                   for T, n, d, h in [(1, 1, 2, 2), (7, 3, 4, 3), (5, 4, 6, 6)]])


# --- q3: FLOPs ------------------------------------------------------------------------------------

FLOPS_PARTS = ("one step", "forward pass")


def _compare_flops(expected, got, names):
    """Both counts, and for int answers how many times the reference each wrong one is."""
    verdict = compare_parts(expected, got, names, form="a pair (step, forward)", all_right="both right")
    if verdict.passed or not isinstance(got, tuple) or len(got) != 2 or not all(type(v) is int for v in got):
        return verdict
    ratios = [f"{what} is {v / e:.3g} times the reference"
              for what, v, e in zip(names, got, expected) if v != e and e]
    return Verdict(False, f"{verdict.message}; {'; '.join(ratios)}")


def count_flops_case(label: str, mode: str, T: int, n: int, d: int, h: int, num_layers: int, *,
                     bidirectional: bool = False, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``count_flops(mode, T, n, d, h, num_layers, bidirectional)`` -> ``(step, forward)``."""
    def reference():
        flops = recurrent_flops(mode, T, n, d, h, num_layers=num_layers, bidirectional=bidirectional)
        return flops["step"], flops["forward"]

    return call_case("q3", "count_flops", label, (mode, T, n, d, h, num_layers, bidirectional), reference,
                     compare=_compare_flops, what=FLOPS_PARTS, hidden=hidden, points=points)


Q3 = question(3, ("count_flops",), public=lambda g: [
    count_flops_case("GRU, T=35, n=32, d=28, h=256, 1 layer", "GRU", 35, 32, 28, 256, 1, hidden=False),
], hidden=lambda g: [
    count_flops_case("RNN, T=10, n=4, d=3, h=5, 1 layer", "RNN", 10, 4, 3, 5, 1),
    count_flops_case("LSTM, T=7, n=2, d=6, h=8, 3 layers", "LSTM", 7, 2, 6, 8, 3),
    count_flops_case("GRU, bidirectional, T=5, n=3, d=4, h=7, 2 layers", "GRU", 5, 3, 4, 7, 2,
                     bidirectional=True),
    count_flops_case("LSTM, bidirectional, T=1, n=1, d=9, h=2, 1 layer", "LSTM", 1, 1, 9, 2, 1,
                     bidirectional=True),
])


# --- q4: the hoisted seed model -------------------------------------------------------------------

def _seed_reference(inputs, state, params):
    """Seed 003's model computed by ``rnnbook.RNN`` (two tanh layers) and an output layer."""
    W_xh1, W_hh1, b_h1, W_xh2, W_hh2, b_h2, W_hq, b_q = params
    d, h = W_xh1.shape
    zeros = torch.zeros(h, dtype=torch.float64)
    layers = [(W_xh1.T, W_hh1.T, b_h1, zeros), (W_xh2.T, W_hh2.T, b_h2, zeros)]
    output, h_n = loaded_module(RNN, layers, d, h, num_layers=2)(inputs, torch.stack(state))
    return output.reshape(-1, h) @ W_hq + b_q, (h_n[0], h_n[1])


def hoisted_seed_rnn_case(label: str, generator: torch.Generator, T: int, n: int, d: int, h: int, q: int, *,
                          hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``hoisted_seed_rnn(inputs, state, params)`` against the seed's model."""
    params = (random_tensor(generator, d, h), random_tensor(generator, h, h, scale=0.5),
              random_tensor(generator, h), random_tensor(generator, h, h),
              random_tensor(generator, h, h, scale=0.5), random_tensor(generator, h),
              random_tensor(generator, h, q), random_tensor(generator, q))
    inputs = random_tensor(generator, T, n, d)
    state = (random_tensor(generator, n, h), random_tensor(generator, n, h))
    return call_case("q4", "hoisted_seed_rnn", label, (inputs, state, params),
                     lambda: _seed_reference(inputs, state, params), compare=compare_output_states,
                     what=("Y", "H1", "H2"), form="(Y, (H1, H2))", hidden=hidden, points=points)


Q4 = question(4, ("hoisted_seed_rnn",), public=lambda g: [
    hoisted_seed_rnn_case("T=5, n=3, d=4, h=6, q=2", g, 5, 3, 4, 6, 2, hidden=False),
], hidden=lambda g: [
    hoisted_seed_rnn_case(f"T={T}, n={n}, d={d}, h={h}, q={q}", g, T, n, d, h, q)
    for T, n, d, h, q in [(1, 2, 3, 5, 3), (6, 2, 2, 3, 4), (2, 5, 5, 4, 5)]
])


# --- q5: the rate of a matrix product -------------------------------------------------------------

def _plausible_rate(expected_range, got, what):
    """A number of GFLOP/s within ``expected_range``, with a hint for the usual unit mistakes."""
    low, high = expected_range
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = float(got)
    if type(got) not in (int, float) or not math.isfinite(got):
        return Verdict(False, f"expected a number of GFLOP/s, got {describe_answer(got)}")
    if low <= got <= high:
        return Verdict(True, f"{got:.3g} GFLOP/s, a plausible rate (between {low:g} and {high:g})")
    hint = (" (FLOP/s instead of GFLOP/s? divide by 1e9)" if got > high else
            " (seconds per run instead of a rate?)" if got < low else "")
    return Verdict(False, f"{got:.3g} GFLOP/s is outside the plausible range {low:g} to {high:g}{hint}")


def measured_gflops_case(rows: int, inner: int, cols: int, *, hidden: bool = True,
                         points: float = 1.0) -> Case:
    """A sanity test of ``measured_gflops(rows, inner, cols)``: a number in :data:`GFLOPS_RANGE`."""
    return call_case("q5", "measured_gflops", f"measured_gflops{(rows, inner, cols)}", (rows, inner, cols),
                     lambda: GFLOPS_RANGE, compare=_plausible_rate, what="rate", hidden=hidden, points=points)


def _faster_case(*, hidden: bool) -> Case:
    # With one row, each weight is loaded for a single multiply-add: the product is memory-bound
    # (Chapter 7's figure fig-perf-matmul-rows measures the rise with the number of rows).
    return choice_case("q5", "q5_faster", "which product runs at the higher rate?", ("one step", "all steps"),
                       lambda: "all steps", what="the product with the higher rate", hidden=hidden)


Q5 = question(5, ("measured_gflops", "q5_faster"), public=lambda g: [
    measured_gflops_case(32, 64, 96, hidden=False), _faster_case(hidden=False),
], hidden=lambda g: [
    measured_gflops_case(1, 128, 384), measured_gflops_case(35, 128, 384), _faster_case(hidden=True),
])


EXERCISE_SET = ExerciseSet("07", "07_performance.ipynb", "How fast can a recurrent network be?",
                           [Q1, Q2, Q3, Q4, Q5])
check = EXERCISE_SET.check
