# %% [markdown] tags=["exercise-only"]
# (ex-rnn-scratch)=
# # Exercises: recurrent networks from scratch
#
# Five graded questions on {ref}`chap-rnn-scratch`. Write your code where a cell says
# `# YOUR CODE HERE`, run it, then run the `check(...)` cell under it: the public checks say what
# was expected and what came back (a shape, a maximum error, the configuration that failed).
# When your notebook is graded, more tests run on other sizes and inputs, so make your code work
# for any size, not only for the public example. Import what the chapter defined from `rnnbook`;
# do not change the names of the functions you are asked to write.

# %% [markdown] tags=["solution-only"]
# (sol-rnn-scratch)=
# # Solutions: recurrent networks from scratch
#
# Reference solutions to {ref}`ex-rnn-scratch`, the graded exercises on
# {ref}`chap-rnn-scratch`. Each answer is followed by a short explanation and, where it helps, a
# cell that runs it.

# %%
import torch
import torch.nn.functional as F
from torch import nn

import rnnbook
from rnnbook.data import load_corpus
from rnnbook.scratch import RNNLMScratch, clip_gradients, rnn_layer_forward

rnnbook.set_seed(0, num_threads=1)
corpus = load_corpus()
vocab = corpus.vocab

# %% tags=["exercise-only"]
from rnnbook.grading.ch01 import check

# %% [markdown]
# ## Question 1: one step of the recurrent cell
#
# Write `rnn_step(X, H, W_ih, W_hh, b_h)`, which computes one step of {eq}`eq-rnn-cell` for a
# minibatch whose rows are examples: `X` has shape `(n, d)`, `H` (the previous state) `(n, h)`,
# `W_ih` `(h, d)`, `W_hh` `(h, h)` and `b_h` `(h,)`. Return the new state, shape `(n, h)`.
# Use tensor operations only (no loop over the batch).
#
# Reading: {ref}`sec-rnn-cell` (the cell's equation and its form for a minibatch whose rows are
# examples).

# %%
def rnn_step(X, H, W_ih, W_hh, b_h):
    """One step of a tanh RNN: the new state H_t, shape (n, h)."""
    # BEGIN SOLUTION
    return torch.tanh(X @ W_ih.T + H @ W_hh.T + b_h)
    # END SOLUTION

# %% tags=["exercise-only"]
check("q1", rnn_step=rnn_step)

# %% [markdown] tags=["solution-only"]
# With examples as rows, $\mathbf{W}_{ih}\mathbf{x}_t$ for every example at once is
# `X @ W_ih.T`, shape `(n, h)`; the bias `(h,)` broadcasts over the rows. One step of the
# chapter's `rnn_layer_forward` is the same computation; the cell prints the shape and whether the
# two results are equal:

# %% tags=["solution-only"]
X, H = torch.randn(2, 3), torch.randn(2, 4)
W_ih, W_hh, b_h = torch.randn(4, 3), torch.randn(4, 4), torch.randn(4)
_, H_library = rnn_layer_forward(X[None], H, W_ih, W_hh, b_h)
print(rnn_step(X, H, W_ih, W_hh, b_h).shape, torch.equal(rnn_step(X, H, W_ih, W_hh, b_h), H_library))

# %% [markdown]
# ## Question 2: hoist the input projection out of the loop
#
# In the chapter's `rnn_layer_forward`, step $t$ computes `X @ W_ih.T`, although that term does
# not depend on the state: only `H @ W_hh.T` has to wait for step $t-1$. Split the layer in two:
#
# - `project_inputs(inputs, W_ih, b_h)`: the input term and the bias of *every* step in one
#   matrix product. `inputs` has shape `(T, n, d)`; return `(T, n, h)`.
# - `rnn_loop(projected, state, W_hh)`: the loop over time that only adds the recurrent term,
#   $\mathbf{H}_t = \tanh(\mathbf{P}_t + \mathbf{H}_{t-1}\mathbf{W}_{hh}^\top)$, starting from
#   `state` `(n, h)`. Return `(outputs, final_state)`, shapes `(T, n, h)` and `(n, h)`, like
#   `rnn_layer_forward`.
#
# Reading: {ref}`sec-rnn-cell` (the loop of `rnn_layer_forward`: which term needs the previous
# state).

# %%
def project_inputs(inputs, W_ih, b_h):
    """X_t W_ih^T + b_h for every step t at once, shape (T, n, h)."""
    # BEGIN SOLUTION
    return inputs @ W_ih.T + b_h
    # END SOLUTION


def rnn_loop(projected, state, W_hh):
    """The recurrence H_t = tanh(P_t + H_{t-1} W_hh^T); returns (outputs, final state)."""
    # BEGIN SOLUTION
    outputs = []
    H = state
    for P in projected:
        H = torch.tanh(P + H @ W_hh.T)
        outputs.append(H)
    return torch.stack(outputs), H
    # END SOLUTION

# %% tags=["exercise-only"]
check("q2", project_inputs=project_inputs, rnn_loop=rnn_loop)

