"""Exercise set 3: GRU and LSTM cells (questions, tests, references).

The notebook is ``exercises/03_gru_lstm.ipynb``, generated from ``exercises/src/03_gru_lstm.py``.
The references come from :mod:`rnnbook.cells` (the cells of Chapter 3, equal to
``torch.nn.GRUCell`` and ``LSTMCell``) and :mod:`rnnbook.modules` (``rnnbook.RNN/GRU/LSTM``).

Questions: (q1) one GRU step in PyTorch's form; (q2) one LSTM step; (q3) predict the shapes and
the parameter count of a cell; (q4) fix seed 003's GRU step (d2l's form: the reset gate before
the product) so that it equals ``nn.GRUCell``; (q5) measure how much gradient reaches the first
input of an RNN, a GRU and an LSTM.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from rnnbook.cells import gru_cell, lstm_cell
from rnnbook.grading.inputs import random_layer, random_tensor
from rnnbook.grading.judging import Mistake, call_case, choice_case, question, question_from_builder
from rnnbook.grading.model import Case, ExerciseSet
from rnnbook.modules import GRU, LSTM, RNN

__all__ = ["EXERCISE_SET", "gru_step_case", "lstm_step_case", "cell_shapes_case", "pytorch_gru_step_case",
           "first_input_gradient_case", "reference_first_input_gradient"]


def _cell_args(generator, n, d, h, gates, *, scale=1.0, zero_state=False, zero_bias_hh=False):
    x, state = random_tensor(generator, n, d), random_tensor(generator, n, h) * (0 if zero_state else 1)
    weight_ih, weight_hh, bias_ih, bias_hh = random_layer(generator, gates, d, h, scale=scale)
    return x, state, weight_ih, weight_hh, bias_ih, bias_hh * (0 if zero_bias_hh else 1)


# --- the classic mistakes of q1, q2 and q4, known by what they compute ---------------------------------

def _swap_chunks(weights: tuple, gates: int, i: int, j: int) -> tuple:
    """The weights with the blocks of gates ``i`` and ``j`` exchanged (rows of every tensor)."""
    def swap(w):
        blocks = list(w.chunk(gates))
        blocks[i], blocks[j] = blocks[j], blocks[i]
        return torch.cat(blocks)
    return tuple(swap(w) for w in weights)


def _gru_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, reset_before_product=False):
    """The update gate z and the candidate n of a GRU step; with ``reset_before_product`` the
    reset gate multiplies h before the product with W_hn (Cho et al.'s form), not after."""
    x_r, x_z, x_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=-1)
    W_hr, W_hz, W_hn = weight_hh.chunk(3)
    b_hr, b_hz, b_hn = bias_hh.chunk(3)
    r = torch.sigmoid(x_r + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x_z + h @ W_hz.T + b_hz)
    if reset_before_product:
        return z, torch.tanh(x_n + (r * h) @ W_hn.T + b_hn)
    return z, torch.tanh(x_n + r * (h @ W_hn.T + b_hn))


def gru_reset_before_product(x, h, *weights):
    """The GRU step in Cho et al.'s form: the reset gate applied to h before the product with W_hn."""
    z, n = _gru_gates(x, h, *weights, reset_before_product=True)
    return (1 - z) * n + z * h


def _gru_update_swapped(x, h, *weights):
    z, n = _gru_gates(x, h, *weights)
    return z * n + (1 - z) * h


RESET_HINT = ("in PyTorch's form the reset gate multiplies (h W_hn^T + b_hn), after the product with "
              "W_hn; your result matches r applied to h before the product (Cho et al.'s form).")


def _swapped_gates(cell, args: tuple, gates: int, i: int, j: int, hint: str) -> Mistake:
    """The mistake of reading the weight blocks of gates ``i`` and ``j`` the other way round."""
    x, state, *weights = args
    return Mistake(hint, lambda: cell(x, state, *_swap_chunks(tuple(weights), gates, i, j)))


