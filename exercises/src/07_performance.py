# %% [markdown] tags=["exercise-only"]
# (ex-performance)=
# # Exercises: how fast can a recurrent network be?
#
# Five graded questions on {ref}`chap-performance`. Write your code where a cell says
# `# YOUR CODE HERE`, run it, then run the `check(...)` cell under it: the public checks say what
# was expected and what came back. When your notebook is graded, more tests run on other sizes and
# inputs (in float64, compared with the book's `rnnbook.GRU` and `rnnbook.RNN`, equal to
# `torch.nn`, and with `rnnbook.fast.recurrent_flops`).

# %% [markdown] tags=["solution-only"]
# (sol-performance)=
# # Solutions: how fast can a recurrent network be?
#
# Reference solutions to {ref}`ex-performance`, the graded exercises on {ref}`chap-performance`.

# %%
import statistics
import time

import torch

import rnnbook
from rnnbook.cells import gru_cell

rnnbook.set_seed(0, num_threads=1)

# %% tags=["exercise-only"]
from rnnbook.grading.ch07 import check

# %% [markdown]
# ## Question 1: one matrix product for all the gates
#
# A GRU step needs three recurrent products, one per gate. Stacked as in PyTorch's
# `weight_hh` `(3h, h)` (rows: reset gate, update gate, candidate), they are **one** product.
# Write `fused_gru_step(x_gates, h, weight_hh, bias_hh)`: one GRU step, equal to
# `torch.nn.GRUCell`, given the input's contribution to all gates already computed,
# `x_gates = x @ weight_ih.T + bias_ih` of shape `(n, 3h)`. Compute `h @ weight_hh.T + bias_hh`
# once, then split both `(n, 3h)` tensors into the three gates (`chunk`). Remember that the reset
# gate multiplies the candidate's recurrent term *including* its bias. Return the new state
# `(n, h)`.
#
# Reading: {ref}`sec-what-cudnn-does` (idea 2: all gates in one product) and
# {ref}`sec-hoist-input-products` (`FastGRU.hoisted_step`, the same step).

# %%
def fused_gru_step(x_gates, h, weight_hh, bias_hh):
    """One GRU step from precomputed input gates (n, 3h), with one recurrent product."""
    # BEGIN SOLUTION
    x_r, x_z, x_n = x_gates.chunk(3, dim=1)
    h_r, h_z, h_n = (h @ weight_hh.T + bias_hh).chunk(3, dim=1)  # one product for the three gates
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h
    # END SOLUTION

# %% tags=["exercise-only"]
check("q1", fused_gru_step=fused_gru_step)

# %% [markdown] tags=["solution-only"]
# One product of `(n, h)` by `(h, 3h)` does the work of three products by `(h, h)`: the same
# FLOPs, but one call instead of three, and a larger matrix, which a CPU multiplies at a higher
# rate. Against the book's cell:

# %% tags=["solution-only"]
x, h = torch.randn(2, 3), torch.randn(2, 4)
weight_ih, weight_hh = torch.randn(12, 3), torch.randn(12, 4)
bias_ih, bias_hh = torch.randn(12), torch.randn(12)
fused = fused_gru_step(x @ weight_ih.T + bias_ih, h, weight_hh, bias_hh)
print(torch.allclose(fused, gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh), atol=1e-6))

# %% [markdown]
# ## Question 2: hoist the input products out of the loop
#
# The input's contribution to the gates does not depend on the state, so for all $T$ steps it is
# one product of a `(T n, d)` matrix with `weight_ih.T`. Write
# `hoisted_gru_layer(inputs, h_0, weight_ih, weight_hh, bias_ih, bias_hh)` for one GRU layer:
# `inputs` is `(T, n, d)` and `h_0` `(n, h)`. Compute the input gates of every step with **one**
# product before the loop, then run the steps with your `fused_gru_step`. Return
# `(output, h_T)`: all states `(T, n, h)` and the last one `(n, h)`.
#
# Reading: {ref}`sec-what-cudnn-does` (idea 1: the input products of all steps at once) and
# {ref}`sec-hoist-input-products` (the `hoisted` variant).

# %%
def hoisted_gru_layer(inputs, h_0, weight_ih, weight_hh, bias_ih, bias_hh):
    """One GRU layer with the input products of all steps hoisted: (output (T, n, h), h_T (n, h))."""
    # BEGIN SOLUTION
    T, n, d = inputs.shape
    x_gates = (inputs.reshape(T * n, d) @ weight_ih.T + bias_ih).reshape(T, n, -1)  # one product
    h, states = h_0, []
    for t in range(T):
        h = fused_gru_step(x_gates[t], h, weight_hh, bias_hh)
        states.append(h)
    return torch.stack(states), h
    # END SOLUTION

