# %% [markdown] tags=["exercise-only"]
# (ex-bptt)=
# # Exercises: backpropagation through time
#
# Five graded questions on {ref}`chap-bptt`. Write your code where a cell says
# `# YOUR CODE HERE`, run it, then run the `check(...)` cell under it: the public checks say what
# was expected and what came back. When your notebook is graded, more tests run on other sizes and
# inputs. Write the backward passes by hand: no `torch.autograd` and no `.backward()` in
# Questions 1 and 2 (the grader compares with the chapter's hand-written BPTT in float64, to a
# relative precision of about $10^{-6}$).

# %% [markdown] tags=["solution-only"]
# (sol-bptt)=
# # Solutions: backpropagation through time
#
# Reference solutions to {ref}`ex-bptt`, the graded exercises on {ref}`chap-bptt`.

# %%
import math

import torch

import rnnbook
from rnnbook.bptt import relative_error, rnn_backward, rnn_forward_with_cache

rnnbook.set_seed(0, num_threads=1)
torch.set_default_dtype(torch.float64)

# %% tags=["exercise-only"]
from rnnbook.grading.ch02 import check

# %% [markdown]
# ## Question 1: the backward pass of one step
#
# One step computes $\mathbf{H}_t = \tanh(\mathbf{A}_t)$ with
# $\mathbf{A}_t = \mathbf{X}_t\mathbf{W}_{ih}^\top + \mathbf{H}_{t-1}\mathbf{W}_{hh}^\top + \mathbf{b}_h$
# (rows are examples). Given the gradient `grad_H` $= \partial L/\partial \mathbf{H}_t$ `(n, h)`,
# the step's output `H` `(n, h)`, its input `X` `(n, d)`, the previous state `H_prev` `(n, h)`
# and the weights `W_ih` `(h, d)`, `W_hh` `(h, h)`, write `rnn_step_backward` returning the
# gradients `(grad_X, grad_H_prev, grad_W_ih, grad_W_hh, grad_b)`, each shaped like its variable.
# Use only `H` for the derivative of tanh (see {eq}`eq-bptt-jacobian`).
#
# Reading: {ref}`sec-bptt-gradients` (the Jacobian of one step, and the row form for a minibatch).

# %%
def rnn_step_backward(grad_H, H, X, H_prev, W_ih, W_hh):
    """Gradients of one tanh step: (grad_X, grad_H_prev, grad_W_ih, grad_W_hh, grad_b)."""
    # BEGIN SOLUTION
    grad_A = (1 - H ** 2) * grad_H  # through tanh: tanh'(a) = 1 - tanh(a)^2
    return grad_A @ W_ih, grad_A @ W_hh, grad_A.T @ X, grad_A.T @ H_prev, grad_A.sum(dim=0)
    # END SOLUTION

# %% tags=["exercise-only"]
check("q1", rnn_step_backward=rnn_step_backward)

# %% [markdown] tags=["solution-only"]
# Everything goes through $\partial L/\partial \mathbf{A}_t = (1 - \mathbf{H}_t^2) \odot
# \partial L/\partial \mathbf{H}_t$. From $\mathbf{A}_t = \mathbf{X}\mathbf{W}_{ih}^\top + \dots$
# the input gets $\partial L/\partial\mathbf{A}_t\,\mathbf{W}_{ih}$ `(n, d)`, the weight gets
# $(\partial L/\partial\mathbf{A}_t)^\top \mathbf{X}$ `(h, d)`, summed over the batch by the matrix
# product, and the bias gets the column sums. The same for the recurrent term with `H_prev`.

# %% [markdown]
# ## Question 2: BPTT for a whole layer
#
# Write `bptt(grad_hiddens, inputs, state, hiddens, W_ih, W_hh)`: the backward pass of
# `rnn_layer_forward`. `grad_hiddens` `(T, n, h)` is the gradient reaching each $\mathbf{H}_t$ from
# outside the recurrence (an output layer), `inputs` `(T, n, d)`, `state` $=\mathbf{H}_0$ `(n, h)`,
# `hiddens` the forward pass's states $\mathbf{H}_1..\mathbf{H}_T$ `(T, n, h)`. Return
# `(grad_inputs, grad_state, grad_W_ih, grad_W_hh, grad_b)`. Walk backwards in time; the gradient
# reaching $\mathbf{H}_t$ is its own plus the one coming back from $\mathbf{H}_{t+1}$
# ({eq}`eq-bptt-recurrence`). Your `rnn_step_backward` is a good building block.
#
# Reading: {ref}`sec-bptt-gradients` (the recurrence for the states' gradients and the sums for the
# weights) and {ref}`sec-bptt-by-hand` (`rnn_backward`, the same loop in code).

