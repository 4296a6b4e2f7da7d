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
from rnnbook.grading.judging import (
    compare_tensor,
    compare_tensors,
    compare_value,
    describe_answer,
    random_tensor,
)
from rnnbook.grading.model import Case, ExerciseSet, Question, Request, Verdict
from rnnbook.modules import GRU, RNN

__all__ = [
    "EXERCISE_SET",
    "fused_gru_step_case",
    "hoisted_gru_layer_case",
    "count_flops_case",
    "hoisted_seed_rnn_case",
    "measured_gflops_case",
    "GFLOPS_RANGE",
]

GFLOPS_RANGE = (0.01, 10_000.0)  # any CPU of this century, one thread or many


def _public_generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _gru_weights(generator, d, h):
    return (random_tensor(generator, 3 * h, d), random_tensor(generator, 3 * h, h),
            random_tensor(generator, 3 * h), random_tensor(generator, 3 * h))


# --- q1: one product for all gates ----------------------------------------------------------------


def fused_gru_step_case(label: str, generator: torch.Generator, n: int, d: int, h: int, *,
                        hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``fused_gru_step(x_gates, h, weight_hh, bias_hh)`` against ``gru_cell``."""
    weight_ih, weight_hh, bias_ih, bias_hh = _gru_weights(generator, d, h)
    x, state = random_tensor(generator, n, d), random_tensor(generator, n, h)
    x_gates = x @ weight_ih.T + bias_ih

    def judge(got):
        return compare_tensor(gru_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh), got, "new state")

    request = Request("call", "fused_gru_step", (x_gates, state, weight_hh, bias_hh))
    return Case("q1", label, request, judge, points, hidden)


def _q1_public():
    return [fused_gru_step_case("n=2, d=3, h=4", _public_generator(), 2, 3, 4, hidden=False)]


def _q1_hidden(g):
    return [fused_gru_step_case("n=1, d=1, h=1", g, 1, 1, 1),
            fused_gru_step_case("n=5, d=2, h=6", g, 5, 2, 6),
            fused_gru_step_case("n=3, d=7, h=3", g, 3, 7, 3)]


# --- q2: a hoisted GRU layer ----------------------------------------------------------------------


def hoisted_gru_layer_case(label: str, generator: torch.Generator, T: int, n: int, d: int, h: int, *,
                           hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``hoisted_gru_layer(inputs, h_0, weight_ih, weight_hh, bias_ih, bias_hh)``."""
    weights = _gru_weights(generator, d, h)
    inputs, h_0 = random_tensor(generator, T, n, d), random_tensor(generator, n, h)

    def judge(got):
        with torch.random.fork_rng():
            model = GRU(d, h, dtype=torch.float64)
        model.load_state_dict({f"{name}_l0": w for name, w in
                               zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights)})
        with torch.no_grad():
            output, h_n = model(inputs, h_0[None])
        return compare_tensors((output, h_n[0]), got, ("output", "h_T"))

    request = Request("call", "hoisted_gru_layer", (inputs, h_0, *weights))
    return Case("q2", label, request, judge, points, hidden)


def _q2_public():
    return [hoisted_gru_layer_case("T=4, n=2, d=3, h=5", _public_generator(), 4, 2, 3, 5, hidden=False)]


def _q2_hidden(g):
    return [hoisted_gru_layer_case("T=1, n=1, d=2, h=2", g, 1, 1, 2, 2),
            hoisted_gru_layer_case("T=7, n=3, d=4, h=3", g, 7, 3, 4, 3),
            hoisted_gru_layer_case("T=5, n=4, d=6, h=6", g, 5, 4, 6, 6)]


# --- q3: FLOPs ------------------------------------------------------------------------------------


