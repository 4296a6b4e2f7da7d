# %% [markdown] tags=["exercise-only"]
# (ex-bidirectional)=
# # Exercises: bidirectional recurrent networks
#
# Five graded questions on {ref}`chap-bidirectional`. Write your code where a cell says
# `# YOUR CODE HERE`, run it, then run the `check(...)` cell under it: the public checks say what
# was expected and what came back. When your notebook is graded, more tests run on other sizes and
# inputs (in float64, compared with the book's `rnnbook.GRU`, which equals `torch.nn.GRU`).

# %% [markdown] tags=["solution-only"]
# (sol-bidirectional)=
# # Solutions: bidirectional recurrent networks
#
# Reference solutions to {ref}`ex-bidirectional`, the graded exercises on
# {ref}`chap-bidirectional`.

# %%
import torch

import rnnbook
from rnnbook.cells import gru_cell

rnnbook.set_seed(0, num_threads=1)

# %% tags=["exercise-only"]
from rnnbook.grading.ch05 import check

# %% [markdown]
# ## Question 1: one bidirectional GRU layer
#
# Write `bigru_layer(inputs, h_0, forward_weights, backward_weights)`: a one-layer bidirectional
# GRU as `torch.nn.GRU(d, h, bidirectional=True)` computes it ({eq}`eq-birnn-forward` to
# {eq}`eq-birnn-output`). `inputs` is `(T, n, d)`, `h_0` `(2, n, h)` (forward first), and each
# weights argument is a tuple `(weight_ih, weight_hh, bias_ih, bias_hh)`. The backward direction
# reads the steps from last to first, and its state after reading step $t$ goes to position $t$ of
# the output. Return `(output, h_n)` with shapes `(T, n, 2h)` and `(2, n, h)`. Use
# `rnnbook.cells.gru_cell` for one step.
#
# Reading: {ref}`sec-two-chains` (the two directions, where each stores its states, and the output).

# %%
def bigru_layer(inputs, h_0, forward_weights, backward_weights):
    """A one-layer bidirectional GRU: (output (T, n, 2h), h_n (2, n, h))."""
    # BEGIN SOLUTION
    steps = inputs.unbind(0)  # one view per step (indexing inputs[t] would cost a full-size
    forward, backward = [], []  # zero tensor per step in the backward pass, Chapter 7)
    h = h_0[0]
    for x in steps:
        h = gru_cell(x, h, *forward_weights)
        forward.append(h)
    h_forward = h
    h = h_0[1]
    for x in reversed(steps):
        h = gru_cell(x, h, *backward_weights)
        backward.append(h)
    backward.reverse()  # aligned with the input: position t holds the state after reading step t
    output = torch.cat([torch.stack(forward), torch.stack(backward)], dim=-1)
    return output, torch.stack([h_forward, h])
    # END SOLUTION

# %% tags=["exercise-only"]
check("q1", bigru_layer=bigru_layer)

# %% [markdown] tags=["solution-only"]
# The two directions are two independent GRUs over the same inputs; only their outputs are joined,
# feature by feature, forward first. The backward final state is the one after reading step 0, so
# it sits at position 0 of the output, not at position $T-1$. Against `nn.GRU`:

# %% tags=["solution-only"]
gru = torch.nn.GRU(3, 5, bidirectional=True)
kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
weights = [tuple(getattr(gru, f"{kind}_l0{suffix}") for kind in kinds) for suffix in ("", "_reverse")]
inputs, h_0 = torch.randn(4, 2, 3), torch.randn(2, 2, 5)
with torch.no_grad():
    output, h_n = bigru_layer(inputs, h_0, *weights)
    expected_output, expected_h_n = gru(inputs, h_0)
print("equal to nn.GRU up to 1e-6:", torch.allclose(output, expected_output, atol=1e-6)
      and torch.allclose(h_n, expected_h_n, atol=1e-6))

