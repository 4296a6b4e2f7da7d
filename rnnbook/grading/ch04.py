"""Exercise set 4: deep recurrent networks (questions, tests, references).

The notebook is ``exercises/04_deep_rnns.ipynb``, generated from ``exercises/src/04_deep_rnns.py``.
The references come from :mod:`rnnbook.cells` (the cells of Chapter 3) and :mod:`rnnbook.modules`
(``rnnbook.GRU`` and ``rnnbook.LSTM`` of Chapter 4, equal to ``torch.nn``).

Questions: (q1) predict the shapes of a stacked LSTM's outputs and weights; (q2) fix seed 003's
two-layer GRU, whose two layers share one state; (q3) a stacked GRU forward pass equal to
``nn.GRU``; (q4) predict the number of parameters of a stack; (q5) measure how the gradient that
reaches the first input changes with depth.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from rnnbook.cells import rnn_cell
from rnnbook.grading.inputs import loaded_module, random_layer, random_tensor
from rnnbook.grading.judging import (
    Mistake,
    call_case,
    choice_case,
    compare_output_states,
    compare_value,
    question,
    question_from_builder,
)
from rnnbook.grading.model import Case, ExerciseSet, Verdict
from rnnbook.modules import GRU, LSTM

__all__ = ["EXERCISE_SET", "lstm_shapes_case", "deep_gru_case", "stacked_gru_case",
           "stack_parameter_count_case", "depth_gradient_case", "reference_depth_gradient"]


# --- q1: shapes of a stacked LSTM ------------------------------------------------------------------

def _lstm_reference_shapes(T, n, d, h, L):
    with torch.random.fork_rng():
        model = LSTM(d, h, num_layers=L)
        output, (h_n, c_n) = model(torch.zeros(T, n, d))
    return (tuple(output.shape), tuple(h_n.shape), tuple(c_n.shape), tuple(model.weight_ih_l0.shape),
            tuple(getattr(model, f"weight_ih_l{L - 1}").shape))


PART_NAMES = ("output", "h_n", "c_n", "weight_ih_l0", "weight_ih of the last layer")


def lstm_shapes_case(label: str, T: int, n: int, d: int, h: int, L: int, *, hidden: bool = True,
                     points: float = 1.0) -> Case:
    """A test of ``lstm_shapes(T, n, d, h, L)``."""
    args = (T, n, d, h, L)
    return call_case("q1", "lstm_shapes", label, args, lambda: _lstm_reference_shapes(*args),
                     what=PART_NAMES, form=f"a tuple of 5 shapes ({', '.join(PART_NAMES)})",
                     all_right="all five shapes right", hidden=hidden, points=points)


Q1 = question(1, ("lstm_shapes",), public=lambda g: [
    lstm_shapes_case("T=5, n=2, d=3, h=4, 2 layers", 5, 2, 3, 4, 2, hidden=False),
], hidden=lambda g: [
    lstm_shapes_case("T=1, n=7, d=2, h=3, 1 layer", 1, 7, 2, 3, 1),
    lstm_shapes_case("T=4, n=1, d=10, h=2, 3 layers", 4, 1, 10, 2, 3),
    lstm_shapes_case("T=6, n=3, d=5, h=5, 2 layers", 6, 3, 5, 5, 2),
])


# --- q2: seed 003's two-layer GRU ------------------------------------------------------------------

def _deep_gru_reference(inputs, state, params):
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q, W_hh1, W_hh2, b_h1 = params
    H, H1 = state
    outputs = []
    for X in inputs:
        Z = torch.sigmoid(X @ W_xz + H @ W_hz + b_z)
        R = torch.sigmoid(X @ W_xr + H @ W_hr + b_r)
        H_tilde = torch.tanh(X @ W_xh + (R * H) @ W_hh + b_h)  # d2l's GRU: reset before the product
        H = Z * H + (1 - Z) * H_tilde
        H1 = rnn_cell(H, H1, W_hh1.T, W_hh2.T, b_h1)  # the second layer reads the first one's state
        outputs.append(H1 @ W_hq + b_q)
    return torch.cat(outputs, dim=0), (H, H1)


def deep_gru_case(label: str, generator: torch.Generator, T: int, n: int, V: int, H: int, *,
                  hidden: bool = True, points: float = 1.0) -> Case:
    """A test of the fixed ``deep_gru(inputs, state, params)`` of seed 003 (d2l's layout: X @ W)."""
    shapes = [(V, H), (H, H), (H,)] * 3 + [(H, V), (V,), (H, H), (H, H), (H,)]
    params = tuple(random_tensor(generator, *shape) for shape in shapes)
    inputs = random_tensor(generator, T, n, V)
    state = (random_tensor(generator, n, H), random_tensor(generator, n, H))
    return call_case("q2", "deep_gru", label, (inputs, state, params),
                     lambda: _deep_gru_reference(inputs, state, params), compare=compare_output_states,
                     what=("outputs", "first layer's state", "second layer's state"),
                     form="(outputs, (H, H1))", hidden=hidden, points=points)


Q2 = question(2, ("deep_gru",), public=lambda g: [
    deep_gru_case("T=4, n=2, vocabulary 5, hidden 3", g, 4, 2, 5, 3, hidden=False),
], hidden=lambda g: [
    deep_gru_case(f"T={T}, n={n}, vocabulary {V}, hidden {H}", g, T, n, V, H)
    for T, n, V, H in [(1, 1, 2, 2), (6, 3, 7, 4), (3, 2, 4, 6)]
])


# --- q3: a stacked GRU equal to nn.GRU -------------------------------------------------------------

def stacked_gru_case(label: str, generator: torch.Generator, L: int, T: int, n: int, d: int, h: int, *,
                     hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``stacked_gru(inputs, h_0, layers)``, ``layers`` one
    ``(weight_ih, weight_hh, bias_ih, bias_hh)`` per layer, against ``rnnbook.GRU``."""
    layers = tuple(random_layer(generator, 3, d if layer == 0 else h, h) for layer in range(L))
    inputs, h_0 = random_tensor(generator, T, n, d), random_tensor(generator, L, n, h)
    every_layer_reads_input = Mistake(
        _INPUT_HINT, lambda: _every_layer_reads_the_input(inputs, h_0, layers, d, h))
    return call_case("q3", "stacked_gru", label, (inputs, h_0, layers),
                     lambda: loaded_module(GRU, layers, d, h, num_layers=L)(inputs, h_0),
                     what=("output", "h_n"), hidden=hidden, points=points,
                     mistakes=(every_layer_reads_input,), symptoms=_INPUT_SYMPTOMS)


_INPUT_HINT = ("layer l > 1 reads the outputs of layer l - 1 at every step (h features), not the input "
               "sequence; feed each layer the output of the layer below.")
# A layer above the first given the input: its weight_ih is (3h, h), the input has d features.
_INPUT_SYMPTOMS = (("cannot be multiplied", _INPUT_HINT), ("expected weight_ih of shape", _INPUT_HINT))


def _every_layer_reads_the_input(inputs, h_0, layers, d, h):
    """The classic mistake: every layer of the stack runs over the input sequence."""
    finals, output = [], None
    for layer, weights in enumerate(layers):
        output, final = loaded_module(GRU, [weights], d, h)(inputs, h_0[layer:layer + 1])
        finals.append(final[0])
    return output, torch.stack(finals)


Q3 = question_from_builder(3, ("stacked_gru",), stacked_gru_case,
                           public=[("2 layers, T=4, n=2, d=3, h=5", 2, 4, 2, 3, 5)],
                           hidden=[("1 layer, T=3, n=1, d=2, h=2", 1, 3, 1, 2, 2),
                                   ("3 layers, T=5, n=3, d=4, h=3", 3, 5, 3, 4, 3),
                                   ("2 layers, T=1, n=2, d=6, h=6", 2, 1, 2, 6, 6)])


# --- q4: the number of parameters of a stack -------------------------------------------------------

MODULES = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}


def _parameter_count(kind, d, h, L, bidirectional):
    with torch.random.fork_rng():
        module = MODULES[kind](d, h, num_layers=L, bidirectional=bidirectional)
    return sum(p.numel() for p in module.parameters())


def _compare_count(expected, got, what):
    """:func:`compare_value`, and by how much an int answer is off."""
    verdict = compare_value(expected, got, what)
    if not verdict.passed and type(got) is int:
        return Verdict(False, f"{verdict.message} ({got - expected:+d})")
    return verdict


def stack_parameter_count_case(label: str, kind: str, d: int, h: int, L: int, bidirectional: bool, *,
                               hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``stack_parameter_count(kind, d, h, L, bidirectional)`` against ``torch.nn``."""
    args = (kind, d, h, L, bidirectional)
    return call_case("q4", "stack_parameter_count", label, args, lambda: _parameter_count(*args),
                     compare=_compare_count, what="number of parameters", hidden=hidden, points=points)


Q4 = question(4, ("stack_parameter_count",), public=lambda g: [
    stack_parameter_count_case("GRU, d=3, h=4, 2 layers", "GRU", 3, 4, 2, False, hidden=False),
], hidden=lambda g: [
    stack_parameter_count_case("RNN, d=5, h=2, 1 layer", "RNN", 5, 2, 1, False),
    stack_parameter_count_case("LSTM, d=28, h=256, 3 layers", "LSTM", 28, 256, 3, False),
    stack_parameter_count_case("GRU, bidirectional, d=4, h=6, 2 layers", "GRU", 4, 6, 2, True),
    stack_parameter_count_case("LSTM, bidirectional, d=2, h=3, 3 layers", "LSTM", 2, 3, 3, True),
])


# --- q5: the gradient that reaches the first input, against depth -----------------------------------

@functools.lru_cache(maxsize=64)
def reference_depth_gradient(num_layers: int) -> float:
    """Norm of dL/dx_1 for the question's seeded GRU stack (input 4, hidden 16, T = 20), L = sum of
    the last output."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = GRU(4, 16, num_layers=num_layers)
        x = torch.randn(20, 1, 4, requires_grad=True)
    output, _ = model(x)
    output[-1].sum().backward()
    return float(x.grad[0].norm())


def depth_gradient_case(num_layers: int, *, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``depth_gradient(num_layers)`` against the reference measurement."""
    return call_case("q5", "depth_gradient", f"depth_gradient({num_layers})", (num_layers,),
                     lambda: reference_depth_gradient(num_layers),
                     what="gradient norm", rtol=1e-3, hidden=hidden, points=points)


def _trend() -> str:
    return "larger" if reference_depth_gradient(4) > reference_depth_gradient(1) else "smaller"


def _trend_case(*, hidden: bool) -> Case:
    return choice_case("q5", "q5_trend", "is the gradient larger or smaller with 4 layers?",
                       ("larger", "smaller"), _trend, what="4 layers against 1", hidden=hidden)


Q5 = question(5, ("depth_gradient", "q5_trend"), public=lambda g: [
    depth_gradient_case(2, hidden=False), _trend_case(hidden=False),
], hidden=lambda g: [
    depth_gradient_case(1), depth_gradient_case(3), depth_gradient_case(4), _trend_case(hidden=True),
])


EXERCISE_SET = ExerciseSet("04", "04_deep_rnns.ipynb", "Deep recurrent networks", [Q1, Q2, Q3, Q4, Q5])
check = EXERCISE_SET.check