# %%
def bptt(grad_hiddens, inputs, state, hiddens, W_ih, W_hh):
    """Hand-written BPTT of one tanh layer: (grad_inputs, grad_state, grad_W_ih, grad_W_hh, grad_b)."""
    # BEGIN SOLUTION
    T = inputs.shape[0]
    grad_inputs = torch.zeros_like(inputs)
    grad_W_ih, grad_W_hh = torch.zeros_like(W_ih), torch.zeros_like(W_hh)
    grad_b = torch.zeros(W_hh.shape[0], dtype=W_hh.dtype)
    grad_next = torch.zeros_like(state)  # the gradient coming back from H_{t+1}
    for t in reversed(range(T)):
        H_prev = state if t == 0 else hiddens[t - 1]
        g_X, grad_next, g_W_ih, g_W_hh, g_b = rnn_step_backward(
            grad_hiddens[t] + grad_next, hiddens[t], inputs[t], H_prev, W_ih, W_hh)
        grad_inputs[t] = g_X
        grad_W_ih, grad_W_hh, grad_b = grad_W_ih + g_W_ih, grad_W_hh + g_W_hh, grad_b + g_b
    return grad_inputs, grad_next, grad_W_ih, grad_W_hh, grad_b
    # END SOLUTION

# %% tags=["exercise-only"]
check("q2", bptt=bptt)

# %% [markdown] tags=["solution-only"]
# The weights are shared by every step, so their gradients are sums over the steps
# ({eq}`eq-bptt-weights`); the state's gradient is the one that comes back out of step 1. Against
# the chapter's `rnn_backward` on random float64 data:

# %% tags=["solution-only"]
inputs, state = torch.randn(7, 3, 2), torch.randn(3, 4)
W_ih, W_hh, b_h = torch.randn(4, 2), torch.randn(4, 4) * 0.5, torch.randn(4)
hiddens, cache = rnn_forward_with_cache(inputs, state, W_ih, W_hh, b_h)
grad_hiddens = torch.randn(7, 3, 4)
ours = bptt(grad_hiddens, inputs, state, hiddens, W_ih, W_hh)
library = rnn_backward(grad_hiddens, cache)
for name, a, b in zip(("inputs", "state", "W_ih", "W_hh", "b"), ours,
                      (library.inputs, library.state, library.weight_ih, library.weight_hh, library.bias)):
    print(f"{name:6s} relative error below 1e-12: {relative_error(a, b) < 1e-12}")

# %% [markdown]
# ## Question 3: predict the gradient shapes of a stack
#
# A stack of tanh RNN layers with hidden sizes `hidden_sizes` (bottom first) reads inputs of shape
# `(T, n, d)`. Layer $l$'s input is the output of layer $l-1$. Write
# `stacked_gradient_shapes(T, n, d, hidden_sizes)` returning
# `(weight_ih_shapes, weight_hh_shapes, input_gradient_shape)`: a tuple with the shape of the
# gradient of every layer's $\mathbf{W}_{ih}$, the same for $\mathbf{W}_{hh}$, and the shape of
# $\partial L/\partial \mathbf{X}$. Shapes are tuples of ints. Work it out from the sizes.
#
# Reading: {ref}`sec-bptt-deep` (what each layer's weights multiply in a stack).

# %%
def stacked_gradient_shapes(T, n, d, hidden_sizes):
    """Shapes of the gradients of a stack: (weight_ih shapes, weight_hh shapes, dL/dX shape)."""
    # BEGIN SOLUTION
    inputs_of_layer = (d, *hidden_sizes[:-1])
    weight_ih_shapes = tuple((h, below) for h, below in zip(hidden_sizes, inputs_of_layer))
    weight_hh_shapes = tuple((h, h) for h in hidden_sizes)
    return weight_ih_shapes, weight_hh_shapes, (T, n, d)
    # END SOLUTION