# %% [markdown]
# ## Question 2: split `h_n` by direction
#
# For a bidirectional module with $L$ layers, `h_n` has shape `(2L, n, h)`. Write
# `split_h_n(h_n, num_layers)` returning `(forward, backward)`: the final states of every layer's
# forward direction and of every layer's backward direction, each of shape `(L, n, h)`, layer 0
# first. (Seed 002 quotes the documentation: `h_n.view(num_layers, num_directions, batch, hidden)`.)
#
# (Seed 002 is one of the five texts the book started from: forum threads and web
# pages in which learners ask about, and write, stacked and bidirectional RNNs in PyTorch.)
#
# Reading: {ref}`sec-final-state-order` (the order of layers and directions in `h_n`).

# %%
def split_h_n(h_n, num_layers):
    """(forward final states, backward final states) of every layer, each (L, n, h)."""
    # BEGIN SOLUTION
    view = h_n.view(num_layers, 2, *h_n.shape[1:])
    return view[:, 0], view[:, 1]
    # END SOLUTION

# %% tags=["exercise-only"]
check("q2", split_h_n=split_h_n)

# %% [markdown] tags=["solution-only"]
# The first dimension of `h_n` runs over layers and, inside each layer, over directions:
# `[layer 0 forward, layer 0 backward, layer 1 forward, ...]`. So `h_n[:L]` is *not* the forward
# directions (except for $L = 1$); viewing the first dimension as `(L, 2)` separates the two.

# %% [markdown]
# ## Question 3: predict the shapes
#
# Write `bidirectional_shapes(kind, T, n, d, h, L, batch_first)` returning, for
# `rnnbook.RNN`, `rnnbook.GRU` or `rnnbook.LSTM` (`kind` is `"RNN"`, `"GRU"` or `"LSTM"`) built
# with `(d, h, num_layers=L, bidirectional=True, batch_first=batch_first)` and fed an input of
# `T` steps and `n` sequences, the shapes of `(output, h_n, weight_ih_l0, weight_ih_l1_reverse)` as
# tuples of ints; the last one is `None` when `L == 1`. For an LSTM, `h_n` is the first tensor of
# its final state.
#
# Reading: {ref}`sec-two-chains` (the output's $2h$ features) and {ref}`sec-birnn-stacking` (why the
# layers above the first read $2h$ features).

# %%
def bidirectional_shapes(kind, T, n, d, h, L, batch_first):
    """Shapes of (output, h_n, weight_ih_l0, weight_ih_l1_reverse) of a bidirectional module."""
    # BEGIN SOLUTION
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    output = (n, T, 2 * h) if batch_first else (T, n, 2 * h)
    upper = None if L == 1 else (gates * h, 2 * h)  # layers above the first read both directions
    return output, (2 * L, n, h), (gates * h, d), upper
    # END SOLUTION

# %% tags=["exercise-only"]
check("q3", bidirectional_shapes=bidirectional_shapes)

# %% [markdown] tags=["solution-only"]
# `batch_first` changes only the input and `output`, never `h_n`. Layer $k > 0$ of a bidirectional
# stack reads the concatenated states of both directions of layer $k-1$, so its `weight_ih` has
# $2h$ columns (PyTorch's documentation: `(hidden_size, num_directions * hidden_size)`), and the
# gates multiply the rows. The modules agree:

# %% tags=["solution-only"]
model = rnnbook.LSTM(5, 4, num_layers=3, bidirectional=True, batch_first=True)
output, (h_n, c_n) = model(torch.zeros(2, 7, 5))
print(bidirectional_shapes("LSTM", 7, 2, 5, 4, 3, True))
print(tuple(output.shape), tuple(h_n.shape), tuple(model.weight_ih_l0.shape),
      tuple(model.weight_ih_l1_reverse.shape))

