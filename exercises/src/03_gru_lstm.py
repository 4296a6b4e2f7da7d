# %% [markdown] tags=["exercise-only"]
# (ex-gru-lstm)=
# # Exercises: GRU and LSTM cells
#
# Five graded questions on {ref}`chap-gru-lstm`. Write your code where a cell says
# `# YOUR CODE HERE`, run it, then run the `check(...)` cell under it: the public checks say what
# was expected and what came back. When your notebook is graded, more tests run on other sizes and
# inputs (in float64, compared with the book's `rnnbook.cells`, equal to `torch.nn.GRUCell` and
# `LSTMCell`).

# %% [markdown] tags=["solution-only"]
# (sol-gru-lstm)=
# # Solutions: GRU and LSTM cells
#
# Reference solutions to {ref}`ex-gru-lstm`, the graded exercises on {ref}`chap-gru-lstm`.

# %%
import torch

import rnnbook

rnnbook.set_seed(0, num_threads=1)

# %% tags=["exercise-only"]
from rnnbook.grading.ch03 import check

# %% [markdown]
# ## Question 1: one GRU step
#
# Write `gru_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)`, one step of a GRU exactly as
# `torch.nn.GRUCell` computes it ({eq}`eq-gru-r` to {eq}`eq-gru-h`): the rows of `weight_ih`
# `(3h, d)` and `weight_hh` `(3h, h)` hold the reset gate, the update gate and the candidate, in
# that order, and the reset gate multiplies the recurrent term *after* its matrix product and
# bias. `x` is `(n, d)`, `h` `(n, h)`; return the new state `(n, h)`. Do not call
# `rnnbook.cells.gru_cell`: write it.
#
# Reading: {ref}`sec-gru-cell` (the equations and the weight layout).

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
# them apart. The reset gate multiplies `h_n`, the recurrent product *and* its bias `b_hn`: that
# is PyTorch's form. The form of {cite}`cho2014learning` applies the reset gate to the state
# *before* the product, $\mathbf{W}_{hn}(\mathbf{r}\odot\mathbf{h})$, which is a different
# function ({ref}`chap-gru-lstm` compares the two, and Question 4 fixes a step written in that
# form). The new state keeps the fraction `z` of the old one.

# %% [markdown]
# ## Question 2: one LSTM step
#
# Write `lstm_step(x, state, weight_ih, weight_hh, bias_ih, bias_hh)`, one step of an LSTM as
# `torch.nn.LSTMCell` computes it ({eq}`eq-lstm-gates` to {eq}`eq-lstm-h`): `state` is the pair
# `(h, c)`, the gates are stacked in the order input, forget, cell candidate, output (`(4h, d)` and
# `(4h, h)` weights). Return the new pair `(h, c)`. Do not call `rnnbook.cells.lstm_cell`: while
# your answer is checked, it raises an error that says so (as `gru_cell` does in Question 1).
#
# Reading: {ref}`sec-lstm-cell` (the equations, the order of the gates and the state pair).

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
# ## Question 3: predict the shapes of a cell
#
# Write `cell_shapes(kind, d, h)` returning, for `torch.nn.RNNCell`, `GRUCell` or `LSTMCell`
# (`kind` is `"RNN"`, `"GRU"` or `"LSTM"`) built with `(d, h)`, the shapes of `weight_ih`,
# `weight_hh` and `bias_ih` as tuples of ints, and the total number of parameters (an int, both
# biases included). Work them out from the sizes.
#
# Reading: {ref}`sec-elman-cell` (the two weights and two biases of a cell) and
# {ref}`sec-parameter-counts` (the count for $G$ gate blocks).

# %%
def cell_shapes(kind, d, h):
    """(weight_ih shape, weight_hh shape, bias_ih shape, number of parameters) of a cell."""
    # BEGIN SOLUTION
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]  # blocks of rows: gates and candidate
    return (G * h, d), (G * h, h), (G * h,), G * h * (d + h + 2)
    # END SOLUTION

# %% tags=["exercise-only"]
check("q3", cell_shapes=cell_shapes)

# %% [markdown] tags=["solution-only"]
# A cell with $G$ blocks (the candidate counts as one) has $G$ copies of an Elman cell's
# parameters, $G\,h\,(d + h + 2)$ with both biases. The cells agree:

# %% tags=["solution-only"]
cell = torch.nn.LSTMCell(28, 256)
print(cell_shapes("LSTM", 28, 256))
print(tuple(cell.weight_ih.shape), tuple(cell.weight_hh.shape), tuple(cell.bias_ih.shape),
      sum(p.numel() for p in cell.parameters()))

