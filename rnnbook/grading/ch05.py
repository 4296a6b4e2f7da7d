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

from rnnbook.grading.inputs import loaded_module, random_layer, random_tensor, seeded_module
from rnnbook.grading.judging import (
    Mistake,
    call_case,
    choice_case,
    describe_answer,
    question,
    question_from_builder,
    relative_close,
)
from rnnbook.grading.model import Case, ExerciseSet, Verdict
from rnnbook.modules import GRU, LSTM, RNN

__all__ = ["EXERCISE_SET", "bigru_layer_case", "split_h_n_case", "bidirectional_shapes_case",
           "seed_final_states_case", "output_input_gradient_case", "reference_output_input_gradient"]


# --- q1: a bidirectional GRU layer -----------------------------------------------------------------

def bigru_layer_case(label: str, generator: torch.Generator, T: int, n: int, d: int, h: int, *,
                     hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``bigru_layer(inputs, h_0, forward_weights, backward_weights)``."""
    forward_weights, backward_weights = random_layer(generator, 3, d, h), random_layer(generator, 3, d, h)
    inputs, h_0 = random_tensor(generator, T, n, d), random_tensor(generator, 2, n, h)

    def reference():
        gru = loaded_module(GRU, [forward_weights], d, h, bidirectional=True, reverse=[backward_weights])
        return gru(inputs, h_0)

    return call_case("q1", "bigru_layer", label, (inputs, h_0, forward_weights, backward_weights), reference,
                     what=("output", "h_n"), hidden=hidden, points=points)


Q1 = question_from_builder(1, ("bigru_layer",), bigru_layer_case,
                           public=[("T=4, n=2, d=3, h=5", 4, 2, 3, 5)],
                           hidden=[(f"T={T}, n={n}, d={d}, h={h}", T, n, d, h)
                                   for T, n, d, h in [(1, 1, 2, 2), (7, 3, 4, 3), (5, 2, 6, 6)]])


# --- q2: splitting h_n ----------------------------------------------------------------------------

def split_h_n_case(label: str, generator: torch.Generator, L: int, n: int, h: int, *,
                   hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``split_h_n(h_n, num_layers)`` -> ``(forward, backward)``, each ``(L, n, h)``."""
    h_n = random_tensor(generator, 2 * L, n, h)
    view = h_n.view(L, 2, n, h)  # PyTorch's layout: layer-major, then direction
    mistakes = (
        Mistake("h_n is ordered layer by layer, and within a layer forward then backward: "
                "h_n.view(num_layers, 2, n, h); your result matches reading it as (2, num_layers, n, h), "
                "all forward states first.",
                lambda: (h_n.view(2, L, n, h)[0], h_n.view(2, L, n, h)[1])),
        Mistake("within each layer the forward direction comes first (index 0) and the backward "
                "second; your result has the two directions swapped.",
                lambda: (view[:, 1], view[:, 0])),
    )
    return call_case("q2", "split_h_n", label, (h_n, L), lambda: (view[:, 0], view[:, 1]),
                     what=("forward states", "backward states"), hidden=hidden, points=points,
                     mistakes=mistakes)


Q2 = question_from_builder(2, ("split_h_n",), split_h_n_case,
                           public=[("2 layers, n=3, h=4", 2, 3, 4)],
                           hidden=[("1 layer, n=2, h=3", 1, 2, 3), ("3 layers, n=1, h=2", 3, 1, 2),
                                   ("4 layers, n=2, h=5", 4, 2, 5)])


# --- q3: shapes of a bidirectional stack ----------------------------------------------------------

KINDS = {"RNN": RNN, "GRU": GRU, "LSTM": LSTM}
PART_NAMES = ("output", "h_n", "weight_ih_l0", "weight_ih_l1_reverse")


def _reference_shapes(kind, T, n, d, h, L, batch_first):
    with torch.random.fork_rng():
        model = KINDS[kind](d, h, num_layers=L, bidirectional=True, batch_first=batch_first)
        output, state = model(torch.zeros(*((n, T, d) if batch_first else (T, n, d))))
    h_n = state[0] if kind == "LSTM" else state
    last = getattr(model, "weight_ih_l1_reverse", None)
    return (tuple(output.shape), tuple(h_n.shape), tuple(model.weight_ih_l0.shape),
            None if last is None else tuple(last.shape))


def bidirectional_shapes_case(label: str, kind: str, T: int, n: int, d: int, h: int, L: int, *,
                              batch_first: bool = False, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``bidirectional_shapes(kind, T, n, d, h, L, batch_first)``."""
    args = (kind, T, n, d, h, L, batch_first)
    return call_case("q3", "bidirectional_shapes", label, args, lambda: _reference_shapes(*args),
                     what=PART_NAMES, form=f"a tuple of 4 ({', '.join(PART_NAMES)})",
                     all_right="all four right", hidden=hidden, points=points)


Q3 = question(3, ("bidirectional_shapes",), public=lambda g: [
    bidirectional_shapes_case("GRU, T=5, n=4, d=2, h=3, 2 layers", "GRU", 5, 4, 2, 3, 2, hidden=False),
], hidden=lambda g: [
    bidirectional_shapes_case("LSTM, batch_first, T=7, n=2, d=5, h=4, 3 layers", "LSTM", 7, 2, 5, 4, 3,
                              batch_first=True),
    bidirectional_shapes_case("RNN, one layer, T=3, n=1, d=6, h=2", "RNN", 3, 1, 6, 2, 1),
    bidirectional_shapes_case("GRU, batch_first, T=2, n=9, d=3, h=3, 2 layers", "GRU", 2, 9, 3, 3, 2,
                              batch_first=True),
])


# --- q4: seed 002's final states -------------------------------------------------------------------

def seed_final_states_case(label: str, generator: torch.Generator, T: int, n: int, d: int, H: int, L: int, *,
                           hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``seed_final_states(output, H)`` on the ``output`` of a bidirectional batch-first GRU:
    the last layer's final states, forward and backward, must equal the matching parts of ``h_n``."""
    model = seeded_module(generator, GRU, d, H, num_layers=L, bidirectional=True, batch_first=True)
    with torch.no_grad():
        output, h_n = model(random_tensor(generator, n, T, d))
    view = h_n.view(L, 2, n, H)
    return call_case("q4", "seed_final_states", label, (output, H), lambda: (view[-1, 0], view[-1, 1]),
                     what=("forward final state", "backward final state"), hidden=hidden, points=points)


Q4 = question_from_builder(4, ("seed_final_states",), seed_final_states_case,
                           public=[("3 layers, n=4, T=6, H=5", 6, 4, 2, 5, 3)],
                           hidden=[("1 layer, n=2, T=1, H=3", 1, 2, 3, 3, 1),
                                   ("2 layers, n=1, T=9, H=2", 9, 1, 2, 2, 2),
                                   ("1 layer, n=3, T=4, H=6", 4, 3, 5, 6, 1)])


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


def _compare_norm(expected, got, what):
    """:func:`relative_close`, but a zero gradient must be exactly 0."""
    if expected != 0:
        return relative_close(expected, got, what, 1e-3)
    if type(got) in (int, float) and got == 0:
        return Verdict(True, "0, right")
    return Verdict(False, f"expected exactly 0, got {describe_answer(got)}")


def output_input_gradient_case(bidirectional: bool, t_out: int, t_in: int, *, hidden: bool = True,
                               points: float = 1.0) -> Case:
    """A test of ``output_input_gradient(bidirectional, t_out, t_in)``."""
    args = (bidirectional, t_out, t_in)
    return call_case("q5", "output_input_gradient", f"output_input_gradient{args}", args,
                     lambda: reference_output_input_gradient(*args), compare=_compare_norm,
                     what="gradient norm", hidden=hidden, points=points)


MODELS = ("unidirectional", "bidirectional")


def _future() -> tuple[str, str]:
    """The right ``q5_future``: does output 2 depend on input 7, in each model?"""
    return tuple("zero" if reference_output_input_gradient(bidirectional, 2, 7) == 0 else "nonzero"
                 for bidirectional in (False, True))


def _future_cases(*, hidden: bool) -> list[Case]:
    return [choice_case("q5", "q5_future", f"{model}: does output 2 depend on input 7?", ("zero", "nonzero"),
                        _future, what=f"{model} GRU, gradient from a later input", hidden=hidden,
                        index=index, size=len(MODELS))
            for index, model in enumerate(MODELS)]


Q5 = question(5, ("output_input_gradient", "q5_future"), public=lambda g: [
    output_input_gradient_case(True, 5, 2, hidden=False), *_future_cases(hidden=False),
], hidden=lambda g: [
    output_input_gradient_case(False, 6, 1), output_input_gradient_case(False, 1, 6),
    output_input_gradient_case(True, 0, 9), *_future_cases(hidden=True),
])


EXERCISE_SET = ExerciseSet("05", "05_bidirectional.ipynb", "Bidirectional recurrent networks",
                           [Q1, Q2, Q3, Q4, Q5])
check = EXERCISE_SET.check