# %% tags=["exercise-only"]
check("q2", hoisted_gru_layer=hoisted_gru_layer)

# %% [markdown] tags=["solution-only"]
# Only the recurrent product stays inside the loop: it needs the previous state, so no amount of
# rewriting can take it out. (`inputs @ weight_ih.T` on the 3-D tensor works too; it is the same
# single product.) Against `torch.nn.GRU`:

# %% tags=["solution-only"]
gru = torch.nn.GRU(3, 4)
inputs, h_0 = torch.randn(6, 2, 3), torch.randn(2, 4)
with torch.no_grad():
    weights = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
    output, h_T = hoisted_gru_layer(inputs, h_0, *weights)
    expected, expected_h_n = gru(inputs, h_0[None])
print(torch.allclose(output, expected, atol=1e-6), torch.allclose(h_T, expected_h_n[0], atol=1e-6))

# %% [markdown]
# ## Question 3: count the FLOPs
#
# Count a matrix product of an `(a, k)` by a `(k, b)` matrix as $2akb$ FLOPs and ignore everything
# else (the gates' pointwise work). Write `count_flops(mode, T, n, d, h, num_layers, bidirectional)`
# for `mode` in `"RNN"`, `"GRU"`, `"LSTM"`: return `(step, forward)`, the FLOPs of one step of
# the first layer in one direction ({eq}`eq-flops-step`), and of the forward pass over `T` steps
# through all layers and directions ({eq}`eq-flops-sequence`), as ints. Layers above the first
# read $D h$ features.
#
# Reading: {ref}`sec-counting-work` (the FLOPs of one step and of a whole sequence).

# %%
def count_flops(mode, T, n, d, h, num_layers, bidirectional):
    """(FLOPs of one step of layer 1, FLOPs of the whole forward pass)."""
    # BEGIN SOLUTION
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[mode]
    D = 2 if bidirectional else 1
    step = 2 * n * G * h * (d + h)
    forward = sum(D * T * 2 * n * G * h * ((d if layer == 0 else D * h) + h)  # eq-flops-sequence
                  for layer in range(num_layers))
    return step, forward
    # END SOLUTION

# %% tags=["exercise-only"]
check("q3", count_flops=count_flops)

# %% [markdown] tags=["solution-only"]
# The number of gates multiplies everything: a GRU does three times the products of an Elman RNN of
# the same width, an LSTM four times. The library's function agrees:

# %% tags=["solution-only"]
from rnnbook.fast import recurrent_flops

reference = recurrent_flops("LSTM", 35, 32, 28, 256, num_layers=2, bidirectional=True)
print(count_flops("LSTM", 35, 32, 28, 256, 2, True), (reference["step"], reference["forward"]))

# %% [markdown]
# ## Question 4: find and fix the bug
#
# Seed 003 trains a scratch two-layer tanh RNN (d2l's layout: weights are `(inputs, outputs)`, so
# a product is `X @ W`) with an output layer applied at every step. Here it is "made faster": the
# first layer's input products and the output layer are hoisted out of the loop. One line is
# wrong. It raises no error and is even right when the batch has a single sequence. Find it and
# fix it. `inputs` is `(T, n, d)`; return `(Y, (H1, H2))` with `Y` of shape `(T n, q)`, rows in
# the order of `torch.cat` over the steps, as in the seed.
#
# (Seed 003 is one of the five texts the book started from: forum threads and web
# pages in which learners ask about, and write, stacked and bidirectional RNNs in PyTorch.)
#
# Reading: {ref}`sec-hoist-input-products` (one input product over the $T n$ rows of all steps).

# %%
def hoisted_seed_rnn(inputs, state, params):
    W_xh1, W_hh1, b_h1, W_xh2, W_hh2, b_h2, W_hq, b_q = params
    H1, H2 = state
    T, n, d = inputs.shape
    X1 = inputs.reshape(T * n, d) @ W_xh1 + b_h1  # EXERCISE
    # BEGIN SOLUTION NO PROMPT
    X1 = (inputs.reshape(T * n, d) @ W_xh1 + b_h1).reshape(T, n, -1)  # back to one slice per step
    # END SOLUTION
    states = []
    for t in range(T):
        H1 = torch.tanh(X1[t] + H1 @ W_hh1)
        H2 = torch.tanh(H1 @ W_xh2 + H2 @ W_hh2 + b_h2)
        states.append(H2)
    Y = torch.cat(states, dim=0) @ W_hq + b_q  # the output layer for all steps at once
    return Y, (H1, H2)

