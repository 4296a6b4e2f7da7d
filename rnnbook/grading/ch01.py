"""Exercise set 1: recurrent networks from scratch (questions, tests and reference answers).

The notebook is ``exercises/01_rnn_from_scratch.ipynb``, generated from
``exercises/src/01_rnn_from_scratch.py``. Every reference answer is computed here from the
library of Chapter 1 (:mod:`rnnbook.scratch`), never pasted.

Questions: (q1) one step of the RNN cell; (q2) the layer with the input projection hoisted out
of the loop; (q3) predict the shapes and parameter count of the language model; (q4) find and
fix the bug in a learner's RNN module (seed 001); (q5) measure how the gradient norm depends on
the sequence length and on the scale of W_hh.
"""

from __future__ import annotations

import functools

import torch
from torch.nn import functional as F

from rnnbook.data import load_corpus
from rnnbook.grading.inputs import random_tensor
from rnnbook.grading.judging import Mistake, call_case, choice_case, judged_case, question
from rnnbook.grading.model import Case, ExerciseSet, Request
from rnnbook.scratch import RNNLMScratch, clip_gradients, rnn_layer_forward

__all__ = ["EXERCISE_SET", "rnn_step_case", "project_inputs_case", "rnn_loop_case", "lm_shapes_case",
           "seed_rnn_case", "gradient_norm_case", "reference_gradient_norm"]


# --- q1: one step ---------------------------------------------------------------------------------

