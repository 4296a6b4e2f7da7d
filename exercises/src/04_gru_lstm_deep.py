# %% [markdown] tags=["exercise-only"]
# (ex-gru-lstm-deep)=
# # Exercises: GRU, LSTM and deep recurrent networks
#
# Six graded questions on {ref}`chap-gru-lstm` and {ref}`chap-deep-rnns`. Write your code where a
# cell says `# YOUR CODE HERE`, run it, then run the `check(...)` cell under it: the public checks
# say what was expected and what came back. When your notebook is graded, more tests run on other
# sizes and inputs (in float64, compared with the book's `rnnbook.cells` and `rnnbook.GRU`).

# %% [markdown] tags=["solution-only"]
# (sol-gru-lstm-deep)=
# # Solutions: GRU, LSTM and deep recurrent networks
#
# Reference solutions to {ref}`ex-gru-lstm-deep`, the graded exercises on {ref}`chap-gru-lstm`
# and {ref}`chap-deep-rnns`.

# %%
import torch

import rnnbook
from rnnbook.cells import gru_cell

rnnbook.set_seed(0, num_threads=1)

# %% tags=["exercise-only"]
from rnnbook.grading.ch04 import check

# %% [markdown]
# ## Question 1: one GRU step
#
# Write `gru_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)`, one step of a GRU exactly as
# `torch.nn.GRUCell` computes it ({eq}`eq-gru-r` to {eq}`eq-gru-h`): the rows of `weight_ih`
# `(3h, d)` and `weight_hh` `(3h, h)` hold the reset gate, the update gate and the candidate, in
# that order, and the reset gate multiplies the recurrent term *after* its matrix product and
# bias. `x` is `(n, d)`, `h` `(n, h)`; return the new state `(n, h)`. Do not call
# `rnnbook.cells.gru_cell`: write it.

