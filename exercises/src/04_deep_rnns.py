# %% [markdown] tags=["exercise-only"]
# (ex-deep-rnns)=
# # Exercises: deep recurrent networks
#
# Five graded questions on {ref}`chap-deep-rnns`. Write your code where a cell says
# `# YOUR CODE HERE`, run it, then run the `check(...)` cell under it: the public checks say what
# was expected and what came back. When your notebook is graded, more tests run on other sizes and
# inputs (in float64, compared with the book's `rnnbook.GRU` and `rnnbook.LSTM`, equal to
# `torch.nn`).

# %% [markdown] tags=["solution-only"]
# (sol-deep-rnns)=
# # Solutions: deep recurrent networks
#
# Reference solutions to {ref}`ex-deep-rnns`, the graded exercises on {ref}`chap-deep-rnns`.

# %%
import torch

import rnnbook
from rnnbook.cells import gru_cell

rnnbook.set_seed(0, num_threads=1)

# %% tags=["exercise-only"]
from rnnbook.grading.ch04 import check

# %% [markdown]
# ## Question 1: predict the shapes of a stacked LSTM
#
# `rnnbook.LSTM(d, h, num_layers=L)` (equal to `torch.nn.LSTM`) reads an input of shape
# `(T, n, d)`. Write `lstm_shapes(T, n, d, h, L)` returning the shapes, as tuples of ints, of
# `(output, h_n, c_n, weight_ih_l0, weight_ih of the last layer)`. Work them out from the sizes.
#
# Reading: {ref}`sec-general-stack` (what each layer reads and stores) and {ref}`sec-pytorch-interface`
# (the shapes of `output`, `h_n` and the weights).

# %%
def lstm_shapes(T, n, d, h, L):
    """Shapes of (output, h_n, c_n, weight_ih_l0, weight_ih_l{L-1}) of an L-layer LSTM."""
    # BEGIN SOLUTION
    last_input = d if L == 1 else h
    return (T, n, h), (L, n, h), (L, n, h), (4 * h, d), (4 * h, last_input)
    # END SOLUTION

# %% tags=["exercise-only"]
check("q1", lstm_shapes=lstm_shapes)

# %% [markdown] tags=["solution-only"]
# `output` holds the last layer's state at every step; `h_n` and `c_n` hold every layer's state at
# the last step. The four gates stack four blocks of `h` rows, and every layer above the first reads
# a state of size `h`. The module agrees:

# %% tags=["solution-only"]
model = rnnbook.LSTM(3, 4, num_layers=2)
output, (h_n, c_n) = model(torch.zeros(5, 2, 3))
print(lstm_shapes(5, 2, 3, 4, 2))
print(tuple(output.shape), tuple(h_n.shape), tuple(c_n.shape), tuple(model.weight_ih_l0.shape),
      tuple(model.weight_ih_l1.shape))

# %% [markdown]
# ## Question 2: two layers, two states
#
# Seed 003 is a learner's two-layer network from d2l's discussion forum: a GRU layer (d2l's layout,
# `X @ W` with `W` of shape `(inputs, hidden)`, the reset gate applied *before* the product)
# under a tanh RNN layer, with an output layer on top. The learner wrote `H, = state` and
# `H1, = state`: both layers start from the same tensor, and only `(H,)` is returned, so the second
# layer's state is never carried from one call to the next. Fix `deep_gru` so that `state` is a
# pair `(H, H1)`, one initial state per layer, and it returns `(outputs, (H, H1))`. Keep the
# parameter order and everything else.
#
# Reading: {ref}`sec-two-layers-one-state` (this very mistake, and why each layer needs its own state).
#
# (Seed 003 is one of the five texts the book started from: forum threads and web
# pages in which learners ask about, and write, stacked and bidirectional RNNs in PyTorch.)

