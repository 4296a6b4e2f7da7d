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
from rnnbook.grading.judging import (
    compare_tensor,
    compare_tensors,
    compare_value,
    describe_answer,
    random_tensor,
    relative_close,
)
from rnnbook.grading.model import Case, ExerciseSet, Question, Request, Verdict
from rnnbook.modules import GRU, LSTM, RNN

__all__ = [
    "EXERCISE_SET",
    "gru_step_case",
    "lstm_step_case",
    "cell_shapes_case",
    "pytorch_gru_step_case",
    "first_input_gradient_case",
    "reference_first_input_gradient",
]


def _public_generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _cell_args(generator, n, d, h, gates, *, scale=1.0, zero_state=False, zero_bias_hh=False):
    x, state = random_tensor(generator, n, d), random_tensor(generator, n, h) * (0 if zero_state else 1)
    weight_ih = random_tensor(generator, gates * h, d, scale=scale)
    weight_hh = random_tensor(generator, gates * h, h, scale=scale)
    bias_ih = random_tensor(generator, gates * h, scale=scale)
    bias_hh = random_tensor(generator, gates * h, scale=scale) * (0 if zero_bias_hh else 1)
    return x, state, weight_ih, weight_hh, bias_ih, bias_hh


# --- q1: GRU step ----------------------------------------------------------------------------------


def gru_step_case(
    label: str,
    generator: torch.Generator,
    n: int,
    d: int,
    h: int,
    *,
    zero_state: bool = False,
    zero_bias_hh: bool = False,
    hidden: bool = True,
    points: float = 1.0,
) -> Case:
    """A test of ``gru_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)`` (gates r, z, n)."""
    args = _cell_args(generator, n, d, h, 3, zero_state=zero_state, zero_bias_hh=zero_bias_hh)

    def judge(got):
        return compare_tensor(gru_cell(*args), got, "new state")

    return Case("q1", label, Request("call", "gru_step", args), judge, points, hidden)


def _q1_public():
    return [gru_step_case("n=2, d=3, h=4", _public_generator(), 2, 3, 4, hidden=False)]


def _q1_hidden(g):
    return [
        gru_step_case("n=1, d=1, h=1", g, 1, 1, 1),
        gru_step_case("n=5, d=2, h=6", g, 5, 2, 6),
        gru_step_case("bias_hh = 0", g, 3, 4, 2, zero_bias_hh=True),
        gru_step_case("zero state", g, 3, 4, 5, zero_state=True),
    ]


# --- q2: LSTM step ---------------------------------------------------------------------------------


def lstm_step_case(
    label: str,
    generator: torch.Generator,
    n: int,
    d: int,
    h: int,
    *,
    zero_cell: bool = False,
    scale: float = 1.0,
    hidden: bool = True,
    points: float = 1.0,
) -> Case:
    """A test of ``lstm_step(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)`` (gates i, f, g, o)."""
    x, h0, weight_ih, weight_hh, bias_ih, bias_hh = _cell_args(generator, n, d, h, 4, scale=scale)
    c0 = random_tensor(generator, n, h) * (0 if zero_cell else 2)
    args = (x, (h0, c0), weight_ih, weight_hh, bias_ih, bias_hh)

    def judge(got):
        return compare_tensors(lstm_cell(*args), got, ("h", "c"))

    return Case("q2", label, Request("call", "lstm_step", args), judge, points, hidden)


def _q2_public():
    return [lstm_step_case("n=2, d=3, h=4", _public_generator(), 2, 3, 4, hidden=False)]


def _q2_hidden(g):
    return [
        lstm_step_case("n=1, d=1, h=1", g, 1, 1, 1),
        lstm_step_case("n=4, d=5, h=3", g, 4, 5, 3),
        lstm_step_case("zero cell state", g, 3, 2, 4, zero_cell=True),
        lstm_step_case("large weights: gates saturate", g, 2, 3, 3, scale=4.0),
    ]


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

    def judge(got):
        if not isinstance(got, tuple) or len(got) != 4:
            return Verdict(False, f"expected a tuple of 4 ({', '.join(CELL_PARTS)})"
                                  f", got {describe_answer(got)}")
        parts = [compare_value(e, g, name) for e, g, name in
                 zip(_reference_cell_shapes(kind, d, h), got, CELL_PARTS)]
        wrong = [p.message for p in parts if not p.passed]
        return Verdict(not wrong, "; ".join(wrong) if wrong else "all four right")

    return Case("q3", label, Request("call", "cell_shapes", (kind, d, h)), judge, points, hidden)


def _q3_public():
    return [cell_shapes_case("GRU, d=3, h=4", "GRU", 3, 4, hidden=False)]


