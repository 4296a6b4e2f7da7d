"""Exercise set 3-4: GRU and LSTM cells, deep recurrent networks (questions, tests, references).

The notebook is ``exercises/04_gru_lstm_deep.ipynb``, generated from
``exercises/src/04_gru_lstm_deep.py``; it covers Chapters 3 and 4. The references come from
:mod:`rnnbook.cells` (the cells of Chapter 3) and :mod:`rnnbook.modules` (``rnnbook.GRU`` and
``rnnbook.LSTM`` of Chapter 4, equal to ``torch.nn``).

Questions: (q1) one GRU step in PyTorch's form; (q2) one LSTM step; (q3) predict the shapes of a
stacked LSTM's outputs and weights; (q4) fix seed 003's two-layer GRU, whose two layers share one
state; (q5) a stacked GRU forward pass equal to ``nn.GRU``; (q6) measure how much gradient reaches
the first input of an RNN, a GRU and an LSTM.
"""

from __future__ import annotations

import functools

import torch

from rnnbook.cells import gru_cell, lstm_cell, rnn_cell
from rnnbook.grading.core import (
    Case,
    Chapter,
    Question,
    Request,
    Verdict,
    compare_tensor,
    compare_tensors,
    compare_value,
    describe,
    random_tensor,
    relative_close,
)
from rnnbook.modules import GRU, LSTM, RNN

__all__ = [
    "CHAPTER",
    "gru_step_case",
    "lstm_step_case",
    "lstm_shapes_case",
    "deep_gru_case",
    "stacked_gru_case",
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


# --- q3: shapes of a stacked LSTM ------------------------------------------------------------------


def _lstm_reference_shapes(T, n, d, h, L):
    with torch.random.fork_rng():
        model = LSTM(d, h, num_layers=L)
        output, (h_n, c_n) = model(torch.zeros(T, n, d))
    return (
        tuple(output.shape),
        tuple(h_n.shape),
        tuple(c_n.shape),
        tuple(model.weight_ih_l0.shape),
        tuple(getattr(model, f"weight_ih_l{L - 1}").shape),
    )


PART_NAMES = ("output", "h_n", "c_n", "weight_ih_l0", "weight_ih of the last layer")


def lstm_shapes_case(
    label: str, T: int, n: int, d: int, h: int, L: int, *, hidden: bool = True, points: float = 1.0
) -> Case:
    """A test of ``lstm_shapes(T, n, d, h, L)``."""

    def judge(got):
        if not isinstance(got, tuple) or len(got) != 5:
            return Verdict(
                False, f"expected a tuple of 5 shapes ({', '.join(PART_NAMES)}), got {describe(got)}"
            )
        parts = [
            compare_value(e, g, name)
            for e, g, name in zip(_lstm_reference_shapes(T, n, d, h, L), got, PART_NAMES)
        ]
        wrong = [p.message for p in parts if not p.passed]
        return Verdict(not wrong, "; ".join(wrong) if wrong else "all five shapes right")

    return Case("q3", label, Request("call", "lstm_shapes", (T, n, d, h, L)), judge, points, hidden)


def _q3_public():
    return [lstm_shapes_case("T=5, n=2, d=3, h=4, 2 layers", 5, 2, 3, 4, 2, hidden=False)]


def _q3_hidden(g):
    return [
        lstm_shapes_case("T=1, n=7, d=2, h=3, 1 layer", 1, 7, 2, 3, 1),
        lstm_shapes_case("T=4, n=1, d=10, h=2, 3 layers", 4, 1, 10, 2, 3),
        lstm_shapes_case("T=6, n=3, d=5, h=5, 2 layers", 6, 3, 5, 5, 2),
    ]


# --- q4: seed 003's two-layer GRU ------------------------------------------------------------------


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


def deep_gru_case(
    label: str,
    generator: torch.Generator,
    T: int,
    n: int,
    V: int,
    H: int,
    *,
    hidden: bool = True,
    points: float = 1.0,
) -> Case:
    """A test of the fixed ``deep_gru(inputs, state, params)`` of seed 003 (d2l's layout: X @ W)."""
    shapes = [(V, H), (H, H), (H,)] * 3 + [(H, V), (V,), (H, H), (H, H), (H,)]
    params = tuple(random_tensor(generator, *shape) for shape in shapes)
    inputs = random_tensor(generator, T, n, V)
    state = (random_tensor(generator, n, H), random_tensor(generator, n, H))

    def judge(got):
        outputs, (H_last, H1_last) = _deep_gru_reference(inputs, state, params)
        if isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], tuple) and len(got[1]) == 2:
            return compare_tensors(
                (outputs, H_last, H1_last),
                (got[0], *got[1]),
                ("outputs", "first layer's state", "second layer's state"),
            )
        return Verdict(False, f"expected (outputs, (H, H1)), got {describe(got)}")

    return Case("q4", label, Request("call", "deep_gru", (inputs, state, params)), judge, points, hidden)


