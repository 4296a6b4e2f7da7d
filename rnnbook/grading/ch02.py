"""Exercise set 2: backpropagation through time (questions, tests and reference answers).

The notebook is ``exercises/02_bptt.ipynb``, generated from ``exercises/src/02_bptt.py``. Every
reference answer is computed here with the hand-written BPTT of Chapter 2 (:mod:`rnnbook.bptt`).

Questions: (q1) the backward pass of one tanh step; (q2) BPTT for a whole layer; (q3) predict
the gradient shapes of a stacked RNN; (q4) fix the stacked forward pass of seed 000 (PyTorch's
documentation pseudo-code), whose backward pass fails; (q5) measure how the gradient reaching
early inputs vanishes or explodes with the scale of W_hh.
"""

from __future__ import annotations

import functools

import torch

from rnnbook.bptt import (
    RNNCache,
    rnn_backward,
    rnn_forward_with_cache,
    stacked_rnn_backward,
    stacked_rnn_forward_with_cache,
)
from rnnbook.grading.inputs import random_tensor
from rnnbook.grading.judging import call_case, choice_case, judged_case, question, question_from_builder
from rnnbook.grading.model import Case, ExerciseSet, Request

__all__ = ["EXERCISE_SET", "step_backward_case", "bptt_case", "stacked_shapes_case", "stacked_forward_case",
           "input_gradient_norms_case", "make_rnn", "reference_classes"]

GRAD_NAMES = ("grad_X", "grad_H_prev", "grad_W_ih", "grad_W_hh", "grad_b")
BPTT_NAMES = ("grad_inputs", "grad_state", "grad_W_ih", "grad_W_hh", "grad_b")


def _rnn_layer(generator, d, h, *, scale=1.0):
    """Random ``(W_ih, W_hh, b)`` of a tanh layer."""
    return (random_tensor(generator, h, d, scale=scale), random_tensor(generator, h, h, scale=scale),
            random_tensor(generator, h, scale=scale))


# --- q1: one step backward -------------------------------------------------------------------------