# %% tags=["exercise-only"]
def deep_gru(inputs, state, params):
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q, W_hh1, W_hh2, b_h1 = params
    H, = state
    H1, = state
    outputs = []
    for X in inputs:
        Z = torch.sigmoid((X @ W_xz) + (H @ W_hz) + b_z)
        R = torch.sigmoid((X @ W_xr) + (H @ W_hr) + b_r)
        H_tilda = torch.tanh((X @ W_xh) + ((R * H) @ W_hh) + b_h)
        H = Z * H + (1 - Z) * H_tilda
        H1 = torch.tanh((H @ W_hh1) + (H1 @ W_hh2) + b_h1)
        Y = H1 @ W_hq + b_q
        outputs.append(Y)
    return torch.cat(outputs, dim=0), (H,)

# %% tags=["solution-only"]
def deep_gru(inputs, state, params):
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q, W_hh1, W_hh2, b_h1 = params
    H, H1 = state  # one state per layer
    outputs = []
    for X in inputs:
        Z = torch.sigmoid((X @ W_xz) + (H @ W_hz) + b_z)
        R = torch.sigmoid((X @ W_xr) + (H @ W_hr) + b_r)
        H_tilda = torch.tanh((X @ W_xh) + ((R * H) @ W_hh) + b_h)
        H = Z * H + (1 - Z) * H_tilda
        H1 = torch.tanh((H @ W_hh1) + (H1 @ W_hh2) + b_h1)
        Y = H1 @ W_hq + b_q
        outputs.append(Y)
    return torch.cat(outputs, dim=0), (H, H1)  # both states, so that the next call can carry them

# %% tags=["exercise-only"]
check("q2", deep_gru=deep_gru)

# %% [markdown] tags=["solution-only"]
# A stacked network has one state per layer, and each must be carried separately: the first
# layer's state summarizes the inputs, the second layer's summarizes the first layer's states.
# Unpacking one state into both made the second layer start from the first layer's state, and
# returning `(H,)` dropped the second layer's state entirely, so the next window started it from
# whatever the caller passed for the first layer. (The same bug in the form of a shared state is
# "Mistake 3" of {ref}`chap-deep-rnns`.)

# %% [markdown]
# ## Question 3: a stacked GRU, equal to `nn.GRU`
#
# Write `stacked_gru(inputs, h_0, layers)`: the forward pass of an $L$-layer GRU with PyTorch's
# interface ({eq}`eq-deep-rnn`). `inputs` is `(T, n, d)`, `h_0` `(L, n, h)`, and `layers` has one
# tuple `(weight_ih, weight_hh, bias_ih, bias_hh)` per layer, bottom first. Return
# `(output, h_n)`, shapes `(T, n, h)` and `(L, n, h)`, equal to `torch.nn.GRU` with the same weights.
# You may use `rnnbook.cells.gru_cell` (imported above) for one step.
#
# Reading: {ref}`sec-layer-rule` (what layer $l$ reads at step $t$) and {ref}`sec-general-stack` (the
# loop over layers and steps).

# %%
def stacked_gru(inputs, h_0, layers):
    """An L-layer GRU: (output of the last layer at every step, final state of every layer)."""
    # BEGIN SOLUTION
    layer_input = inputs
    finals = []
    for state, (weight_ih, weight_hh, bias_ih, bias_hh) in zip(h_0, layers):
        outputs = []
        for x in layer_input:
            state = gru_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
            outputs.append(state)
        layer_input = torch.stack(outputs)  # this layer's states are the next layer's inputs
        finals.append(state)
    return layer_input, torch.stack(finals)
    # END SOLUTION

# %% tags=["exercise-only"]
check("q3", stacked_gru=stacked_gru)

# %% [markdown] tags=["solution-only"]
# Running one layer over the whole sequence before the next is the order in which `nn.GRU` (and
# cuDNN) computes a stack; step-by-step across layers gives the same numbers. Against
# `torch.nn.GRU`:

# %% tags=["solution-only"]
gru = torch.nn.GRU(3, 5, num_layers=2)
layers = [tuple(getattr(gru, f"{kind}_l{k}") for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
          for k in range(2)]
inputs, h_0 = torch.randn(4, 2, 3), torch.randn(2, 2, 5)
with torch.no_grad():
    output, h_n = stacked_gru(inputs, h_0, layers)
    expected_output, expected_h_n = gru(inputs, h_0)
print("equal to nn.GRU up to 1e-6:", torch.allclose(output, expected_output, atol=1e-6)
      and torch.allclose(h_n, expected_h_n, atol=1e-6))

# %% [markdown]
# ## Question 4: count the parameters of a stack
#
# Write `stack_parameter_count(kind, d, h, L, bidirectional)`: the number of parameters of
# `torch.nn.RNN`, `GRU` or `LSTM` (`kind` is `"RNN"`, `"GRU"` or `"LSTM"`) built with
# `(d, h, num_layers=L, bidirectional=bidirectional)`, as an int. Work it out from the sizes:
# every layer and direction has its own weights and both biases, and the layers above the first
# read the states of the layer below (of both its directions).
#
# Reading: {ref}`sec-pytorch-interface` (every layer's weights and biases) and
# {ref}`sec-bidirectional-layout` (what a bidirectional stack adds).

# %%
def stack_parameter_count(kind, d, h, L, bidirectional):
    """Number of parameters of an L-layer recurrent module, both biases included."""
    # BEGIN SOLUTION
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    D = 2 if bidirectional else 1
    total = 0
    for layer in range(L):
        layer_input = d if layer == 0 else D * h  # layer l > 0 reads both directions of layer l - 1
        total += D * G * h * (layer_input + h + 2)
    return total
    # END SOLUTION

# %% tags=["exercise-only"]
check("q4", stack_parameter_count=stack_parameter_count)

# %% [markdown] tags=["solution-only"]
# Layer 0 costs $D\,G\,h\,(d + h + 2)$; every layer above it costs $D\,G\,h\,(Dh + h + 2)$,
# which does not depend on $d$. So for a wide hidden layer the depth, not the input size,
# dominates the count. Against the module:

# %% tags=["solution-only"]
lstm = torch.nn.LSTM(28, 256, num_layers=3, bidirectional=True)
print(stack_parameter_count("LSTM", 28, 256, 3, True), sum(p.numel() for p in lstm.parameters()))

# %% [markdown]
# ## Question 5: measure the gradient through a deeper stack
#
# Complete `depth_gradient(num_layers)`: it builds a seeded `rnnbook.GRU(4, 16,
# num_layers=num_layers)` and a seeded input of shape `(20, 1, 4)`. Take the loss to be the sum
# of the last step's output, backpropagate, and return the norm of the gradient with respect to
# the *first* input step as a float.
#
# Print it for 1 to 4 layers. Then set `q5_trend` to `"larger"` or `"smaller"`: is the gradient
# that reaches the first input larger or smaller with 4 layers than with 1?
#
# Reading: {ref}`sec-bptt-deep` (Chapter 2: gradients along time and along depth).

# %%
def depth_gradient(num_layers):
    """Norm of dL/dx_1 for a seeded GRU stack, with L the sum of the last output."""
    torch.manual_seed(0)
    model = rnnbook.GRU(4, 16, num_layers=num_layers)
    x = torch.randn(20, 1, 4, requires_grad=True)
    # BEGIN SOLUTION
    output, _ = model(x)
    output[-1].sum().backward()
    return x.grad[0].norm().item()
    # END SOLUTION

# %% tags=["nbval-ignore-output"]
# YOUR CODE HERE: print the norms for 1 to 4 layers  # EXERCISE
# BEGIN SOLUTION NO PROMPT
for num_layers in range(1, 5):
    print(f"{num_layers} layer{'s' if num_layers > 1 else ' '}: {depth_gradient(num_layers):.1e}")
# END SOLUTION

# %%
q5_trend = "larger"  # SOLUTION

# %% tags=["exercise-only"]
check("q5", depth_gradient=depth_gradient, q5_trend=q5_trend)

# %% [markdown] tags=["solution-only"]
# With these seeds the gradient is larger with 4 layers than with 1, but it is not monotone in the
# depth (2 layers pass back less than 1). Depth adds paths: the last output depends on
# $\mathbf{x}_1$ through every way of climbing the $L$ layers during the 19 steps, and the size of
# their sum at initialization depends on the random weights more than on $L$. What depth does not
# do is shorten the way back in time: every path still crosses 19 time steps in some layer, so the
# gradient stays small (below $10^{-3}$ here) whatever the number of layers.