# %% [markdown] tags=["solution-only"]
# `inputs @ W_ih.T` multiplies the last dimension of a `(T, n, d)` tensor, so one call projects all
# $T \cdot n$ rows: a single large matrix product instead of $T$ small ones, which is what the
# performance chapter exploits. The loop keeps only the part that truly depends on the previous
# step. Composed, the two functions are the chapter's layer (float64, so the comparison is exact
# up to rounding):

# %% tags=["solution-only"]
inputs, state = torch.randn(6, 2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
W_ih, W_hh, b_h = (torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64),
                   torch.randn(4, dtype=torch.float64))
outputs, final = rnn_loop(project_inputs(inputs, W_ih, b_h), state, W_hh)
expected_outputs, expected_final = rnn_layer_forward(inputs, state, W_ih, W_hh, b_h)
print("outputs equal up to 1e-12:", torch.allclose(outputs, expected_outputs, rtol=0, atol=1e-12))
print("final states equal up to 1e-12:", torch.allclose(final, expected_final, rtol=0, atol=1e-12))

# %% [markdown]
# ## Question 3: predict the shapes
#
# Without running the model, work out what `RNNLMScratch(vocab_size, hidden_size)` returns for a
# batch of token indices of shape `(batch_size, num_steps)`, and how many parameters it has. Write
# `lm_shapes(batch_size, num_steps, vocab_size, hidden_size)` returning a tuple
# `(logits_shape, state_shape, num_parameters)`, the shapes as tuples of ints, computed from the
# arguments (a formula, not a model).
#
# Reading: {ref}`sec-rnn-cell` (the shapes of the weights, and `RNNLMScratch`) and
# {ref}`sec-one-hot` (why the input size is the vocabulary size).

# %%
def lm_shapes(batch_size, num_steps, vocab_size, hidden_size):
    """(logits shape, final-state shape, number of parameters) of RNNLMScratch."""
    # BEGIN SOLUTION
    q, h = vocab_size, hidden_size
    logits_shape = (batch_size, num_steps, q)
    state_shape = (batch_size, h)
    num_parameters = h * q + h * h + h + q * h + q  # W_ih, W_hh, b_h, W_hy, b_y
    return logits_shape, state_shape, num_parameters
    # END SOLUTION

# %% tags=["exercise-only"]
check("q3", lm_shapes=lm_shapes)

# %% [markdown] tags=["solution-only"]
# The model takes `(n, T)` indices and returns one row of $q$ logits per position, `(n, T, q)`,
# batch first like its input; the state is the last step's, `(n, h)`. The parameters are
# $\mathbf{W}_{ih}$ ($h \times q$), $\mathbf{W}_{hh}$ ($h\times h$), $\mathbf{b}_h$ ($h$),
# $\mathbf{W}_{hy}$ ($q\times h$) and $\mathbf{b}_y$ ($q$): $2hq + h^2 + h + q$, and none of it
# depends on $n$ or $T$. The model agrees:

# %% tags=["solution-only"]
model = RNNLMScratch(28, 16)
logits, state = model(torch.zeros(4, 10, dtype=torch.long))
print(lm_shapes(4, 10, 28, 16))
print((tuple(logits.shape), tuple(state.shape), sum(p.numel() for p in model.parameters())))

# %% [markdown]
# ## Question 4: find and fix the bug
#
# A learner posted this hand-written RNN module (seed 001 of the book, comments translated). It
# trains, and its loss goes down, but it is not a recurrent network: its output at step $t$ does
# not depend on the inputs before step $t$. The next cell shows it: changing the input at step 0
# changes no output after step 0. Find the line that causes it and fix it *in this cell*. Keep the
# class name, the constructor's arguments, the layer names (`i2h`, `h2h`, `h2o`) and what
# `forward` returns: `(outputs, hidden_states)` with shapes `(T, n, output_size)` and
# `(T, n, hidden_size)`.
#
# (Seed 001 is one of the five texts the book started from: forum threads and web
# pages in which learners ask about, and write, stacked and bidirectional RNNs in PyTorch.)
#
# Reading: {ref}`sec-rnn-cell` (what the output layer reads at each step).

