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
from rnnbook.grading.judging import (
    compare_tensor,
    compare_tensors,
    compare_value,
    describe_answer,
    random_tensor,
    relative_close,
)
from rnnbook.grading.model import Case, ExerciseSet, Question, Request, Verdict
from rnnbook.scratch import RNNLMScratch, clip_gradients, rnn_layer_forward

__all__ = ["EXERCISE_SET", "rnn_step_case", "project_inputs_case", "rnn_loop_case", "lm_shapes_case",
           "seed_rnn_case", "gradient_norm_case", "reference_gradient_norm"]

PUBLIC_SEED = 0


def _public_generator() -> torch.Generator:
    return torch.Generator().manual_seed(PUBLIC_SEED)


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

    def judge(got):
        _, expected = rnn_layer_forward(X[None], H, W_ih, W_hh, b_h)
        return compare_tensor(expected, got, "H_t")

    return Case("q1", label, Request("call", "rnn_step", (X, H, W_ih, W_hh, b_h)), judge, points, hidden)


def _q1_public():
    return [rnn_step_case("n=2, d=3, h=4", _public_generator(), 2, 3, 4, hidden=False)]


def _q1_hidden(g):
    return [rnn_step_case("n=5, d=7, h=6", g, 5, 7, 6),
            rnn_step_case("n=1, d=1, h=1", g, 1, 1, 1),
            rnn_step_case("zero state and zero bias (only the input term)", g, 3, 4, 5,
                          zero_state=True, zero_bias=True),
            rnn_step_case("zero input (only the recurrent term and the bias)", g, 3, 4, 5, zero_input=True),
            rnn_step_case("large weights: tanh saturates", g, 4, 3, 2, scale=5.0)]


# --- q2: hoisting the input projection -------------------------------------------------------------

