# %% [markdown] tags=["exercise-only"]
# (ex-shapes)=
# # Exercises: the shapes of PyTorch's recurrent modules
#
# Five graded questions on {ref}`chap-shapes`. Write your code where a cell says
# `# YOUR CODE HERE`, run it, then run the `check(...)` cell under it: the public checks say what
# was expected and what came back. When your notebook is graded, more tests run on other sizes and
# configurations (compared with what `torch.nn.RNN`, `GRU` and `LSTM` return).

# %% [markdown] tags=["solution-only"]
# (sol-shapes)=
# # Solutions: the shapes of PyTorch's recurrent modules
#
# Reference solutions to {ref}`ex-shapes`, the graded exercises on {ref}`chap-shapes`.

# %%
import warnings

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

import rnnbook

rnnbook.set_seed(0, num_threads=1)
# PyTorch warns (once per process) that LSTM projections bypass oneDNN; that is expected here.
warnings.filterwarnings("ignore", message="LSTM with projections is not supported")

# %% tags=["exercise-only"]
from rnnbook.grading.ch06 import check

# %% [markdown]
# ## Question 1: predict the shapes
#
# Write `predict_shapes(kind, T, n, d, h, L, bidirectional, batch_first, proj_size)` returning,
# for `nn.RNN`, `nn.GRU` or `nn.LSTM` (`kind` is `"RNN"`, `"GRU"` or `"LSTM"`) built with
# `(d, h, num_layers=L, bidirectional=bidirectional, batch_first=batch_first)` (and
# `proj_size=proj_size` for an LSTM; it is always 0 for the other two) and fed a batched input of
# `T` steps and `n` sequences, the shapes of `(output, h_n, c_n)` as tuples of ints. `c_n` is
# `None` for an RNN or a GRU. Work it out from {eq}`eq-shapes-output` and {eq}`eq-shapes-hn`
# without running a module.
#
# Reading: {ref}`sec-shapes-contract` (the table of shapes) and {ref}`sec-proj-size` (what a
# projection shrinks, and what it leaves at $h$).

# %%
def predict_shapes(kind, T, n, d, h, L, bidirectional, batch_first, proj_size):
    """Shapes of (output, h_n, c_n) of a recurrent module; c_n is None unless kind == "LSTM"."""
    # BEGIN SOLUTION
    D = 2 if bidirectional else 1
    h_out = proj_size if proj_size > 0 else h
    output = (n, T, D * h_out) if batch_first else (T, n, D * h_out)
    c_n = (D * L, n, h) if kind == "LSTM" else None  # the cell state keeps h, never projected
    return output, (D * L, n, h_out), c_n
    # END SOLUTION

# %% tags=["exercise-only"]
check("q1", predict_shapes=predict_shapes)

# %% [markdown] tags=["solution-only"]
# `batch_first` swaps the first two axes of `output` only; the states keep `(D L, n, ...)`. A
# projection shrinks everything that carries the hidden state ($h_\text{out} = p$) but not the
# cell state. Checked against a real run:

# %% tags=["solution-only"]
lstm = nn.LSTM(5, 8, num_layers=3, bidirectional=True, batch_first=True, proj_size=3)
output, (h_n, c_n) = lstm(torch.zeros(2, 7, 5))
print(predict_shapes("LSTM", 7, 2, 5, 8, 3, True, True, 3))
print(tuple(output.shape), tuple(h_n.shape), tuple(c_n.shape))

# %% [markdown]
# ## Question 2: the last real step, from `output`
#
# A batch of sequences of different lengths was padded and packed, run through a **batch-first**
# module, and padded back with `pad_packed_sequence`: `output` is `(n, T_max, D h)` with zeros
# after each sequence's end. Write `last_real_steps(output, lengths, bidirectional)` returning
# the summary of each sequence, `(n, D h)`: the forward half at the sequence's own last real step
# and, if `bidirectional`, the backward half at step 0, forward first. `lengths` is a tensor of
# ints. Do not use `output[:, -1]` (see the chapter's "classic mistake").
#
# Reading: {ref}`sec-variable-length` (packing, and where each sequence's last real step sits in
# `output`).

# %%
def last_real_steps(output, lengths, bidirectional):
    """Each sequence's final states read from a padded batch-first output: (n, D h)."""
    # BEGIN SOLUTION
    rows = torch.arange(output.shape[0])
    if not bidirectional:
        return output[rows, lengths - 1]
    H = output.shape[-1] // 2
    return torch.cat([output[rows, lengths - 1, :H], output[:, 0, H:]], dim=1)
    # END SOLUTION

# %% tags=["exercise-only"]
check("q2", last_real_steps=last_real_steps)

# %% [markdown] tags=["solution-only"]
# Advanced indexing with two index tensors, `output[rows, lengths - 1]`, picks one step per
# sequence. The backward direction's final state is at step 0 for every sequence, short or long,
# because the packed backward pass starts at each sequence's own last real step. The result equals
# the last layer's slices of `h_n`:

# %% tags=["solution-only"]
from torch.nn.utils.rnn import pad_packed_sequence

gru = nn.GRU(3, 4, num_layers=2, batch_first=True, bidirectional=True)
lengths = torch.tensor([5, 2, 4])
padded = pad_sequence([torch.randn(int(t), 3) for t in lengths], batch_first=True)
packed_output, h_n = gru(pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False))
output, _ = pad_packed_sequence(packed_output, batch_first=True)
print(torch.equal(last_real_steps(output, lengths, True), torch.cat([h_n[-2], h_n[-1]], dim=1)))

