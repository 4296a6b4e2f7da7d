"""Exercise set 5: bidirectional recurrent networks and their shapes (questions, tests, references).

The notebook is ``exercises/05_bidirectional.ipynb``, generated from
``exercises/src/05_bidirectional.py``. References come from ``rnnbook.GRU`` (Chapter 4's modules,
equal to ``torch.nn.GRU``, bidirectional included) and :mod:`rnnbook.cells`.

Questions: (q1) one bidirectional GRU layer; (q2) split ``h_n`` into directions; (q3) predict the
shapes of a bidirectional stack; (q4) fix seed 002's final-state extraction; (q5) measure which
inputs each output depends on, unidirectional and bidirectional.
"""

from __future__ import annotations

import functools

import torch

from rnnbook.grading.judging import (
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
    "bigru_layer_case",
    "split_h_n_case",
    "bidirectional_shapes_case",
    "seed_final_states_case",
    "output_input_gradient_case",
    "reference_output_input_gradient",
]

WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _public_generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _seeded_module(generator, cls, *args, **kwargs):
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return cls(*args, dtype=torch.float64, **kwargs)


# --- q1: a bidirectional GRU layer -----------------------------------------------------------------


def bigru_layer_case(
    label: str,
    generator: torch.Generator,
    T: int,
    n: int,
    d: int,
    h: int,
    *,
    hidden: bool = True,
    points: float = 1.0,
) -> Case:
    """A test of ``bigru_layer(inputs, h_0, forward_weights, backward_weights)``."""

    def weights():
        return (
            random_tensor(generator, 3 * h, d),
            random_tensor(generator, 3 * h, h),
            random_tensor(generator, 3 * h),
            random_tensor(generator, 3 * h),
        )

    forward_weights, backward_weights = weights(), weights()
    inputs, h_0 = random_tensor(generator, T, n, d), random_tensor(generator, 2, n, h)

    def judge(got):
        with torch.random.fork_rng():
            model = GRU(d, h, bidirectional=True, dtype=torch.float64)
        state = {f"{name}_l0": w for name, w in zip(WEIGHT_NAMES, forward_weights)}
        state |= {f"{name}_l0_reverse": w for name, w in zip(WEIGHT_NAMES, backward_weights)}
        model.load_state_dict(state)
        with torch.no_grad():
            expected = model(inputs, h_0)
        return compare_tensors(expected, got, ("output", "h_n"))

    request = Request("call", "bigru_layer", (inputs, h_0, forward_weights, backward_weights))
    return Case("q1", label, request, judge, points, hidden)


def _q1_public():
    return [bigru_layer_case("T=4, n=2, d=3, h=5", _public_generator(), 4, 2, 3, 5, hidden=False)]


def _q1_hidden(g):
    return [
        bigru_layer_case("T=1, n=1, d=2, h=2", g, 1, 1, 2, 2),
        bigru_layer_case("T=7, n=3, d=4, h=3", g, 7, 3, 4, 3),
        bigru_layer_case("T=5, n=2, d=6, h=6", g, 5, 2, 6, 6),
    ]


# --- q2: splitting h_n ----------------------------------------------------------------------------


def split_h_n_case(
    label: str,
    generator: torch.Generator,
    L: int,
    n: int,
    h: int,
    *,
    hidden: bool = True,
    points: float = 1.0,
) -> Case:
    """A test of ``split_h_n(h_n, num_layers)`` -> ``(forward, backward)``, each ``(L, n, h)``."""
    h_n = random_tensor(generator, 2 * L, n, h)

    def judge(got):
        view = h_n.view(L, 2, n, h)  # PyTorch's layout: layer-major, then direction
        return compare_tensors((view[:, 0], view[:, 1]), got, ("forward states", "backward states"))

    return Case("q2", label, Request("call", "split_h_n", (h_n, L)), judge, points, hidden)


def _q2_public():
    return [split_h_n_case("2 layers, n=3, h=4", _public_generator(), 2, 3, 4, hidden=False)]