def gru_mistakes(args: tuple) -> tuple[Mistake, ...]:
    return (
        _swapped_gates(gru_cell, args, 3, 0, 1, "the gate blocks are stacked r, z, n in weight_ih, weight_hh "
                       "and the biases; your result matches reading the first two blocks the other way "
                       "round (z, r)."),
        Mistake(RESET_HINT, lambda: gru_reset_before_product(*args)),
        Mistake("the update gate keeps the old state: h_t = (1 - z) * n + z * h; your result matches "
                "z * n + (1 - z) * h.", lambda: _gru_update_swapped(*args)),
    )


def lstm_mistakes(args: tuple) -> tuple[Mistake, ...]:
    return (
        _swapped_gates(lstm_cell, args, 4, 2, 3, "the gate blocks are stacked i, f, g, o (g, the cell "
                       "candidate, before o, the output gate); your result matches reading them as "
                       "i, f, o, g."),
        Mistake("return (h, c) in that order: your result has the two swapped.",
                lambda: tuple(reversed(lstm_cell(*args)))),
    )


# --- q1: GRU step ----------------------------------------------------------------------------------

def gru_step_case(label: str, generator: torch.Generator, n: int, d: int, h: int, *, zero_state: bool = False,
                  zero_bias_hh: bool = False, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``gru_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)`` (gates r, z, n)."""
    args = _cell_args(generator, n, d, h, 3, zero_state=zero_state, zero_bias_hh=zero_bias_hh)
    return call_case("q1", "gru_step", label, args, lambda: gru_cell(*args), what="new state", hidden=hidden,
                     points=points, mistakes=gru_mistakes(args))


Q1 = question_from_builder(1, ("gru_step",), gru_step_case,
                           public=[("n=2, d=3, h=4", 2, 3, 4)],
                           hidden=[("n=1, d=1, h=1", 1, 1, 1), ("n=5, d=2, h=6", 5, 2, 6),
                                   ("bias_hh = 0", 3, 4, 2, {"zero_bias_hh": True}),
                                   ("zero state", 3, 4, 5, {"zero_state": True})],
                           unavailable=("rnnbook.cells.gru_cell",))


# --- q2: LSTM step ---------------------------------------------------------------------------------

def lstm_step_case(label: str, generator: torch.Generator, n: int, d: int, h: int, *, zero_cell: bool = False,
                   scale: float = 1.0, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``lstm_step(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)`` (gates i, f, g, o)."""
    x, h0, *weights = _cell_args(generator, n, d, h, 4, scale=scale)
    args = (x, (h0, random_tensor(generator, n, h) * (0 if zero_cell else 2)), *weights)
    return call_case("q2", "lstm_step", label, args, lambda: lstm_cell(*args), what=("h", "c"), hidden=hidden,
                     points=points, mistakes=lstm_mistakes(args))


Q2 = question_from_builder(2, ("lstm_step",), lstm_step_case,
                           public=[("n=2, d=3, h=4", 2, 3, 4)],
                           hidden=[("n=1, d=1, h=1", 1, 1, 1), ("n=4, d=5, h=3", 4, 5, 3),
                                   ("zero cell state", 3, 2, 4, {"zero_cell": True}),
                                   ("large weights: gates saturate", 2, 3, 3, {"scale": 4.0})],
                           unavailable=("rnnbook.cells.lstm_cell",))


# --- q3: shapes and parameter count of a cell -------------------------------------------------------

CELLS = {"RNN": nn.RNNCell, "GRU": nn.GRUCell, "LSTM": nn.LSTMCell}
CELL_PARTS = ("weight_ih", "weight_hh", "bias_ih", "number of parameters")


def _reference_cell_shapes(kind, d, h):
    with torch.random.fork_rng():
        cell = CELLS[kind](d, h)
    return (tuple(cell.weight_ih.shape), tuple(cell.weight_hh.shape), tuple(cell.bias_ih.shape),
            sum(p.numel() for p in cell.parameters()))


def cell_shapes_case(label: str, kind: str, d: int, h: int, *, hidden: bool = True,
                     points: float = 1.0) -> Case:
    """A test of ``cell_shapes(kind, d, h)`` against ``torch.nn.RNNCell/GRUCell/LSTMCell``."""
    return call_case("q3", "cell_shapes", label, (kind, d, h), lambda: _reference_cell_shapes(kind, d, h),
                     what=CELL_PARTS, form=f"a tuple of 4 ({', '.join(CELL_PARTS)})",
                     all_right="all four right", hidden=hidden, points=points)