def step_backward_case(label: str, generator: torch.Generator, n: int, d: int, h: int, *, scale: float = 1.0,
                       linear: bool = False, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``rnn_step_backward(grad_H, H, X, H_prev, W_ih, W_hh)``; ``linear=True`` makes the
    pre-activation zero (so tanh' = 1), ``scale`` saturates tanh."""
    X, H_prev = random_tensor(generator, n, d), random_tensor(generator, n, h)
    W_ih, W_hh, b = _rnn_layer(generator, d, h, scale=scale)
    if linear:
        X, H_prev, b = X * 0, H_prev * 0, b * 0
    H = torch.tanh(X @ W_ih.T + H_prev @ W_hh.T + b)
    grad_H = random_tensor(generator, n, h)

    def reference():
        g = rnn_backward(grad_H[None], RNNCache(X[None], H_prev, H[None], W_ih, W_hh))
        return g.inputs[0], g.state, g.weight_ih, g.weight_hh, g.bias

    return call_case("q1", "rnn_step_backward", label, (grad_H, H, X, H_prev, W_ih, W_hh), reference,
                     what=GRAD_NAMES, hidden=hidden, points=points)


Q1 = question_from_builder(1, ("rnn_step_backward",), step_backward_case,
                           public=[("n=2, d=3, h=4", 2, 3, 4)],
                           hidden=[("n=1, d=1, h=1", 1, 1, 1), ("n=4, d=6, h=5", 4, 6, 5),
                                   ("zero pre-activation (tanh' = 1)", 3, 2, 4, {"linear": True}),
                                   ("large weights: tanh saturates", 3, 4, 2, {"scale": 4.0})])


# --- q2: BPTT for a layer --------------------------------------------------------------------------

def bptt_case(label: str, generator: torch.Generator, T: int, n: int, d: int, h: int, *,
              last_step_only: bool = False, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``bptt(grad_hiddens, inputs, state, hiddens, W_ih, W_hh)``."""
    inputs, state = random_tensor(generator, T, n, d), random_tensor(generator, n, h)
    W_ih, W_hh, b = _rnn_layer(generator, d, h)
    hiddens, cache = rnn_forward_with_cache(inputs, state, W_ih, W_hh, b)
    grad_hiddens = random_tensor(generator, T, n, h)
    if last_step_only:
        grad_hiddens[:-1] = 0

    def reference():
        g = rnn_backward(grad_hiddens, cache)
        return g.inputs, g.state, g.weight_ih, g.weight_hh, g.bias

    return call_case("q2", "bptt", label, (grad_hiddens, inputs, state, hiddens, W_ih, W_hh), reference,
                     what=BPTT_NAMES, hidden=hidden, points=points)


Q2 = question(2, ("bptt",), public=lambda g: [
    bptt_case("T=4, n=2, d=3, h=5", g, 4, 2, 3, 5, hidden=False),
], hidden=lambda g: [
    bptt_case("T=1, n=3, d=2, h=4", g, 1, 3, 2, 4),
    bptt_case("T=8, n=3, d=2, h=4", g, 8, 3, 2, 4),
    bptt_case("loss at the last step only, T=6", g, 6, 2, 3, 3, last_step_only=True),
    bptt_case("T=25, n=1, d=1, h=6", g, 25, 1, 1, 6),
])


# --- q3: shapes of a stack's gradients -------------------------------------------------------------

def _stacked_reference_shapes(T, n, d, hidden_sizes):
    g = torch.Generator().manual_seed(0)
    sizes = [d, *hidden_sizes]
    layers = [_rnn_layer(g, sizes[i], sizes[i + 1]) for i in range(len(hidden_sizes))]
    states = [random_tensor(g, n, h) for h in hidden_sizes]
    top, caches = stacked_rnn_forward_with_cache(random_tensor(g, T, n, d), states, layers)
    grads = stacked_rnn_backward(torch.ones_like(top), caches)
    return (tuple(tuple(x.weight_ih.shape) for x in grads), tuple(tuple(x.weight_hh.shape) for x in grads),
            tuple(grads[0].inputs.shape))


def stacked_shapes_case(label: str, T: int, n: int, d: int, hidden_sizes: tuple[int, ...], *,
                        hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``stacked_gradient_shapes(T, n, d, hidden_sizes)``."""
    return call_case("q3", "stacked_gradient_shapes", label, (T, n, d, tuple(hidden_sizes)),
                     lambda: _stacked_reference_shapes(T, n, d, hidden_sizes),
                     what=("weight_ih gradients", "weight_hh gradients", "input gradient"),
                     form="a tuple (weight_ih shapes, weight_hh shapes, input-gradient shape)",
                     hidden=hidden, points=points)


Q3 = question(3, ("stacked_gradient_shapes",), public=lambda g: [
    stacked_shapes_case("T=5, n=2, d=3, hidden sizes (4, 6)", 5, 2, 3, (4, 6), hidden=False),
], hidden=lambda g: [
    stacked_shapes_case("T=1, n=1, d=7, one layer of 2", 1, 1, 7, (2,)),
    stacked_shapes_case("T=3, n=4, d=2, hidden sizes (5, 3, 8)", 3, 4, 2, (5, 3, 8)),
    stacked_shapes_case("T=9, n=2, d=6, hidden sizes (6, 6)", 9, 2, 6, (6, 6)),
])


# --- q4: the stacked forward pass of seed 000 ------------------------------------------------------

def _stacked_weights(generator, L, d, h):
    weight_ih = tuple(random_tensor(generator, h, d if layer == 0 else h) for layer in range(L))
    weight_hh = tuple(random_tensor(generator, h, h) for _ in range(L))
    bias_ih = tuple(random_tensor(generator, h) for _ in range(L))
    bias_hh = tuple(random_tensor(generator, h) for _ in range(L))
    return weight_ih, weight_hh, bias_ih, bias_hh


def _stacked_reference(x, h_0, weight_ih, weight_hh, bias_ih, bias_hh):
    layers = [(wi, wh, bi + bh) for wi, wh, bi, bh in zip(weight_ih, weight_hh, bias_ih, bias_hh)]
    top, caches = stacked_rnn_forward_with_cache(x, list(h_0), layers)
    return top, torch.stack([c.hiddens[-1] for c in caches]), caches


def stacked_forward_case(label: str, generator: torch.Generator, L: int, T: int, n: int, d: int, h: int, *,
                         gradient: bool = False, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``stacked_forward(x, h_0, weight_ih, weight_hh, bias_ih, bias_hh)``: its outputs
    ``(output, h_n)`` or, with ``gradient=True``, the gradients autograd computes through it."""
    x, h_0 = random_tensor(generator, T, n, d), random_tensor(generator, L, n, h)
    args = (x, h_0, *_stacked_weights(generator, L, d, h))
    if not gradient:
        return call_case("q4", "stacked_forward", label, args, lambda: _stacked_reference(*args)[:2],
                         what=("output", "h_n"), hidden=hidden, points=points)
    cotangents = (random_tensor(generator, T, n, h), random_tensor(generator, L, n, h))

    def reference():
        grads = stacked_rnn_backward(cotangents[0], _stacked_reference(*args)[2], list(cotangents[1]))
        return (grads[0].inputs, torch.stack([g.state for g in grads]), *(g.weight_ih for g in grads),
                *(g.weight_hh for g in grads), *(g.bias for g in grads), *(g.bias for g in grads))

    kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    names = ("dL/dx", "dL/dh_0", *(f"dL/d{kind}[{layer}]" for kind in kinds for layer in range(L)))
    request = Request("grad", "stacked_forward", args, wrt=(0, 1, 2, 3, 4, 5), cotangents=cotangents)
    return judged_case("q4", label, request, reference, what=names, hidden=hidden, points=points,
                       symptoms=(INPLACE_SYMPTOM,))


# Seed 000's bug: writing each layer's new state into one tensor in place.
INPLACE_SYMPTOM = ("modified by an inplace operation",
                   "a tensor that autograd saved for the backward pass was overwritten in place (for "
                   "example h_t[layer] = ... on a tensor the forward pass reads); keep each new state "
                   "as a new tensor and build h_n with torch.stack at the end.")


Q4 = question(4, ("stacked_forward",), public=lambda g: [
    stacked_forward_case("2 layers, T=4, n=2, d=3, h=5", g, 2, 4, 2, 3, 5, hidden=False),
    stacked_forward_case("gradients, 2 layers, T=4, n=2, d=3, h=5", g, 2, 4, 2, 3, 5, gradient=True,
                         hidden=False),
], hidden=lambda g: [
    stacked_forward_case("3 layers, d = h = 4, T=5", g, 3, 5, 3, 4, 4),
    stacked_forward_case("1 layer, T=6, n=2, d=2, h=3", g, 1, 6, 2, 2, 3),
    stacked_forward_case("gradients, 3 layers, T=3, n=1, d=2, h=4", g, 3, 3, 1, 2, 4, gradient=True),
])


# --- q5: measuring vanishing and exploding gradients -----------------------------------------------

def _input_gradient_norms(inputs, state, W_ih, W_hh, b):
    hiddens, cache = rnn_forward_with_cache(inputs, state, W_ih, W_hh, b)
    grad_hiddens = torch.zeros_like(hiddens)
    grad_hiddens[-1] = 1  # the loss is the sum of the last state's entries
    return rnn_backward(grad_hiddens, cache).inputs.flatten(1).norm(dim=1)


def input_gradient_norms_case(label: str, generator: torch.Generator, T: int, n: int, d: int, h: int,
                              scale: float, *, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``input_gradient_norms(inputs, state, W_ih, W_hh, b)``."""
    inputs, state = random_tensor(generator, T, n, d), random_tensor(generator, n, h)
    args = (inputs, state, random_tensor(generator, h, d), random_tensor(generator, h, h, scale=scale),
            random_tensor(generator, h))
    return call_case("q5", "input_gradient_norms", label, args, lambda: _input_gradient_norms(*args),
                     what="norms", rtol=1e-6, atol=1e-12, hidden=hidden, points=points)


def make_rnn(W_hh_scale: float, T: int = 30):
    """The measurement's network, exactly as the exercise notebook builds it."""
    g = torch.Generator().manual_seed(0)
    W_ih = torch.randn(16, 4, generator=g, dtype=torch.float64) * 0.5
    Q, _ = torch.linalg.qr(torch.randn(16, 16, generator=g, dtype=torch.float64))
    inputs = torch.randn(T, 1, 4, generator=g, dtype=torch.float64)
    state, b = torch.zeros(1, 16, dtype=torch.float64), torch.zeros(16, dtype=torch.float64)
    return inputs, state, W_ih, W_hh_scale * Q, b


SCALES = (0.5, 1.0, 2.0, 4.0)
CLASSES = ("vanishes", "explodes", "neither")


@functools.lru_cache(maxsize=1)
def reference_classes() -> tuple[str, ...]:
    classes = []
    for scale in SCALES:
        norms = _input_gradient_norms(*make_rnn(scale))
        ratio = float(norms[0] / norms[-1])
        classes.append("vanishes" if ratio < 1e-3 else "explodes" if ratio > 1e3 else "neither")
    return tuple(classes)


def _classes_cases(*, hidden: bool) -> list[Case]:
    return [choice_case("q5", "q5_classes", f"the gradient with W_hh scaled by {scale:g}", CLASSES,
                        reference_classes, what=f"scale {scale:g}", hidden=hidden, index=index,
                        size=len(SCALES))
            for index, scale in enumerate(SCALES)]


Q5 = question(5, ("input_gradient_norms", "q5_classes"), public=lambda g: [
    input_gradient_norms_case("T=6, n=2, d=3, h=4", g, 6, 2, 3, 4, 1.0, hidden=False),
    *_classes_cases(hidden=False),
], hidden=lambda g: [
    input_gradient_norms_case("T=1, n=1, d=2, h=3", g, 1, 1, 2, 3, 1.0),
    input_gradient_norms_case("T=20, n=3, d=2, h=5, small W_hh", g, 20, 3, 2, 5, 0.3),
    *_classes_cases(hidden=True),
])


EXERCISE_SET = ExerciseSet("02", "02_bptt.ipynb", "Backpropagation through time", [Q1, Q2, Q3, Q4, Q5])
check = EXERCISE_SET.check