def _q2_hidden(g):
    return [
        split_h_n_case("1 layer, n=2, h=3", g, 1, 2, 3),
        split_h_n_case("3 layers, n=1, h=2", g, 3, 1, 2),
        split_h_n_case("4 layers, n=2, h=5", g, 4, 2, 5),
    ]


# --- q3: shapes of a bidirectional stack ----------------------------------------------------------

KINDS = {"RNN": RNN, "GRU": GRU, "LSTM": LSTM}
PART_NAMES = ("output", "h_n", "weight_ih_l0", "weight_ih_l1_reverse")


def _reference_shapes(kind, T, n, d, h, L, batch_first):
    with torch.random.fork_rng():
        model = KINDS[kind](d, h, num_layers=L, bidirectional=True, batch_first=batch_first)
        shape = (n, T, d) if batch_first else (T, n, d)
        output, state = model(torch.zeros(*shape))
    h_n = state[0] if kind == "LSTM" else state
    last = getattr(model, "weight_ih_l1_reverse", None)
    return (
        tuple(output.shape),
        tuple(h_n.shape),
        tuple(model.weight_ih_l0.shape),
        None if last is None else tuple(last.shape),
    )


def bidirectional_shapes_case(
    label: str,
    kind: str,
    T: int,
    n: int,
    d: int,
    h: int,
    L: int,
    batch_first: bool,
    *,
    hidden: bool = True,
    points: float = 1.0,
) -> Case:
    """A test of ``bidirectional_shapes(kind, T, n, d, h, L, batch_first)``."""

    def judge(got):
        if not isinstance(got, tuple) or len(got) != 4:
            return Verdict(False, f"expected a tuple of 4 ({', '.join(PART_NAMES)})"
                                  f", got {describe_answer(got)}")
        parts = [
            compare_value(e, g, name)
            for e, g, name in zip(_reference_shapes(kind, T, n, d, h, L, batch_first), got, PART_NAMES)
        ]
        wrong = [p.message for p in parts if not p.passed]
        return Verdict(not wrong, "; ".join(wrong) if wrong else "all four right")

    args = (kind, T, n, d, h, L, batch_first)
    return Case("q3", label, Request("call", "bidirectional_shapes", args), judge, points, hidden)


def _q3_public():
    return [
        bidirectional_shapes_case(
            "GRU, T=5, n=4, d=2, h=3, 2 layers", "GRU", 5, 4, 2, 3, 2, False, hidden=False
        )
    ]


def _q3_hidden(g):
    return [
        bidirectional_shapes_case(
            "LSTM, batch_first, T=7, n=2, d=5, h=4, 3 layers", "LSTM", 7, 2, 5, 4, 3, True
        ),
        bidirectional_shapes_case("RNN, one layer, T=3, n=1, d=6, h=2", "RNN", 3, 1, 6, 2, 1, False),
        bidirectional_shapes_case(
            "GRU, batch_first, T=2, n=9, d=3, h=3, 2 layers", "GRU", 2, 9, 3, 3, 2, True
        ),
    ]


# --- q4: seed 002's final states -------------------------------------------------------------------


def seed_final_states_case(
    label: str,
    generator: torch.Generator,
    T: int,
    n: int,
    d: int,
    H: int,
    L: int,
    *,
    hidden: bool = True,
    points: float = 1.0,
) -> Case:
    """A test of ``seed_final_states(output, H)`` on the ``output`` of a bidirectional batch-first GRU:
    the last layer's final states, forward and backward, must equal the matching parts of ``h_n``."""
    model = _seeded_module(generator, GRU, d, H, num_layers=L, bidirectional=True, batch_first=True)
    with torch.no_grad():
        output, h_n = model(random_tensor(generator, n, T, d))

    def judge(got):
        view = h_n.view(L, 2, n, H)
        return compare_tensors(
            (view[-1, 0], view[-1, 1]), got, ("forward final state", "backward final state")
        )

    return Case("q4", label, Request("call", "seed_final_states", (output, H)), judge, points, hidden)


def _q4_public():
    return [
        seed_final_states_case("3 layers, n=4, T=6, H=5", _public_generator(), 6, 4, 2, 5, 3, hidden=False)
    ]