# %%
class SeedRNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size, hidden_size)
        self.h2h = nn.Linear(hidden_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.activate = nn.Tanh()
        self.h2o_list = list()
        self.h2h_list = list()

    def forward(self, x):
        hp = self.i2h(x)
        self.h2h_list.append(torch.zeros(self.hidden_size,))
        # for broadcasting: hp has size (seq_len, batch_size, hidden_size),
        # hp[i] has size (batch_size, hidden_size)
        seq_len = hp.size(0)
        for i in range(seq_len):
            h2h = self.h2h_list[-1].squeeze(0)
            h2h = self.h2h(h2h)
            hc = self.activate(hp[i] + h2h)
            self.h2h_list.append(hc.unsqueeze(0))
            oc = self.h2o(hp[i])  # EXERCISE
            # BEGIN SOLUTION NO PROMPT
            oc = self.h2o(hc)  # fixed: the output reads the new state hc, not the input projection
            # END SOLUTION
            oc = self.activate(oc)
            self.h2o_list.append(oc.unsqueeze(0))
        h2o_out = torch.concat(self.h2o_list, dim=0)
        h2h_hid = torch.concat(self.h2h_list[1:], dim=0)
        self.h2o_list.clear()
        self.h2h_list.clear()
        return h2o_out, h2h_hid

# %%
torch.manual_seed(0)
seed_model = SeedRNN(4, 3, 2)
x = torch.randn(5, 2, 4)
x_changed = x.clone()
x_changed[0] += 1.0  # change only the first step
with torch.no_grad():
    outputs, _ = seed_model(x)
    outputs_changed, _ = seed_model(x_changed)
print("outputs after step 0 changed:", not torch.equal(outputs[1:], outputs_changed[1:]))

# %% tags=["exercise-only"]
check("q4", SeedRNN=SeedRNN)

# %% [markdown] tags=["solution-only"]
# The output layer read `hp[i]`, the *input projection* of step $i$, instead of `hc`, the new
# state. The state was computed correctly and then ignored, so each output was a function of
# $\mathbf{x}_t$ alone: a feed-forward network applied step by step. Reading `hc` makes the output
# {eq}`eq-rnn-output`-like, $\tanh(\mathbf{W}_{hy}\mathbf{h}_t + \mathbf{b}_y)$, and now the
# change at step 0 reaches every later output (printed above: `True`).
#
# Two more things in this module are fragile, though not wrong for a single well-formed call: the
# step lists live on `self`, so if `forward` raises half-way the next call starts with stale
# entries; and the zero initial state is created in float32 whatever the weights' dtype. The
# chapter's `RNNLMScratch` keeps the state in local variables for that reason.

# %% [markdown]
# ## Question 5: measure the gradient norm
#
# Clipping exists because the gradient of a recurrent network can grow with the length of the
# sequence. Measure it. Complete `gradient_norm(W_hh_scale, num_steps)`: it builds an untrained
# `RNNLMScratch(len(vocab), 64)` (seeded, so everyone gets the same weights), multiplies
# $\mathbf{W}_{hh}$ by `W_hh_scale`, takes the first `8 * num_steps + 1` characters of the
# training text as a batch of 8 rows, and must then compute the mean cross-entropy of the
# next-character predictions, backpropagate, and return the global gradient norm as a float
# (`clip_gradients` from the chapter returns it; pass `max_norm=float("inf")` so nothing is
# clipped).
#
# Then print the norms for `W_hh_scale` 1 and 3 and `num_steps` 4, 16 and 64, and set
# `q5_trends` to a pair of strings, one per scale (1 first), each `"grows"`, `"shrinks"` or
# `"stays about the same"`: what happens to the norm as `num_steps` goes from 4 to 64.
#
# Reading: {ref}`sec-gradient-clipping` (why the gradient can grow, and `clip_gradients`) and
# {ref}`sec-rnn-training` (the loss and the backward pass of one update).

# %%
def gradient_norm(W_hh_scale, num_steps):
    """Global gradient norm of the mean cross-entropy of an untrained model, before clipping."""
    torch.manual_seed(0)
    model = RNNLMScratch(len(vocab), 64)
    with torch.no_grad():
        model.W_hh.mul_(W_hh_scale)
    ids = corpus.train[:8 * num_steps + 1]
    X, Y = ids[:-1].reshape(8, num_steps), ids[1:].reshape(8, num_steps)
    # BEGIN SOLUTION
    logits, _ = model(X)
    loss = F.cross_entropy(logits.reshape(-1, len(vocab)), Y.reshape(-1))
    loss.backward()
    return clip_gradients(list(model.parameters()), max_norm=float("inf"))
    # END SOLUTION

# %%
# YOUR CODE HERE: print the six norms  # EXERCISE
# BEGIN SOLUTION NO PROMPT
for scale in (1.0, 3.0):
    norms = [gradient_norm(scale, T) for T in (4, 16, 64)]
    trend = ("grows" if norms[0] < norms[1] < norms[2] else
             "shrinks" if norms[0] > norms[1] > norms[2] else "wavers")
    print(f"W_hh scale {scale:g}: as num_steps goes 4 -> 16 -> 64, the gradient norm {trend}")
# END SOLUTION

# %%
q5_trends = ("shrinks", "grows")  # SOLUTION

# %% tags=["exercise-only"]
check("q5", gradient_norm=gradient_norm, q5_trends=q5_trends)

# %% [markdown] tags=["solution-only"]
# With the default initialization the norm shrinks a little as the sequence gets longer: the loss
# is a mean over more positions, and the contributions from far back fade, because each step
# multiplies the backpropagated signal by $\mathbf{W}_{hh}^\top$ and by $\tanh' \le 1$. With
# $\mathbf{W}_{hh}$ three times larger, those products grow instead, and the norm grows with the
# length: this is the exploding gradient that {eq}`eq-clip-global-norm` guards against, and the
# subject of the next chapter.