def count_flops_case(label: str, mode: str, T: int, n: int, d: int, h: int, num_layers: int,
                     bidirectional: bool, *, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``count_flops(mode, T, n, d, h, num_layers, bidirectional)`` -> ``(step, forward)``."""
    args = (mode, T, n, d, h, num_layers, bidirectional)

    def judge(got):
        reference = recurrent_flops(mode, T, n, d, h, num_layers=num_layers, bidirectional=bidirectional)
        if not isinstance(got, tuple) or len(got) != 2:
            return Verdict(False, f"expected a pair (step, forward), got {describe_answer(got)}")
        parts = [compare_value(reference["step"], got[0], "one step"),
                 compare_value(reference["forward"], got[1], "forward pass")]
        wrong = [p.message for p in parts if not p.passed]
        if wrong and all(type(v) is int for v in got):
            ratios = [f"{what} is {v / e:.3g} times the reference" for what, v, e in
                      zip(("one step", "forward pass"), got, (reference["step"], reference["forward"]))
                      if v != e and e]
            wrong.append("; ".join(ratios))
        return Verdict(not wrong, "; ".join(wrong) if wrong else "both right")

    return Case("q3", label, Request("call", "count_flops", args), judge, points, hidden)


def _q3_public():
    return [count_flops_case("GRU, T=35, n=32, d=28, h=256, 1 layer", "GRU", 35, 32, 28, 256, 1, False,
                             hidden=False)]


def _q3_hidden(g):
    return [count_flops_case("RNN, T=10, n=4, d=3, h=5, 1 layer", "RNN", 10, 4, 3, 5, 1, False),
            count_flops_case("LSTM, T=7, n=2, d=6, h=8, 3 layers", "LSTM", 7, 2, 6, 8, 3, False),
            count_flops_case("GRU, bidirectional, T=5, n=3, d=4, h=7, 2 layers", "GRU", 5, 3, 4, 7, 2, True),
            count_flops_case("LSTM, bidirectional, T=1, n=1, d=9, h=2, 1 layer", "LSTM", 1, 1, 9, 2, 1, True)]


# --- q4: the hoisted seed model -------------------------------------------------------------------


def _seed_reference(inputs, state, params):
    """Seed 003's model computed by ``rnnbook.RNN`` (two tanh layers) and an output layer."""
    W_xh1, W_hh1, b_h1, W_xh2, W_hh2, b_h2, W_hq, b_q = params
    d, h = W_xh1.shape
    with torch.random.fork_rng():
        model = RNN(d, h, num_layers=2, dtype=torch.float64)
    zeros = torch.zeros(h, dtype=torch.float64)
    model.load_state_dict({"weight_ih_l0": W_xh1.T, "weight_hh_l0": W_hh1.T, "bias_ih_l0": b_h1,
                           "bias_hh_l0": zeros, "weight_ih_l1": W_xh2.T, "weight_hh_l1": W_hh2.T,
                           "bias_ih_l1": b_h2, "bias_hh_l1": zeros})
    with torch.no_grad():
        output, h_n = model(inputs, torch.stack(state))
    return output.reshape(-1, h) @ W_hq + b_q, h_n[0], h_n[1]


def hoisted_seed_rnn_case(label: str, generator: torch.Generator, T: int, n: int, d: int, h: int, q: int, *,
                          hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``hoisted_seed_rnn(inputs, state, params)`` against the seed's model."""
    params = (random_tensor(generator, d, h), random_tensor(generator, h, h, scale=0.5),
              random_tensor(generator, h), random_tensor(generator, h, h),
              random_tensor(generator, h, h, scale=0.5), random_tensor(generator, h),
              random_tensor(generator, h, q), random_tensor(generator, q))
    inputs = random_tensor(generator, T, n, d)
    state = (random_tensor(generator, n, h), random_tensor(generator, n, h))

    def judge(got):
        Y, H1, H2 = _seed_reference(inputs, state, params)
        if not isinstance(got, tuple) or len(got) != 2 or not isinstance(got[1], tuple):
            return Verdict(False, f"expected (Y, (H1, H2)), got {describe_answer(got)}")
        return compare_tensors((Y, H1, H2), (got[0], *got[1]), ("Y", "H1", "H2"))

    request = Request("call", "hoisted_seed_rnn", (inputs, state, params))
    return Case("q4", label, request, judge, points, hidden)


def _q4_public():
    return [hoisted_seed_rnn_case("T=5, n=3, d=4, h=6, q=2", _public_generator(), 5, 3, 4, 6, 2,
                                  hidden=False)]


def _q4_hidden(g):
    return [hoisted_seed_rnn_case("T=1, n=2, d=3, h=5, q=3", g, 1, 2, 3, 5, 3),
            hoisted_seed_rnn_case("T=6, n=2, d=2, h=3, q=4", g, 6, 2, 2, 3, 4),
            hoisted_seed_rnn_case("T=2, n=5, d=5, h=4, q=5", g, 2, 5, 5, 4, 5)]


# --- q5: the rate of a matrix product -------------------------------------------------------------


def measured_gflops_case(rows: int, inner: int, cols: int, *, hidden: bool = True,
                         points: float = 1.0) -> Case:
    """A sanity test of ``measured_gflops(rows, inner, cols)``: a number in :data:`GFLOPS_RANGE`."""
    low, high = GFLOPS_RANGE

    def judge(got):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = float(got)
        if type(got) not in (int, float) or not math.isfinite(got):
            return Verdict(False, f"expected a number of GFLOP/s, got {describe_answer(got)}")
        if low <= got <= high:
            return Verdict(True, f"{got:.3g} GFLOP/s, a plausible rate (between {low:g} and {high:g})")
        hint = (" (FLOP/s instead of GFLOP/s? divide by 1e9)" if got > high else
                " (seconds per run instead of a rate?)" if got < low else "")
        return Verdict(False, f"{got:.3g} GFLOP/s is outside the plausible range {low:g} to {high:g}{hint}")

    return Case("q5", f"measured_gflops{(rows, inner, cols)}",
                Request("call", "measured_gflops", (rows, inner, cols)), judge, points, hidden)


def _faster_case(*, hidden: bool) -> Case:
    options = ("one step", "all steps")

    def judge(got):
        if got not in options:
            return Verdict(False, f"expected one of {options}, got {describe_answer(got)}")
        if not hidden:
            return Verdict(True, f"{got!r} is one of the allowed answers (checked when graded)")
        # With one row, each weight is loaded for a single multiply-add: the product is memory-bound
        # (Chapter 7's figure fig-perf-matmul-rows measures the rise with the number of rows).
        return compare_value("all steps", got, "the product with the higher rate")

    label = "which product runs at the higher rate?" + ("" if hidden else " (form only)")
    return Case("q5", label, Request("value", "q5_faster"), judge, 1.0 if hidden else 0.0, hidden)


def _q5_public():
    return [measured_gflops_case(32, 64, 96, hidden=False), _faster_case(hidden=False)]


def _q5_hidden(g):
    return [measured_gflops_case(1, 128, 384), measured_gflops_case(35, 128, 384), _faster_case(hidden=True)]


EXERCISE_SET = ExerciseSet(
    id="07",
    notebook="07_performance.ipynb",
    title="How fast can a recurrent network be?",
    questions=[
        Question("q1", "Question 1 (fused_gru_step)", ("fused_gru_step",), _q1_public, _q1_hidden),
        Question("q2", "Question 2 (hoisted_gru_layer)", ("hoisted_gru_layer",), _q2_public, _q2_hidden),
        Question("q3", "Question 3 (count_flops)", ("count_flops",), _q3_public, _q3_hidden),
        Question("q4", "Question 4 (hoisted_seed_rnn)", ("hoisted_seed_rnn",), _q4_public, _q4_hidden),
        Question("q5", "Question 5 (measured_gflops, q5_faster)", ("measured_gflops", "q5_faster"),
                 _q5_public, _q5_hidden),
    ],
)
check = EXERCISE_SET.check