def _q3_hidden(g):
    return [
        cell_shapes_case("RNN, d=5, h=2", "RNN", 5, 2),
        cell_shapes_case("LSTM, d=2, h=7", "LSTM", 2, 7),
        cell_shapes_case("LSTM, d=28, h=256", "LSTM", 28, 256),
        cell_shapes_case("GRU, d=1, h=1", "GRU", 1, 1),
    ]


# --- q4: seed 003's GRU step in PyTorch's form -----------------------------------------------------


def pytorch_gru_step_case(
    label: str,
    generator: torch.Generator,
    n: int,
    d: int,
    h: int,
    *,
    hidden: bool = True,
    points: float = 1.0,
) -> Case:
    """A test of ``pytorch_gru_step(X, H, params)``: seed 003's GRU step with PyTorch's weights,
    ``params = (W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_xh, b_hh)`` in d2l's layout (X @ W)."""
    x, state, weight_ih, weight_hh, bias_ih, bias_hh = _cell_args(generator, n, d, h, 3)
    (W_ir, W_iz, W_in), (W_hr, W_hz, W_hn) = weight_ih.chunk(3), weight_hh.chunk(3)
    (b_ir, b_iz, b_in), (b_hr, b_hz, b_hn) = bias_ih.chunk(3), bias_hh.chunk(3)
    params = (W_iz.T, W_hz.T, b_iz + b_hz, W_ir.T, W_hr.T, b_ir + b_hr, W_in.T, W_hn.T, b_in, b_hn)

    def judge(got):
        return compare_tensor(gru_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh), got,
                              "new state (nn.GRUCell with the same weights)")

    return Case("q4", label, Request("call", "pytorch_gru_step", (x, state, params)), judge, points, hidden)


def _q4_public():
    return [pytorch_gru_step_case("n=2, d=3, h=4", _public_generator(), 2, 3, 4, hidden=False)]


def _q4_hidden(g):
    return [
        pytorch_gru_step_case("n=1, d=2, h=3", g, 1, 2, 3),
        pytorch_gru_step_case("n=4, d=5, h=2", g, 4, 5, 2),
        pytorch_gru_step_case("n=3, d=1, h=6", g, 3, 1, 6),
    ]


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

    def judge(got):
        return relative_close(reference_first_input_gradient(kind, T), got, "gradient norm", 1e-3)

    return Case(
        "q5",
        f"first_input_gradient({kind!r}, {T})",
        Request("call", "first_input_gradient", (kind, T)),
        judge,
        points,
        hidden,
    )


def _largest_case(*, hidden: bool) -> Case:
    def judge(got):
        if got not in KINDS:
            return Verdict(False, f"expected one of {tuple(KINDS)}, got {describe_answer(got)}")
        if not hidden:
            return Verdict(True, f"{got!r} is one of the allowed answers (checked when graded)")
        norms = {kind: reference_first_input_gradient(kind, 50) for kind in KINDS}
        return compare_value(max(norms, key=norms.get), got, "largest gradient at T=50")

    label = "which model passes the most gradient back, T=50" + ("" if hidden else " (form only)")
    return Case("q5", label, Request("value", "q5_largest"), judge, 1.0 if hidden else 0.0, hidden)


def _q5_public():
    return [first_input_gradient_case("GRU", 5, hidden=False), _largest_case(hidden=False)]


def _q5_hidden(g):
    return [
        first_input_gradient_case("RNN", 20),
        first_input_gradient_case("LSTM", 50),
        first_input_gradient_case("GRU", 50),
        _largest_case(hidden=True),
    ]


EXERCISE_SET = ExerciseSet(
    id="03",
    notebook="03_gru_lstm.ipynb",
    title="GRU and LSTM cells",
    questions=[
        Question("q1", "Question 1 (gru_step)", ("gru_step",), _q1_public, _q1_hidden,
                 unavailable=("rnnbook.cells.gru_cell",)),
        Question("q2", "Question 2 (lstm_step)", ("lstm_step",), _q2_public, _q2_hidden,
                 unavailable=("rnnbook.cells.lstm_cell",)),
        Question("q3", "Question 3 (cell_shapes)", ("cell_shapes",), _q3_public, _q3_hidden),
        Question("q4", "Question 4 (pytorch_gru_step)", ("pytorch_gru_step",), _q4_public, _q4_hidden),
        Question(
            "q5",
            "Question 5 (first_input_gradient, q5_largest)",
            ("first_input_gradient", "q5_largest"),
            _q5_public,
            _q5_hidden,
        ),
    ],
)
check = EXERCISE_SET.check