# %% [markdown]
# ## Question 4: find and fix the bug
#
# Seed 002 explains how `output` and `h_n` of a bidirectional, batch-first GRU relate, and ends
# with a recipe for the last layer's final states read from `output` alone. It is written below as
# a function; one of its two lines is wrong (the seed's "True" for it was not checked by running
# it). Fix it. `output` has shape `(n, T, 2H)`; return `(forward_final, backward_final)`, each
# `(n, H)`, equal to the last layer's forward and backward parts of `h_n`.
#
# Reading: {ref}`sec-two-chains` (where each direction's final state sits in the output).

# %%
def seed_final_states(output, H):
    forward_final = output[:, -1, :H]
    backward_final = output[:, -1, :H]  # EXERCISE
    # BEGIN SOLUTION NO PROMPT
    backward_final = output[:, 0, H:]  # the backward direction ends at step 0, in the second half
    # END SOLUTION
    return forward_final, backward_final

# %% tags=["exercise-only"]
check("q4", seed_final_states=seed_final_states)

# %% [markdown] tags=["solution-only"]
# The forward direction's final state is its state after the last step, in the first half of the
# features: `output[:, -1, :H]`. The backward direction reads the sequence from the end, so its
# final state is the one after reading step 0, and it is stored in the *second* half of the
# features: `output[:, 0, H:]`. The seed's `output[:, -1, :H]` is the forward state again; it
# cannot equal the backward part of `h_n`. Checked on a 3-layer module:

# %% tags=["solution-only"]
gru = rnnbook.GRU(2, 5, num_layers=3, bidirectional=True, batch_first=True)
with torch.no_grad():
    output, h_n = gru(torch.randn(4, 6, 2))
forward_final, backward_final = seed_final_states(output, 5)
last_layer = h_n.view(3, 2, 4, 5)[-1]
print(torch.equal(forward_final, last_layer[0]), torch.equal(backward_final, last_layer[1]))

# %% [markdown]
# ## Question 5: measure what each output depends on
#
# Complete `output_input_gradient(bidirectional, t_out, t_in)`: it builds a seeded
# `rnnbook.GRU(4, 8, bidirectional=bidirectional)` and a seeded input of 10 steps; compute the
# norm of the gradient of the sum of `output[t_out]` with respect to the input at step `t_in`, and
# return it as a float.
#
# Print it for `t_out = 2` and every `t_in`, for both models. Then set `q5_future` to a pair of
# strings, `"zero"` or `"nonzero"`, for the unidirectional and then the bidirectional model: is the
# gradient of output 2 with respect to input 7 (a *later* input) zero?
#
# Reading: {ref}`sec-what-outputs-see` (which inputs each output depends on) and
# {ref}`sec-no-forecasting` (what that means for predicting the next input).

# %%
def output_input_gradient(bidirectional, t_out, t_in):
    """Norm of d(sum of output[t_out]) / d(input at t_in) for a seeded GRU."""
    torch.manual_seed(0)
    model = rnnbook.GRU(4, 8, bidirectional=bidirectional)
    x = torch.randn(10, 1, 4, requires_grad=True)
    # BEGIN SOLUTION
    output, _ = model(x)
    output[t_out].sum().backward()
    return x.grad[t_in].norm().item()
    # END SOLUTION

# %% tags=["nbval-ignore-output"]
# YOUR CODE HERE: print the gradients of output 2  # EXERCISE
# BEGIN SOLUTION NO PROMPT
for bidirectional in (False, True):
    norms = [output_input_gradient(bidirectional, 2, t_in) for t_in in range(10)]
    print("bidirectional" if bidirectional else "unidirectional", " ".join(f"{v:.0e}" for v in norms))
# END SOLUTION

# %%
q5_future = ("zero", "nonzero")  # SOLUTION

# %% tags=["exercise-only"]
check("q5", output_input_gradient=output_input_gradient, q5_future=q5_future)

# %% [markdown] tags=["solution-only"]
# A unidirectional output at step $t$ is computed before any later input is read, so its gradient
# with respect to a later input is exactly zero, not merely small. The bidirectional output at
# step 2 includes the backward state, which has read steps 9 down to 2: every input influences it.
# This is why a bidirectional network cannot be used to forecast (see {ref}`chap-bidirectional`).