Q3 = question(3, ("cell_shapes",), public=lambda g: [
    cell_shapes_case("GRU, d=3, h=4", "GRU", 3, 4, hidden=False),
], hidden=lambda g: [
    cell_shapes_case(f"{kind}, d={d}, h={h}", kind, d, h)
    for kind, d, h in [("RNN", 5, 2), ("LSTM", 2, 7), ("LSTM", 28, 256), ("GRU", 1, 1)]
])


# --- q4: seed 003's GRU step in PyTorch's form -----------------------------------------------------

def pytorch_gru_step_case(label: str, generator: torch.Generator, n: int, d: int, h: int, *,
                          hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``pytorch_gru_step(X, H, params)``: seed 003's GRU step with PyTorch's weights,
    ``params = (W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_xh, b_hh)`` in d2l's layout (X @ W)."""
    args = _cell_args(generator, n, d, h, 3)
    x, state, weight_ih, weight_hh, bias_ih, bias_hh = args
    (W_ir, W_iz, W_in), (W_hr, W_hz, W_hn) = weight_ih.chunk(3), weight_hh.chunk(3)
    (b_ir, b_iz, b_in), (b_hr, b_hz, b_hn) = bias_ih.chunk(3), bias_hh.chunk(3)
    params = (W_iz.T, W_hz.T, b_iz + b_hz, W_ir.T, W_hr.T, b_ir + b_hr, W_in.T, W_hn.T, b_in, b_hn)
    return call_case("q4", "pytorch_gru_step", label, (x, state, params), lambda: gru_cell(*args),
                     what="new state (nn.GRUCell with the same weights)", hidden=hidden, points=points,
                     mistakes=(Mistake(RESET_HINT, lambda: gru_reset_before_product(*args)),))


Q4 = question(4, ("pytorch_gru_step",), public=lambda g: [
    pytorch_gru_step_case("n=2, d=3, h=4", g, 2, 3, 4, hidden=False),
], hidden=lambda g: [
    pytorch_gru_step_case(f"n={n}, d={d}, h={h}", g, n, d, h) for n, d, h in [(1, 2, 3), (4, 5, 2), (3, 1, 6)]
])


# --- q5: measuring the gradient that reaches the first input ---------------------------------------

KINDS = {"RNN": RNN, "GRU": GRU, "LSTM": LSTM}


@functools.lru_cache(maxsize=64)
def reference_first_input_gradient(kind: str, T: int) -> float:
    """Norm of dL/dx_1 for the question's seeded one-layer model, L = sum of the last output."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = KINDS[kind](8, 32)
        x = torch.randn(T, 1, 8, requires_grad=True)
    output, _ = model(x)
    output[-1].sum().backward()
    return float(x.grad[0].norm())


def first_input_gradient_case(kind: str, T: int, *, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``first_input_gradient(kind, T)`` against the reference measurement."""
    return call_case("q5", "first_input_gradient", f"first_input_gradient({kind!r}, {T})", (kind, T),
                     lambda: reference_first_input_gradient(kind, T),
                     what="gradient norm", rtol=1e-3, hidden=hidden, points=points)


def _largest() -> str:
    norms = {kind: reference_first_input_gradient(kind, 50) for kind in KINDS}
    return max(norms, key=norms.get)


def _largest_case(*, hidden: bool) -> Case:
    return choice_case("q5", "q5_largest", "which model passes the most gradient back, T=50", tuple(KINDS),
                       _largest, what="largest gradient at T=50", hidden=hidden)


Q5 = question(5, ("first_input_gradient", "q5_largest"), public=lambda g: [
    first_input_gradient_case("GRU", 5, hidden=False), _largest_case(hidden=False),
], hidden=lambda g: [
    first_input_gradient_case("RNN", 20), first_input_gradient_case("LSTM", 50),
    first_input_gradient_case("GRU", 50), _largest_case(hidden=True),
])


EXERCISE_SET = ExerciseSet("03", "03_gru_lstm.ipynb", "GRU and LSTM cells", [Q1, Q2, Q3, Q4, Q5])
check = EXERCISE_SET.check