# %% tags=["exercise-only"]
check("q3", stacked_gradient_shapes=stacked_gradient_shapes)

# %% [markdown] tags=["solution-only"]
# A gradient has the shape of its variable. Layer $l$'s $\mathbf{W}_{ih}$ maps the layer below's
# state (size $h_{l-1}$, or $d$ for the first layer) to $h_l$, so it is $h_l \times h_{l-1}$: the
# first layer is the only one whose input weights depend on $d$ (seed 000 quotes the same rule from
# PyTorch's documentation for `weight_ih_l[k]`). Neither $T$ nor $n$ appears in a weight's shape.
#
# (Seed 000 is one of the five texts the book started from: forum threads and web
# pages in which learners ask about, and write, stacked and bidirectional RNNs in PyTorch.)

# %% [markdown]
# ## Question 4: fix the stacked forward pass
#
# Seed 000 quotes the pseudo-code of PyTorch's documentation for a multi-layer `nn.RNN`, written
# as a function below. It has three bugs. It feeds `x[t]` to *every* layer (so it fails unless
# $d = h$, and is wrong when it runs); it writes the new states into `h_t[layer]` in place, where
# `h_t` *is* the caller's `h_0`, so autograd cannot backpropagate through it (the seed's learner
# got "one of the variables needed for gradient computation has been modified by an inplace
# operation"); and `output.append(h_t[-1])` stores a view that the next steps overwrite.
# Fix it: layer $l > 0$ reads layer $l-1$'s new state, nothing is modified in place, and it returns
# `(output, h_n)` with shapes `(T, n, h)` and `(L, n, h)` exactly as `nn.RNN(d, h, num_layers=L)`.
# `weight_ih` etc. are tuples with one tensor per layer (`weight_ih[0]` is `(h, d)`, the others
# `(h, h)`).
#
# Reading: {ref}`sec-bptt-deep` (the equations of a two-layer stack: layer 2 reads layer 1's new
# state).

# %% tags=["exercise-only"]
def stacked_forward(x, h_0, weight_ih, weight_hh, bias_ih, bias_hh):
    seq_len, batch_size, _ = x.size()
    num_layers = len(weight_ih)
    h_t_minus_1 = h_0
    h_t = h_0
    output = []
    for t in range(seq_len):
        for layer in range(num_layers):
            h_t[layer] = torch.tanh(
                x[t] @ weight_ih[layer].T
                + bias_ih[layer]
                + h_t_minus_1[layer] @ weight_hh[layer].T
                + bias_hh[layer]
            )
        output.append(h_t[-1])
        h_t_minus_1 = h_t
    output = torch.stack(output)
    return output, h_t

# %% tags=["solution-only"]
def stacked_forward(x, h_0, weight_ih, weight_hh, bias_ih, bias_hh):
    num_layers = len(weight_ih)
    states = list(h_0)  # one (n, h) tensor per layer; h_0 itself is never written
    output = []
    for x_t in x:
        layer_input = x_t
        for layer in range(num_layers):
            states[layer] = torch.tanh(layer_input @ weight_ih[layer].T + bias_ih[layer]
                                       + states[layer] @ weight_hh[layer].T + bias_hh[layer])
            layer_input = states[layer]  # the next layer reads this layer's new state
        output.append(layer_input)
    return torch.stack(output), torch.stack(states)

# %% tags=["exercise-only"]
check("q4", stacked_forward=stacked_forward)

# %% [markdown] tags=["solution-only"]
# `states[layer] = ...` rebinds an entry of a Python list to a new tensor, where `h_t[layer] = ...`
# wrote into the memory of a tensor that autograd had saved for the backward pass. The new state
# of layer $l$ becomes the input of layer $l+1$ at the same step, so `weight_ih[l]` for $l > 0$ is
# $h \times h$, as the documentation's shapes say. It now matches `nn.RNN` with the same weights,
# and autograd goes through it:

# %% tags=["solution-only"]
rnn = torch.nn.RNN(3, 5, num_layers=2)
weights = [tuple(getattr(rnn, f"{kind}_l{layer}") for layer in range(2))
           for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
x, h_0 = torch.randn(4, 2, 3), torch.randn(2, 2, 5)
output, h_n = stacked_forward(x, h_0, *weights)
expected_output, expected_h_n = rnn(x, h_0)
output.sum().backward()
print("equal to nn.RNN up to 1e-12:", torch.allclose(output, expected_output, rtol=0, atol=1e-12)
      and torch.allclose(h_n, expected_h_n, rtol=0, atol=1e-12))
print("weight_ih_l1 has a gradient:", rnn.weight_ih_l1.grad is not None)

# %% [markdown]
# ## Question 5: measure vanishing and exploding gradients
#
# Write `input_gradient_norms(inputs, state, W_ih, W_hh, b)`: for a one-layer tanh RNN, the norm of
# $\partial L/\partial \mathbf{X}_t$ for every step $t$, where $L$ is the sum of the entries of the
# last state $\mathbf{H}_T$; return a tensor of shape `(T,)` (the norm of each `(n, d)` slice).
# Use your `bptt` or the chapter's `rnn_backward`.
#
# Then measure: `make_rnn(scale)` below builds a network whose $\mathbf{W}_{hh}$ is `scale` times a
# random orthogonal matrix, with $T = 30$. For each scale in `(0.5, 1.0, 2.0, 4.0)` compute the
# ratio `norms[0] / norms[-1]` (how much of the gradient reaches the first input, relative to the
# last) and print it. Set `q5_classes` to one string per scale, in order: `"vanishes"` if the
# ratio is below $10^{-3}$, `"explodes"` if it is above $10^{3}$, `"neither"` otherwise.
#
# Reading: {ref}`sec-vanishing-exploding` (the bound on a product of step Jacobians, and the same
# measurement on a larger network).

# %%
def make_rnn(W_hh_scale, T=30):
    g = torch.Generator().manual_seed(0)
    W_ih = torch.randn(16, 4, generator=g) * 0.5
    Q, _ = torch.linalg.qr(torch.randn(16, 16, generator=g))
    inputs = torch.randn(T, 1, 4, generator=g)
    state, b = torch.zeros(1, 16), torch.zeros(16)
    return inputs, state, W_ih, W_hh_scale * Q, b


def input_gradient_norms(inputs, state, W_ih, W_hh, b):
    """Norms of dL/dX_t for t = 1..T, with L the sum of the entries of the last state."""
    # BEGIN SOLUTION
    hiddens, cache = rnn_forward_with_cache(inputs, state, W_ih, W_hh, b)
    grad_hiddens = torch.zeros_like(hiddens)
    grad_hiddens[-1] = 1.0
    grad_inputs = rnn_backward(grad_hiddens, cache).inputs
    return grad_inputs.flatten(1).norm(dim=1)
    # END SOLUTION

# %%
# YOUR CODE HERE: print the ratio for every scale  # EXERCISE
# BEGIN SOLUTION NO PROMPT
for scale in (0.5, 1.0, 2.0, 4.0):
    norms = input_gradient_norms(*make_rnn(scale))
    ratio = (norms[0] / norms[-1]).item()
    print(f"scale {scale}: norms[0] / norms[-1] is about 10^{round(math.log10(ratio))}")
# END SOLUTION

# %%
q5_classes = ("vanishes", "vanishes", "neither", "explodes")  # SOLUTION

# %% tags=["exercise-only"]
check("q5", input_gradient_norms=input_gradient_norms, q5_classes=q5_classes)

# %% [markdown] tags=["solution-only"]
# Each step back multiplies the gradient by $\mathbf{W}_{hh}^\top\operatorname{diag}(1 -
# \mathbf{h}_t^2)$ ({eq}`eq-bptt-jacobian`). An orthogonal $\mathbf{W}_{hh}$ alone would keep the
# norm; the tanh derivative, below 1, shrinks it, so even at scale 1 almost nothing of the
# gradient reaches the first input after 29 steps. At scale 0.5 both factors shrink it. At scale 2
# the growth of $\mathbf{W}_{hh}$ and the shrinking of the saturating tanh roughly cancel, and at
# scale 4 the gradient reaching the first input is many orders of magnitude larger than the
# last one's: it explodes, which is what clipping is for.