# %%
def gru_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """One GRU step in PyTorch's form (gates r, z, n); returns the new state (n, h)."""
    # BEGIN SOLUTION
    x_r, x_z, x_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=1)
    h_r, h_z, h_n = (h @ weight_hh.T + bias_hh).chunk(3, dim=1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h
    # END SOLUTION

# %% tags=["exercise-only"]
check("q1", gru_step=gru_step)

# %% [markdown] tags=["solution-only"]
# Each projection gives the three gates' pre-activations side by side, and `chunk(3, dim=1)` cuts
# them apart. The reset gate multiplies `h_n`, which already contains `b_hn`: that is PyTorch's
# form, which differs from the form of {cite}`cho2014learning` only through that bias. The new state
# keeps the fraction `z` of the old one.

# %% [markdown]
# ## Question 2: one LSTM step
#
# Write `lstm_step(x, state, weight_ih, weight_hh, bias_ih, bias_hh)`, one step of an LSTM as
# `torch.nn.LSTMCell` computes it ({eq}`eq-lstm-gates` to {eq}`eq-lstm-h`): `state` is the pair
# `(h, c)`, the gates are stacked in the order input, forget, cell candidate, output (`(4h, d)` and
# `(4h, h)` weights). Return the new pair `(h, c)`.

# %%
def lstm_step(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTM step in PyTorch's form (gates i, f, g, o); returns the new (h, c)."""
    # BEGIN SOLUTION
    h, c = state
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c
    # END SOLUTION

# %% tags=["exercise-only"]
check("q2", lstm_step=lstm_step)

# %% [markdown] tags=["solution-only"]
# Three gates are sigmoids and the candidate `g` is a tanh; the cell state is updated additively
# (keep `f` of the old, add `i` of the new) and the hidden state is a gated view of it.

# %% [markdown]
# ## Question 3: predict the shapes of a stacked LSTM
#
# `rnnbook.LSTM(d, h, num_layers=L)` (equal to `torch.nn.LSTM`) reads an input of shape
# `(T, n, d)`. Write `lstm_shapes(T, n, d, h, L)` returning the shapes, as tuples of ints, of
# `(output, h_n, c_n, weight_ih_l0, weight_ih of the last layer)`. Work them out from the sizes.

# %%
def lstm_shapes(T, n, d, h, L):
    """Shapes of (output, h_n, c_n, weight_ih_l0, weight_ih_l{L-1}) of an L-layer LSTM."""
    # BEGIN SOLUTION
    last_input = d if L == 1 else h
    return (T, n, h), (L, n, h), (L, n, h), (4 * h, d), (4 * h, last_input)
    # END SOLUTION

# %% tags=["exercise-only"]
check("q3", lstm_shapes=lstm_shapes)

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
# ## Question 4: two layers, two states
#
# Seed 003 is a learner's two-layer network from d2l's discussion forum: a GRU layer (d2l's layout,
# `X @ W` with `W` of shape `(inputs, hidden)`, the reset gate applied *before* the product)
# under a tanh RNN layer, with an output layer on top. The learner wrote `H, = state` and
# `H1, = state`: both layers start from the same tensor, and only `(H,)` is returned, so the second
# layer's state is never carried from one call to the next. Fix `deep_gru` so that `state` is a
# pair `(H, H1)`, one initial state per layer, and it returns `(outputs, (H, H1))`. Keep the
# parameter order and everything else.

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
check("q4", deep_gru=deep_gru)

# %% [markdown] tags=["solution-only"]
# A stacked network has one state per layer, and each must be carried separately: the first
# layer's state summarizes the inputs, the second layer's summarizes the first layer's states.
# Unpacking one state into both made the second layer start from the first layer's state, and
# returning `(H,)` dropped the second layer's state entirely, so the next window started it from
# whatever the caller passed for the first layer. (The same bug in the form of a shared state is
# "Mistake 3" of {ref}`chap-deep-rnns`.)

# %% [markdown]
# ## Question 5: a stacked GRU, equal to `nn.GRU`
#
# Write `stacked_gru(inputs, h_0, layers)`: the forward pass of an $L$-layer GRU with PyTorch's
# interface ({eq}`eq-deep-rnn`). `inputs` is `(T, n, d)`, `h_0` `(L, n, h)`, and `layers` has one
# tuple `(weight_ih, weight_hh, bias_ih, bias_hh)` per layer, bottom first. Return
# `(output, h_n)`, shapes `(T, n, h)` and `(L, n, h)`, equal to `torch.nn.GRU` with the same weights.
# You may use `rnnbook.cells.gru_cell` (imported above) for one step.

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
check("q5", stacked_gru=stacked_gru)

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
# ## Question 6: measure how much gradient reaches the first input
#
# Complete `first_input_gradient(kind, T)`: it builds a one-layer `rnnbook.RNN`, `rnnbook.GRU` or
# `rnnbook.LSTM` (`kind` is `"RNN"`, `"GRU"` or `"LSTM"`) with input size 8 and hidden size 32,
# seeded, and a seeded input of shape `(T, 1, 8)`. Take the loss $L$ to be the sum of the last
# step's output, backpropagate, and return the norm of $\partial L/\partial \mathbf{x}_1$ (the
# gradient of the *first* input) as a float.
#
# Then print it for the three kinds at $T = 5, 20, 50$, and set `q6_largest` to the kind (a string)
# whose first input receives the largest gradient at $T = 50$.

# %%
def first_input_gradient(kind, T):
    """Norm of dL/dx_1 for a seeded one-layer model, with L the sum of the last output."""
    torch.manual_seed(0)
    model = {"RNN": rnnbook.RNN, "GRU": rnnbook.GRU, "LSTM": rnnbook.LSTM}[kind](8, 32)
    x = torch.randn(T, 1, 8, requires_grad=True)
    # BEGIN SOLUTION
    output, _ = model(x)
    output[-1].sum().backward()
    return x.grad[0].norm().item()
    # END SOLUTION

# %% tags=["nbval-ignore-output"]
# YOUR CODE HERE: print the norms  # EXERCISE
# BEGIN SOLUTION NO PROMPT
for kind in ("RNN", "GRU", "LSTM"):
    print(f"{kind:4s}", "  ".join(f"T={T}: {first_input_gradient(kind, T):.1e}" for T in (5, 20, 50)))
# END SOLUTION

# %%
q6_largest = "LSTM"  # SOLUTION

# %% tags=["exercise-only"]
check("q6", first_input_gradient=first_input_gradient, q6_largest=q6_largest)

# %% [markdown] tags=["solution-only"]
# At initialization all three pass back very little over 50 steps: their gates and weights start
# small and random, so each step still shrinks the gradient. The gated cells shrink it far less per
# step than the Elman cell (compare the columns at $T = 50$), because of the additive paths of their
# state updates; training can then open those paths further (update gates near 1, forget gates
# near 1), which the Elman cell cannot do.