def _q4_public():
    return [deep_gru_case("T=4, n=2, vocabulary 5, hidden 3", _public_generator(), 4, 2, 5, 3, hidden=False)]


def _q4_hidden(g):
    return [
        deep_gru_case("T=1, n=1, vocabulary 2, hidden 2", g, 1, 1, 2, 2),
        deep_gru_case("T=6, n=3, vocabulary 7, hidden 4", g, 6, 3, 7, 4),
        deep_gru_case("T=3, n=2, vocabulary 4, hidden 6", g, 3, 2, 4, 6),
    ]


# --- q5: a stacked GRU equal to nn.GRU -------------------------------------------------------------


def stacked_gru_case(
    label: str,
    generator: torch.Generator,
    L: int,
    T: int,
    n: int,
    d: int,
    h: int,
    *,
    hidden: bool = True,
    points: float = 1.0,
) -> Case:
    """A test of ``stacked_gru(inputs, h_0, layers)``, ``layers`` one
    ``(weight_ih, weight_hh, bias_ih, bias_hh)`` per layer, against ``rnnbook.GRU``."""
    layers = tuple(
        (
            random_tensor(generator, 3 * h, d if layer == 0 else h),
            random_tensor(generator, 3 * h, h),
            random_tensor(generator, 3 * h),
            random_tensor(generator, 3 * h),
        )
        for layer in range(L)
    )
    inputs, h_0 = random_tensor(generator, T, n, d), random_tensor(generator, L, n, h)

    def judge(got):
        with torch.random.fork_rng():
            model = GRU(d, h, num_layers=L, dtype=torch.float64)
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        model.load_state_dict(
            {f"{name}_l{k}": w for k, layer in enumerate(layers) for name, w in zip(names, layer)}
        )
        with torch.no_grad():
            expected = model(inputs, h_0)
        return compare_tensors(expected, got, ("output", "h_n"))

    return Case("q5", label, Request("call", "stacked_gru", (inputs, h_0, layers)), judge, points, hidden)


def _q5_public():
    return [
        stacked_gru_case("2 layers, T=4, n=2, d=3, h=5", _public_generator(), 2, 4, 2, 3, 5, hidden=False)
    ]


def _q5_hidden(g):
    return [
        stacked_gru_case("1 layer, T=3, n=1, d=2, h=2", g, 1, 3, 1, 2, 2),
        stacked_gru_case("3 layers, T=5, n=3, d=4, h=3", g, 3, 5, 3, 4, 3),
        stacked_gru_case("2 layers, T=1, n=2, d=6, h=6", g, 2, 1, 2, 6, 6),
    ]


# --- q6: measuring the gradient that reaches the first input ---------------------------------------

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
        "q6",
        f"first_input_gradient({kind!r}, {T})",
        Request("call", "first_input_gradient", (kind, T)),
        judge,
        points,
        hidden,
    )


def _largest_case(*, hidden: bool) -> Case:
    def judge(got):
        if got not in KINDS:
            return Verdict(False, f"expected one of {tuple(KINDS)}, got {describe(got)}")
        if not hidden:
            return Verdict(True, f"{got!r} is one of the allowed answers (checked when graded)")
        norms = {kind: reference_first_input_gradient(kind, 50) for kind in KINDS}
        return compare_value(max(norms, key=norms.get), got, "largest gradient at T=50")

    label = "which model passes the most gradient back, T=50" + ("" if hidden else " (form only)")
    return Case("q6", label, Request("value", "q6_largest"), judge, 1.0 if hidden else 0.0, hidden)


def _q6_public():
    return [first_input_gradient_case("GRU", 5, hidden=False), _largest_case(hidden=False)]


def _q6_hidden(g):
    return [
        first_input_gradient_case("RNN", 20),
        first_input_gradient_case("LSTM", 50),
        first_input_gradient_case("GRU", 50),
        _largest_case(hidden=True),
    ]


CHAPTER = Chapter(
    id="04",
    notebook="04_gru_lstm_deep.ipynb",
    title="GRU and LSTM cells, deep recurrent networks",
    questions=[
        Question("q1", "Question 1 (gru_step)", ("gru_step",), _q1_public, _q1_hidden),
        Question("q2", "Question 2 (lstm_step)", ("lstm_step",), _q2_public, _q2_hidden),
        Question("q3", "Question 3 (lstm_shapes)", ("lstm_shapes",), _q3_public, _q3_hidden),
        Question("q4", "Question 4 (deep_gru)", ("deep_gru",), _q4_public, _q4_hidden),
        Question("q5", "Question 5 (stacked_gru)", ("stacked_gru",), _q5_public, _q5_hidden),
        Question(
            "q6",
            "Question 6 (first_input_gradient, q6_largest)",
            ("first_input_gradient", "q6_largest"),
            _q6_public,
            _q6_hidden,
        ),
    ],
)
check = CHAPTER.check