# %% [markdown]
# ## Question 3: the same summary, from `h_n`
#
# `h_n` is `(D L, n, h)`. Write `last_layer_summary(h_n, num_layers, bidirectional)` returning the
# last layer's final states, `(n, D h)`, forward first: the same tensor as Question 2 without any
# indexing by lengths. Use the view `h_n.view(num_layers, num_directions, n, h)` of
# {ref}`chap-shapes`.
#
# Reading: {ref}`sec-output-and-h-n` (the view of `h_n` by layer and direction).

# %%
def last_layer_summary(h_n, num_layers, bidirectional):
    """The last layer's final states from h_n (D L, n, h): (n, D h), forward first."""
    # BEGIN SOLUTION
    D = 2 if bidirectional else 1
    last = h_n.view(num_layers, D, *h_n.shape[1:])[-1]  # (D, n, h)
    return torch.cat(list(last), dim=1)
    # END SOLUTION

# %% tags=["exercise-only"]
check("q3", last_layer_summary=last_layer_summary)

# %% [markdown] tags=["solution-only"]
# The layers are the outer index of `h_n` and the directions the inner one, so the last layer is
# the last `D` slices; `h_n[-1]` alone would be only the backward direction of a bidirectional
# module. Viewing first makes that explicit and works for any `D`.

# %% [markdown]
# ## Question 4: find and fix the bugs
#
# Seed 002's "general form" reads the last layer's final states from `output` of a batch-first
# module whose sequences all have `S` steps. Written as a function, it has **two** wrong lines:
# one raises an error (its `torch.equal` was never run), and one returns the wrong direction
# without any error (the seed printed "True" for it without checking). Fix both. Return
# `(forward_final, backward_final)`, each `(B, H)`; `backward_final` is `None` for a
# unidirectional module.
#
# (Seed 002 is one of the five texts the book started from: forum threads and web
# pages in which learners ask about, and write, stacked and bidirectional RNNs in PyTorch.)
#
# Reading: {ref}`sec-popular-answer` (seed 002's claims, run and checked).

# %%
def seed_final_states(output, H, bidirectional):
    S = output.shape[1]
    forward_final = output[:, S, :H]  # EXERCISE
    # BEGIN SOLUTION NO PROMPT
    forward_final = output[:, S - 1, :H]  # Python counts from 0: the last step is S - 1
    # END SOLUTION
    backward_final = None
    if bidirectional:
        backward_final = output[:, -1, :H]  # EXERCISE
        # BEGIN SOLUTION NO PROMPT
        backward_final = output[:, 0, H:]  # the backward direction ends at step 0, second half
        # END SOLUTION
    return forward_final, backward_final

# %% tags=["exercise-only"]
check("q4", seed_final_states=seed_final_states)

# %% [markdown] tags=["solution-only"]
# Index `S` is one past the end of an axis of length `S`, hence the `IndexError`. The backward
# line returned the forward final state a second time: the backward direction's last state is the
# one after reading step 0, stored in the second half of the features. Against `h_n`:

# %% tags=["solution-only"]
gru = nn.GRU(2, 5, num_layers=3, bidirectional=True, batch_first=True)
output, h_n = gru(torch.randn(4, 6, 2))
forward_final, backward_final = seed_final_states(output, 5, True)
print(torch.equal(forward_final, h_n[-2]), torch.equal(backward_final, h_n[-1]))

# %% [markdown]
# ## Question 5: measure what the padding does
#
# Complete `padding_error(lengths)`: it builds a seeded batch-first `nn.GRU(3, 4)` and seeded
# sequences of the given lengths, padded with zeros. Run the GRU twice: on the padded batch as it
# is (the zeros are read as data) and on the packed batch. Return a tensor of shape `(n,)`: for
# each sequence, the largest absolute difference over the features between `output[i, -1]` of
# the padded run and the true final state `h_n[0, i]` of the packed run.
#
# Then set `q5_errors` to a pair of strings, `"zero"` or `"nonzero"` (zero meaning below
# $10^{-6}$, rounding): is that error zero for the longest sequence, and for a shorter one?
#
# Reading: {ref}`sec-classic-mistake` (what padding without packing does to the last position).

# %%
def padding_error(lengths):
    """Per sequence: max |output[i, -1] (padded run) - h_n[0, i] (packed run)|, shape (n,)."""
    torch.manual_seed(0)
    gru = nn.GRU(3, 4, batch_first=True)
    padded = pad_sequence([torch.randn(int(t), 3) for t in lengths], batch_first=True)
    lengths = torch.as_tensor(lengths)
    # BEGIN SOLUTION
    with torch.no_grad():
        padded_output, _ = gru(padded)
        _, h_n = gru(pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False))
    return (padded_output[:, -1] - h_n[0]).abs().amax(dim=1)
    # END SOLUTION

# %% tags=["nbval-ignore-output"]
# YOUR CODE HERE: print padding_error for a few batches of lengths  # EXERCISE
# BEGIN SOLUTION NO PROMPT
for lengths in ([5, 2, 4], [3, 3, 1], [6, 1]):
    print(lengths, [rnnbook.magnitude(v, smallest=1e-6) for v in padding_error(lengths).tolist()])
# END SOLUTION

# %%
q5_errors = ("zero", "nonzero")  # SOLUTION

# %% tags=["exercise-only"]
check("q5", padding_error=padding_error, q5_errors=q5_errors)

# %% [markdown] tags=["solution-only"]
# For the longest sequence, the padded run reads no padding, so its last output is the packed final
# state (error 0, up to rounding). A shorter sequence's state keeps running through the zeros: a zero input
# still goes through the gates and biases and moves the state, so `output[i, -1]` is not the
# sequence's summary. Packing (or indexing at `lengths - 1`, Question 2) avoids it.