def rnn_step_case(label: str, generator: torch.Generator, n: int, d: int, h: int, *, scale: float = 1.0,
                  zero_bias: bool = False, zero_state: bool = False, zero_input: bool = False,
                  hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``rnn_step(X, H, W_ih, W_hh, b_h)`` on random float64 inputs of the given sizes."""
    X = random_tensor(generator, n, d) * (0 if zero_input else 1)
    H = random_tensor(generator, n, h) * (0 if zero_state else 1)
    W_ih = random_tensor(generator, h, d, scale=scale)
    W_hh = random_tensor(generator, h, h, scale=scale)
    b_h = random_tensor(generator, h, scale=scale) * (0 if zero_bias else 1)
    transposed = Mistake("W_hh is (h, h) and the state H holds one row per example, so the recurrent "
                         "term is H @ W_hh.T; your result matches H @ W_hh, the transposed weight.",
                         lambda: torch.tanh(X @ W_ih.T + H @ W_hh + b_h))
    return call_case("q1", "rnn_step", label, (X, H, W_ih, W_hh, b_h),
                     lambda: rnn_layer_forward(X[None], H, W_ih, W_hh, b_h)[1], what="H_t",
                     hidden=hidden, points=points, mistakes=(transposed,), symptoms=(SHAPE_SYMPTOM,))


# A product whose shapes do not fit: in q1, almost always a weight used without its transpose.
SHAPE_SYMPTOM = ("cannot be multiplied",
                 "check each product against the weights' shapes: W_ih is (h, d) and W_hh is (h, h), "
                 "and a batch holds one example per row, so the step multiplies by the transposes: "
                 "X @ W_ih.T + H @ W_hh.T.")


Q1 = question(1, ("rnn_step",), public=lambda g: [
    rnn_step_case("n=2, d=3, h=4", g, 2, 3, 4, hidden=False),
], hidden=lambda g: [
    rnn_step_case("n=5, d=7, h=6", g, 5, 7, 6),
    rnn_step_case("n=1, d=1, h=1", g, 1, 1, 1),
    rnn_step_case("zero state and zero bias (only the input term)", g, 3, 4, 5, zero_state=True,
                  zero_bias=True),
    rnn_step_case("zero input (only the recurrent term and the bias)", g, 3, 4, 5, zero_input=True),
    rnn_step_case("large weights: tanh saturates", g, 4, 3, 2, scale=5.0),
])


# --- q2: hoisting the input projection -------------------------------------------------------------

def project_inputs_case(label: str, generator: torch.Generator, T: int, n: int, d: int, h: int, *,
                        hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``project_inputs(inputs, W_ih, b_h)``: all steps' ``X_t W_ih^T + b_h`` at once."""
    inputs = random_tensor(generator, T, n, d)
    W_ih, b_h = random_tensor(generator, h, d), random_tensor(generator, h)
    return call_case("q2", "project_inputs", f"project_inputs, {label}", (inputs, W_ih, b_h),
                     lambda: inputs @ W_ih.T + b_h, what="projected inputs", hidden=hidden, points=points)


def rnn_loop_case(label: str, generator: torch.Generator, T: int, n: int, h: int, *, zero_state: bool = False,
                  hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``rnn_loop(projected, state, W_hh)``, which must return ``(outputs, final_state)``."""
    projected = random_tensor(generator, T, n, h, scale=2.0)
    state = random_tensor(generator, n, h) * (0 if zero_state else 1)
    W_hh = random_tensor(generator, h, h)

    def reference():
        # With W_ih = I and b_h = 0 the library's layer reads the projection as its input.
        return rnn_layer_forward(projected, state, torch.eye(h, dtype=torch.float64), W_hh,
                                 torch.zeros(h, dtype=torch.float64))

    return call_case("q2", "rnn_loop", f"rnn_loop, {label}", (projected, state, W_hh), reference,
                     what=("outputs", "final state"), hidden=hidden, points=points)


Q2 = question(2, ("project_inputs", "rnn_loop"), public=lambda g: [
    project_inputs_case("T=5, n=2, d=3, h=4", g, 5, 2, 3, 4, hidden=False),
    rnn_loop_case("T=5, n=2, h=4", g, 5, 2, 4, hidden=False),
], hidden=lambda g: [
    project_inputs_case("T=1, n=1, d=6, h=2", g, 1, 1, 6, 2),
    project_inputs_case("T=9, n=3, d=5, h=7", g, 9, 3, 5, 7),
    rnn_loop_case("T=1, n=3, h=2", g, 1, 3, 2),
    rnn_loop_case("T=9, n=3, h=7", g, 9, 3, 7),
    rnn_loop_case("zero initial state, T=6", g, 6, 2, 3, zero_state=True),
])


# --- q3: predict the shapes ------------------------------------------------------------------------

def _lm_reference(batch_size, num_steps, vocab_size, hidden_size):
    with torch.random.fork_rng():
        model = RNNLMScratch(vocab_size, hidden_size)
        with torch.no_grad():
            logits, state = model(torch.zeros(batch_size, num_steps, dtype=torch.long))
    return tuple(logits.shape), tuple(state.shape), sum(p.numel() for p in model.parameters())


def lm_shapes_case(label: str, batch_size: int, num_steps: int, vocab_size: int, hidden_size: int,
                   part: str, *, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``lm_shapes(batch_size, num_steps, vocab_size, hidden_size)``; ``part`` is
    ``"shapes"`` (logits and final state) or ``"parameters"`` (the parameter count)."""
    args = (batch_size, num_steps, vocab_size, hidden_size)
    return call_case("q3", "lm_shapes", f"{part}, {label}", args, lambda: _lm_reference(*args),
                     what=("logits shape", "state shape", "number of parameters"),
                     form="a tuple (logits_shape, state_shape, num_parameters)",
                     items=(2,) if part == "parameters" else (0, 1), hidden=hidden, points=points)


Q3 = question(3, ("lm_shapes",), public=lambda g: [
    lm_shapes_case("batch 4, 10 steps, vocabulary 28, hidden 16", 4, 10, 28, 16, part, hidden=False)
    for part in ("shapes", "parameters")
], hidden=lambda g: [
    lm_shapes_case(f"batch {n}, {T} steps, vocabulary {q}, hidden {h}", n, T, q, h, part)
    for n, T, q, h in [(1, 7, 50, 3), (9, 2, 5, 30)] for part in ("shapes", "parameters")
])


# --- q4: the seed's module, fixed ------------------------------------------------------------------

def seed_rnn_case(label: str, generator: torch.Generator, T: int, n: int, d: int, h: int, out: int, *,
                  hidden: bool = True, points: float = 1.0) -> Case:
    """A test of the fixed ``SeedRNN(input_size, hidden_size, output_size)`` loaded with given weights.

    The module's parameters are float32 (``nn.Linear``'s default), so the inputs are float32 too.
    """
    bound = 1 / h ** 0.5
    shapes = {"i2h.weight": (h, d), "i2h.bias": (h,), "h2h.weight": (h, h), "h2h.bias": (h,),
              "h2o.weight": (out, h), "h2o.bias": (out,)}
    state = {k: random_tensor(generator, *shape, scale=bound).float() for k, shape in shapes.items()}
    x = random_tensor(generator, T, n, d).float()

    def reference():
        w = {k: v.double() for k, v in state.items()}
        hiddens, _ = rnn_layer_forward(x.double(), torch.zeros(n, h, dtype=torch.float64), w["i2h.weight"],
                                       w["h2h.weight"], w["i2h.bias"] + w["h2h.bias"])
        return torch.tanh(hiddens @ w["h2o.weight"].T + w["h2o.bias"]), hiddens

    request = Request("module", "SeedRNN", (x,), (d, h, out), tuple(state.items()))
    return judged_case("q4", label, request, reference, what=("outputs", "hidden states"), rtol=1e-5,
                       atol=1e-6, hidden=hidden, points=points)


Q4 = question(4, ("SeedRNN",), public=lambda g: [
    seed_rnn_case("T=5, n=2, input 4, hidden 3, output 2", g, 5, 2, 4, 3, 2, hidden=False),
], hidden=lambda g: [
    seed_rnn_case(f"T={T}, n={n}, input {d}, hidden {h}, output {q}", g, T, n, d, h, q)
    for T, n, d, h, q in [(1, 1, 2, 2, 1), (8, 3, 5, 6, 4), (3, 4, 3, 8, 3)]
])


# --- q5: a measurement -----------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _corpus():
    return load_corpus()


@functools.lru_cache(maxsize=64)
def reference_gradient_norm(W_hh_scale: float, num_steps: int) -> float:
    """The global gradient norm the question describes, computed with Chapter 1's library."""
    corpus = _corpus()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = RNNLMScratch(len(corpus.vocab), 64)
    with torch.no_grad():
        model.W_hh.mul_(W_hh_scale)
    ids = corpus.train[:8 * num_steps + 1]
    X, Y = ids[:-1].reshape(8, num_steps), ids[1:].reshape(8, num_steps)
    logits, _ = model(X)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
    loss.backward()
    return clip_gradients(list(model.parameters()), float("inf"))


def gradient_norm_case(W_hh_scale: float, num_steps: int, *, hidden: bool = True,
                       points: float = 1.0) -> Case:
    """A test of ``gradient_norm(W_hh_scale, num_steps)`` against the reference measurement."""
    return call_case("q5", "gradient_norm", f"gradient_norm({W_hh_scale}, {num_steps})",
                     (float(W_hh_scale), int(num_steps)),
                     lambda: reference_gradient_norm(W_hh_scale, num_steps),
                     what="gradient norm", rtol=1e-4, hidden=hidden, points=points)


TRENDS = ("grows", "shrinks", "stays about the same")
TREND_SCALES = (1.0, 3.0)


def _trends() -> tuple[str, ...]:
    """The right ``q5_trends``: how the gradient norm changes from 4 to 64 steps, at each scale."""
    norms = [[reference_gradient_norm(scale, T) for T in (4, 16, 64)] for scale in TREND_SCALES]
    return tuple("grows" if norm[-1] > 1.5 * norm[0] else "shrinks" if norm[-1] < norm[0] / 1.2
                 else "stays about the same" for norm in norms)


def _trend_cases(*, hidden: bool) -> list[Case]:
    return [choice_case("q5", "q5_trends", f"trend with W_hh scaled by {scale:g}", TRENDS, _trends,
                        what=f"trend at scale {scale:g}", hidden=hidden, index=index, size=len(TREND_SCALES))
            for index, scale in enumerate(TREND_SCALES)]


Q5 = question(5, ("gradient_norm", "q5_trends"), public=lambda g: [
    gradient_norm_case(1.0, 4, hidden=False), *_trend_cases(hidden=False),
], hidden=lambda g: [
    gradient_norm_case(1.0, 64), gradient_norm_case(3.0, 16), gradient_norm_case(2.0, 32),
    *_trend_cases(hidden=True),
])


EXERCISE_SET = ExerciseSet("01", "01_rnn_from_scratch.ipynb", "Recurrent networks from scratch",
                           [Q1, Q2, Q3, Q4, Q5])
check = EXERCISE_SET.check