def project_inputs_case(label: str, generator: torch.Generator, T: int, n: int, d: int, h: int, *,
                        hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``project_inputs(inputs, W_ih, b_h)``: all steps' ``X_t W_ih^T + b_h`` at once."""
    inputs = random_tensor(generator, T, n, d)
    W_ih, b_h = random_tensor(generator, h, d), random_tensor(generator, h)

    def judge(got):
        return compare_tensor(inputs @ W_ih.T + b_h, got, "projected inputs")

    return Case("q2", f"project_inputs, {label}", Request("call", "project_inputs", (inputs, W_ih, b_h)),
                judge, points, hidden)


def rnn_loop_case(label: str, generator: torch.Generator, T: int, n: int, h: int, *, zero_state: bool = False,
                  hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``rnn_loop(projected, state, W_hh)``, which must return ``(outputs, final_state)``."""
    projected = random_tensor(generator, T, n, h, scale=2.0)
    state = random_tensor(generator, n, h) * (0 if zero_state else 1)
    W_hh = random_tensor(generator, h, h)

    def judge(got):
        # With W_ih = I and b_h = 0 the library's layer reads the projection as its input.
        expected = rnn_layer_forward(projected, state, torch.eye(h, dtype=torch.float64), W_hh,
                                     torch.zeros(h, dtype=torch.float64))
        return compare_tensors(expected, got, ("outputs", "final state"))

    return Case("q2", f"rnn_loop, {label}", Request("call", "rnn_loop", (projected, state, W_hh)),
                judge, points, hidden)


def _q2_public():
    g = _public_generator()
    return [project_inputs_case("T=5, n=2, d=3, h=4", g, 5, 2, 3, 4, hidden=False),
            rnn_loop_case("T=5, n=2, h=4", g, 5, 2, 4, hidden=False)]


def _q2_hidden(g):
    return [project_inputs_case("T=1, n=1, d=6, h=2", g, 1, 1, 6, 2),
            project_inputs_case("T=9, n=3, d=5, h=7", g, 9, 3, 5, 7),
            rnn_loop_case("T=1, n=3, h=2", g, 1, 3, 2),
            rnn_loop_case("T=9, n=3, h=7", g, 9, 3, 7),
            rnn_loop_case("zero initial state, T=6", g, 6, 2, 3, zero_state=True)]


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

    def judge(got):
        if not isinstance(got, tuple) or len(got) != 3:
            return Verdict(False, f"expected a tuple (logits_shape, state_shape, num_parameters), "
                                  f"got {describe_answer(got)}")
        logits_shape, state_shape, count = _lm_reference(*args)
        if part == "parameters":
            return compare_value(count, got[2], "number of parameters")
        a = compare_value(logits_shape, got[0], "logits shape")
        b = compare_value(state_shape, got[1], "state shape")
        return Verdict(a.passed and b.passed, f"{a.message}; {b.message}")

    return Case("q3", f"{part}, {label}", Request("call", "lm_shapes", args), judge, points, hidden)


def _q3_public():
    return [lm_shapes_case("batch 4, 10 steps, vocabulary 28, hidden 16", 4, 10, 28, 16, part, hidden=False)
            for part in ("shapes", "parameters")]


def _q3_hidden(g):
    sizes = [(1, 7, 50, 3), (9, 2, 5, 30)]
    return [lm_shapes_case(f"batch {n}, {T} steps, vocabulary {q}, hidden {h}", n, T, q, h, part)
            for n, T, q, h in sizes for part in ("shapes", "parameters")]


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

    def judge(got):
        w = {k: v.double() for k, v in state.items()}
        hiddens, _ = rnn_layer_forward(x.double(), torch.zeros(n, h, dtype=torch.float64), w["i2h.weight"],
                                       w["h2h.weight"], w["i2h.bias"] + w["h2h.bias"])
        outputs = torch.tanh(hiddens @ w["h2o.weight"].T + w["h2o.bias"])
        return compare_tensors((outputs, hiddens), got, ("outputs", "hidden states"), rtol=1e-5, atol=1e-6)

    request = Request("module", "SeedRNN", (x,), (d, h, out), tuple(state.items()))
    return Case("q4", label, request, judge, points, hidden)


def _q4_public():
    return [seed_rnn_case("T=5, n=2, input 4, hidden 3, output 2", _public_generator(), 5, 2, 4, 3, 2,
                          hidden=False)]


def _q4_hidden(g):
    return [seed_rnn_case("T=1, n=1, input 2, hidden 2, output 1", g, 1, 1, 2, 2, 1),
            seed_rnn_case("T=8, n=3, input 5, hidden 6, output 4", g, 8, 3, 5, 6, 4),
            seed_rnn_case("T=3, n=4, input 3, hidden 8, output 3", g, 3, 4, 3, 8, 3)]


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
    def judge(got):
        return relative_close(reference_gradient_norm(W_hh_scale, num_steps), got, "gradient norm", 1e-4)

    return Case("q5", f"gradient_norm({W_hh_scale}, {num_steps})",
                Request("call", "gradient_norm", (float(W_hh_scale), int(num_steps))), judge, points, hidden)


TRENDS = ("grows", "shrinks", "stays about the same")


def _trend_case(index: int, *, hidden: bool) -> Case:
    scale = (1.0, 3.0)[index]

    def judge(got):
        if not isinstance(got, tuple) or len(got) != 2 or not all(isinstance(t, str) for t in got):
            return Verdict(False, f"expected a tuple of two strings from {TRENDS}"
                                  f", got {describe_answer(got)}")
        if got[index] not in TRENDS:
            return Verdict(False, f"{got[index]!r} is not one of {TRENDS}")
        if not hidden:
            return Verdict(True, f"{got[index]!r} is one of the allowed answers (checked when graded)")
        norms = [reference_gradient_norm(scale, T) for T in (4, 16, 64)]
        right = "grows" if norms[-1] > 1.5 * norms[0] else "shrinks" if norms[-1] < norms[0] / 1.2 \
            else "stays about the same"
        return compare_value(right, got[index], f"trend at scale {scale:g}")

    label = f"trend with W_hh scaled by {scale:g}" + ("" if hidden else " (form only)")
    return Case("q5", label, Request("value", "q5_trends"), judge, 1.0 if hidden else 0.0, hidden)


def _q5_public():
    return [gradient_norm_case(1.0, 4, hidden=False), _trend_case(0, hidden=False),
            _trend_case(1, hidden=False)]


def _q5_hidden(g):
    return [gradient_norm_case(1.0, 64), gradient_norm_case(3.0, 16), gradient_norm_case(2.0, 32),
            _trend_case(0, hidden=True), _trend_case(1, hidden=True)]


EXERCISE_SET = ExerciseSet(
    id="01",
    notebook="01_rnn_from_scratch.ipynb",
    title="Recurrent networks from scratch",
    questions=[
        Question("q1", "Question 1 (rnn_step)", ("rnn_step",), _q1_public, _q1_hidden),
        Question("q2", "Question 2 (project_inputs, rnn_loop)", ("project_inputs", "rnn_loop"),
                 _q2_public, _q2_hidden),
        Question("q3", "Question 3 (lm_shapes)", ("lm_shapes",), _q3_public, _q3_hidden),
        Question("q4", "Question 4 (SeedRNN)", ("SeedRNN",), _q4_public, _q4_hidden),
        Question("q5", "Question 5 (gradient_norm, q5_trends)", ("gradient_norm", "q5_trends"),
                 _q5_public, _q5_hidden),
    ],
)
check = EXERCISE_SET.check