def _q4_hidden(g):
    return [
        seed_final_states_case("1 layer, n=2, T=1, H=3", g, 1, 2, 3, 3, 1),
        seed_final_states_case("2 layers, n=1, T=9, H=2", g, 9, 1, 2, 2, 2),
        seed_final_states_case("1 layer, n=3, T=4, H=6", g, 4, 3, 5, 6, 1),
    ]


# --- q5: which inputs does an output depend on? ----------------------------------------------------


@functools.lru_cache(maxsize=64)
def reference_output_input_gradient(bidirectional: bool, t_out: int, t_in: int) -> float:
    """Norm of d(sum of output[t_out]) / d x[t_in] for the question's seeded GRU and input (T = 10)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = GRU(4, 8, bidirectional=bidirectional)
        x = torch.randn(10, 1, 4, requires_grad=True)
    output, _ = model(x)
    output[t_out].sum().backward()
    return float(x.grad[t_in].norm())


def output_input_gradient_case(
    bidirectional: bool, t_out: int, t_in: int, *, hidden: bool = True, points: float = 1.0
) -> Case:
    """A test of ``output_input_gradient(bidirectional, t_out, t_in)``."""

    def judge(got):
        expected = reference_output_input_gradient(bidirectional, t_out, t_in)
        if expected == 0:
            if type(got) in (int, float) and got == 0:
                return Verdict(True, "0, right")
            return Verdict(False, f"expected exactly 0, got {describe_answer(got)}")
        return relative_close(expected, got, "gradient norm", 1e-3)

    args = (bidirectional, t_out, t_in)
    return Case(
        "q5",
        f"output_input_gradient{args}",
        Request("call", "output_input_gradient", args),
        judge,
        points,
        hidden,
    )


def _future_case(index: int, *, hidden: bool) -> Case:
    options = ("zero", "nonzero")
    model = ("unidirectional", "bidirectional")[index]

    def judge(got):
        if not isinstance(got, tuple) or len(got) != 2 or got[index] not in options:
            return Verdict(False, f"expected a pair of strings from {options}, got {describe_answer(got)}")
        if not hidden:
            return Verdict(True, f"{got[index]!r} is one of the allowed answers (checked when graded)")
        right = "zero" if reference_output_input_gradient(index == 1, 2, 7) == 0 else "nonzero"
        return compare_value(right, got[index], f"{model} GRU, gradient from a later input")

    label = f"{model}: does output 2 depend on input 7?" + ("" if hidden else " (form only)")
    return Case("q5", label, Request("value", "q5_future"), judge, 1.0 if hidden else 0.0, hidden)


def _q5_public():
    return [
        output_input_gradient_case(True, 5, 2, hidden=False),
        _future_case(0, hidden=False),
        _future_case(1, hidden=False),
    ]


def _q5_hidden(g):
    return [
        output_input_gradient_case(False, 6, 1),
        output_input_gradient_case(False, 1, 6),
        output_input_gradient_case(True, 0, 9),
        _future_case(0, hidden=True),
        _future_case(1, hidden=True),
    ]


EXERCISE_SET = ExerciseSet(
    id="05",
    notebook="05_bidirectional.ipynb",
    title="Bidirectional recurrent networks",
    questions=[
        Question("q1", "Question 1 (bigru_layer)", ("bigru_layer",), _q1_public, _q1_hidden),
        Question("q2", "Question 2 (split_h_n)", ("split_h_n",), _q2_public, _q2_hidden),
        Question(
            "q3", "Question 3 (bidirectional_shapes)", ("bidirectional_shapes",), _q3_public, _q3_hidden
        ),
        Question("q4", "Question 4 (seed_final_states)", ("seed_final_states",), _q4_public, _q4_hidden),
        Question(
            "q5",
            "Question 5 (output_input_gradient, q5_future)",
            ("output_input_gradient", "q5_future"),
            _q5_public,
            _q5_hidden,
        ),
    ],
)
check = EXERCISE_SET.check