# %% tags=["exercise-only"]
check("q4", hoisted_seed_rnn=hoisted_seed_rnn)

# %% [markdown] tags=["solution-only"]
# The hoisted product has `T n` rows, step-major. Without the reshape, `X1[t]` is a single row
# (step $t // n$ of sequence $t \% n$), of shape `(h,)`, and broadcasting adds it to every
# sequence of the batch: no error, wrong numbers. With `n = 1` the rows happen to be the steps,
# which is why a test with one sequence does not catch it. Test with several sequences, and
# compare with the loop you are replacing:

# %% tags=["solution-only"]
def seed_deep_rnn(inputs, state, params):
    """Seed 003's loop (one step at a time), the reference for the hoisted version."""
    W_xh1, W_hh1, b_h1, W_xh2, W_hh2, b_h2, W_hq, b_q = params
    H1, H2 = state
    outputs = []
    for X in inputs:
        H1 = torch.tanh(X @ W_xh1 + H1 @ W_hh1 + b_h1)
        H2 = torch.tanh(H1 @ W_xh2 + H2 @ W_hh2 + b_h2)
        outputs.append(H2 @ W_hq + b_q)
    return torch.cat(outputs, dim=0), (H1, H2)


params = [torch.randn(3, 5), torch.randn(5, 5) * 0.3, torch.randn(5),
          torch.randn(5, 5), torch.randn(5, 5) * 0.3, torch.randn(5), torch.randn(5, 3), torch.randn(3)]
inputs, state = torch.randn(7, 4, 3), (torch.zeros(4, 5), torch.zeros(4, 5))
hoisted, looped = hoisted_seed_rnn(inputs, state, params)[0], seed_deep_rnn(inputs, state, params)[0]
print(torch.allclose(hoisted, looped, atol=1e-5))

# %% [markdown]
# ## Question 5: measure the rate of a matrix product
#
# Complete `measured_gflops(rows, inner, cols)`: multiply a random `(rows, inner)` float32
# matrix by a random `(inner, cols)` one with `torch.mm`, time 20 runs after 2 warm-up runs with
# `time.perf_counter`, and return the achieved rate in GFLOP/s (billions of FLOPs per second)
# for the median time, counting $2 \cdot \text{rows} \cdot \text{inner} \cdot \text{cols}$ FLOPs.
#
# Print it for a GRU layer with `h = 256` that reads a single sequence (`n = 1`): for the
# recurrent product of one step, `(n, h) @ (h, 3h)`, and for the hoisted input product of 35
# steps, `(35 n, h) @ (h, 3h)` (take $d = h$, as in a second layer). Then set `q5_faster` to
# `"one step"` or `"all steps"`: which product runs at the higher rate?
#
# Reading: {ref}`sec-matmul-ceiling` (how the rate of a product grows with its number of rows).

# %%
def measured_gflops(rows, inner, cols):
    """Achieved GFLOP/s of a float32 (rows, inner) @ (inner, cols) product, median of 20 runs."""
    a, b = torch.randn(rows, inner), torch.randn(inner, cols)
    # BEGIN SOLUTION
    times = []
    for i in range(22):
        start = time.perf_counter()
        torch.mm(a, b)
        if i >= 2:
            times.append(time.perf_counter() - start)
    return 2 * rows * inner * cols / statistics.median(times) / 1e9
    # END SOLUTION

# %% tags=["nbval-ignore-output"]
# YOUR CODE HERE: print measured_gflops for one step and for all steps  # EXERCISE
# BEGIN SOLUTION NO PROMPT
one_step, all_steps = measured_gflops(1, 256, 768), measured_gflops(35, 256, 768)
print(f"one step:  {one_step:.1f} GFLOP/s\nall steps: {all_steps:.1f} GFLOP/s")
# END SOLUTION

# %%
q5_faster = "all steps"  # SOLUTION

# %% tags=["exercise-only"]
check("q5", measured_gflops=measured_gflops, q5_faster=q5_faster)

# %% [markdown] tags=["solution-only"]
# The FLOPs are the same per row, but the product with 35 rows runs at a higher rate: with one
# row, every number of the weight matrix is loaded for a single multiply-add, so the product waits
# on memory; with many rows, each loaded weight serves many rows and the CPU's vector units stay
# busy. This is why hoisting pays even though it does not remove a single
# FLOP ({ref}`chap-performance`).