# %% [markdown]
# ## Question 4: find and fix the bug
#
# Seed 003's GRU step is written in d2l's layout (`X @ W`, one weight matrix per gate). A learner
# copies the weights of a `torch.nn.GRUCell` into it (transposed and split by gate, with the
# candidate's two biases kept apart as `b_xh` and `b_hh`) and expects the same new state. It is
# not the same, although every weight is in the right place: one line computes a different
# function from PyTorch's ({ref}`chap-gru-lstm` compares the two forms). Fix that line so that
# `pytorch_gru_step` equals `nn.GRUCell`. Keep the parameter order.
#
# (Seed 003 is one of the five texts the book started from: forum threads and web
# pages in which learners ask about, and write, stacked and bidirectional RNNs in PyTorch.)
#
# Reading: {ref}`sec-reset-placement` (the two forms of the candidate).

# %%
def pytorch_gru_step(X, H, params):
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_xh, b_hh = params
    Z = torch.sigmoid((X @ W_xz) + (H @ W_hz) + b_z)
    R = torch.sigmoid((X @ W_xr) + (H @ W_hr) + b_r)
    H_tilda = torch.tanh((X @ W_xh) + b_xh + ((R * H) @ W_hh) + b_hh)  # EXERCISE
    # BEGIN SOLUTION NO PROMPT
    H_tilda = torch.tanh((X @ W_xh) + b_xh + R * (H @ W_hh + b_hh))  # reset after the product
    # END SOLUTION
    return Z * H + (1 - Z) * H_tilda

# %% tags=["exercise-only"]
check("q4", pytorch_gru_step=pytorch_gru_step)

# %% [markdown] tags=["solution-only"]
# The seed's candidate applies the reset gate to the state *before* the product,
# $\mathbf{W}_{hn}(\mathbf{r}\odot\mathbf{h})$, the form of Cho et al. that d2l uses. PyTorch
# applies it *after* the product and its bias, $\mathbf{r}\odot(\mathbf{W}_{hn}\mathbf{h} +
# \mathbf{b}_{hn})$ ({eq}`eq-gru-n`). The two are different functions, so no rearrangement of the
# weights makes the seed's form equal `nn.GRUCell`; the line itself must change. (The update
# `Z * H + (1 - Z) * H_tilda` is the same in both.) Checked against the cell:

# %% tags=["solution-only"]
cell = torch.nn.GRUCell(3, 4)
(W_ir, W_iz, W_in), (W_hr, W_hz, W_hn) = cell.weight_ih.chunk(3), cell.weight_hh.chunk(3)
(b_ir, b_iz, b_in), (b_hr, b_hz, b_hn) = cell.bias_ih.chunk(3), cell.bias_hh.chunk(3)
params = (W_iz.T, W_hz.T, b_iz + b_hz, W_ir.T, W_hr.T, b_ir + b_hr, W_in.T, W_hn.T, b_in, b_hn)
X, H = torch.randn(2, 3), torch.randn(2, 4)
with torch.no_grad():
    print(torch.allclose(pytorch_gru_step(X, H, params), cell(X, H), atol=1e-6))

# %% [markdown]
# ## Question 5: measure how much gradient reaches the first input
#
# Complete `first_input_gradient(kind, T)`: it builds a one-layer `rnnbook.RNN`, `rnnbook.GRU` or
# `rnnbook.LSTM` (`kind` is `"RNN"`, `"GRU"` or `"LSTM"`) with input size 8 and hidden size 32,
# seeded, and a seeded input of shape `(T, 1, 8)`. Take the loss $L$ to be the sum of the last
# step's output, backpropagate, and return the norm of $\partial L/\partial \mathbf{x}_1$ (the
# gradient of the *first* input) as a float.
#
# Then print it for the three kinds at $T = 5, 20, 50$, and set `q5_largest` to the kind (a string)
# whose first input receives the largest gradient at $T = 50$.
#
# Reading: {ref}`sec-what-gates-buy` (how much of a gradient each cell passes back over many steps
# at initialization).

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
q5_largest = "LSTM"  # SOLUTION

# %% tags=["exercise-only"]
check("q5", first_input_gradient=first_input_gradient, q5_largest=q5_largest)

# %% [markdown] tags=["solution-only"]
# At initialization all three pass back very little over 50 steps: their gates and weights start
# small and random, so each step still shrinks the gradient. The gated cells shrink it far less per
# step than the Elman cell (compare the columns at $T = 50$), because of the additive paths of their
# state updates; training can then open those paths further (update gates near 1, forget gates
# near 1), which the Elman cell cannot do.
