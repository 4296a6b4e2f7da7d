# %% [markdown] tags=["exercise-only"]
# (ex-language-models)=
# # Exercises: how good can a language model get?
#
# Five graded questions on {ref}`chap-language-models`. Write your code where a cell says
# `# YOUR CODE HERE`, run it, then run the `check(...)` cell under it: the public checks say what
# was expected and what came back. When your notebook is graded, more tests run on other chains,
# sizes and inputs (compared with the book's `rnnbook.markov` and `rnnbook.language_models`).

# %% [markdown] tags=["solution-only"]
# (sol-language-models)=
# # Solutions: how good can a language model get?
#
# Reference solutions to {ref}`ex-language-models`, the graded exercises on
# {ref}`chap-language-models`.

# %%
import math

import torch
from torch.nn import functional as F

import rnnbook
from rnnbook.data import sequential_batches
from rnnbook.language_models import RecurrentLM, detach_state
from rnnbook.markov import MarkovChain, batch_means_standard_error

rnnbook.set_seed(0, num_threads=1)

# %% tags=["exercise-only"]
from rnnbook.grading.ch08 import check

# %% [markdown]
# ## Question 1: the entropy rate of a Markov chain
#
# Write `entropy_rate(probs)` for a Markov chain of order 1 over $q$ tokens: `probs` is a
# `(q, q)` float64 tensor whose row $s$ is $P(\cdot \mid s)$, every entry positive. Find the
# stationary distribution $\pi$ ({eq}`eq-stationary`; for order 1 it says $\pi = \pi P$, so
# power iteration or an eigenvector of $P^\top$ works), then return the entropy rate
# {eq}`eq-entropy-rate` in nats as a float. Do not use `rnnbook.markov.MarkovChain`: write it.
#
# Reading: {ref}`sec-entropy-rate` (the stationary distribution and the entropy rate of a chain) and
# {ref}`sec-two-state-chain` (a chain whose entropy rate has a closed form, to test against).

# %%
def entropy_rate(probs):
    """Entropy rate (nats per token) of the order-1 chain with transition matrix probs (q, q)."""
    # BEGIN SOLUTION
    pi = torch.full((probs.shape[0],), 1.0 / probs.shape[0], dtype=torch.float64)
    for _ in range(100_000):
        new = pi @ probs  # one step of the chain: pi'(x) = sum_s pi(s) P(x | s)
        if (new - pi).abs().sum() < 1e-14:
            break
        pi = new
    return float(-(new[:, None] * probs * torch.log(probs)).sum())
    # END SOLUTION

# %% tags=["exercise-only"]
check("q1", entropy_rate=entropy_rate)

# %% [markdown] tags=["solution-only"]
# With every probability positive the chain is ergodic and power iteration converges to the one
# stationary distribution from any start. The two-state chain of the chapter, whose entropy rate
# has a formula ({eq}`eq-two-state-entropy`):

# %% tags=["solution-only"]
a, b = 0.1, 0.3
probs = torch.tensor([[1 - a, a], [b, 1 - b]], dtype=torch.float64)
h = lambda p: -p * math.log(p) - (1 - p) * math.log(1 - p)  # noqa: E731
formula = b / (a + b) * h(a) + a / (a + b) * h(b)
error = abs(entropy_rate(probs) - formula)
print(f"formula: {formula:.6f} nats; |entropy_rate(probs) - formula| {rnnbook.below(error, 1e-12)}")

# %% [markdown]
# ## Question 2: perplexity from minibatch losses
#
# An evaluation loop printed the mean cross-entropy (nats per token) of each minibatch,
# `mean_losses` (a 1-D float64 tensor), and `counts`, the number of tokens in each (the last
# minibatch is usually shorter). Write `perplexity_from_losses(mean_losses, counts)` returning the
# perplexity of the whole text, a float: the exponential of the mean loss **per token**.
#
# Reading: {ref}`sec-language-models` (perplexity, the exponential of the cross-entropy per token).

# %%
def perplexity_from_losses(mean_losses, counts):
    """Perplexity of a text from the mean loss and the token count of each minibatch."""
    # BEGIN SOLUTION
    counts = counts.to(torch.float64)
    return math.exp(float((mean_losses * counts).sum() / counts.sum()))
    # END SOLUTION

# %% tags=["exercise-only"]
check("q2", perplexity_from_losses=perplexity_from_losses)

# %% [markdown] tags=["solution-only"]
# Two shortcuts are wrong. The plain mean of the minibatch losses gives the short last minibatch
# as much weight as a full one. The mean of the minibatch perplexities is worse: the exponential
# is convex, so it is never below the true perplexity (Jensen's inequality) and is above it
# whenever the losses differ.

# %% tags=["solution-only"]
mean_losses, counts = torch.tensor([1.2, 1.5, 3.0], dtype=torch.float64), torch.tensor([64, 64, 8])
print(f"{perplexity_from_losses(mean_losses, counts):.4f} "
      f"(plain mean of losses {math.exp(mean_losses.mean()):.4f}, "
      f"mean of perplexities {mean_losses.exp().mean():.4f})")

# %% [markdown]
# ## Question 3: sampling with a temperature
#
# Write `temperature_probs(logits, tau)`: the distribution from which Chapter 1's `generate`
# samples the next token. `logits` is `(..., q)` (one row of logits per prediction); for
# $\tau > 0$ return $\operatorname{softmax}(\text{logits}/\tau)$ over the last axis, and for
# $\tau = 0$ (greedy decoding) a one-hot tensor at the most likely token (the first one if several
# tie). The result has the shape of `logits`. It must work for very small $\tau$ (for example
# $10^{-3}$) without producing NaN.
#
# Reading: {ref}`sec-samples` (sampling with a temperature, and greedy decoding).

# %%
def temperature_probs(logits, tau):
    """The sampling distribution at temperature tau over the last axis; one-hot argmax for tau = 0."""
    # BEGIN SOLUTION
    if tau == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    return torch.softmax(logits / tau, dim=-1)  # softmax subtracts the maximum: no overflow
    # END SOLUTION

# %% tags=["exercise-only"]
check("q3", temperature_probs=temperature_probs)

# %% [markdown] tags=["solution-only"]
# Dividing by $\tau < 1$ stretches the differences between logits, so the most likely tokens gain
# probability; $\tau > 1$ flattens the distribution towards uniform. `torch.softmax` subtracts the
# largest logit first, so `exp` never overflows even when `logits / tau` is huge; a hand-written
# `exp(z) / exp(z).sum()` returns NaN there.

# %% tags=["solution-only"]
logits = torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)
for tau in (0, 1e-3, 0.5, 1.0, 5.0):
    print(tau, [round(p, 3) for p in temperature_probs(logits, tau).tolist()])

# %% [markdown]
# ## Question 4: find and fix the bug
#
# The chapter's truncated BPTT reads the text in order with `rnnbook.data.sequential_batches`
# and carries the state from one minibatch to the next ({eq}`eq-tbptt`). Here is a training loop
# written that way, which fails at its second update with "Trying to backward through the graph
# a second time". Fix the one line at fault so that the state is still carried over (its values
# kept) while backpropagation stops at the start of each minibatch. Return the losses of all
# updates as a 1-D tensor.
#
# Reading: {ref}`sec-truncated-bptt` (carrying the state across minibatches, {eq}`eq-tbptt`).

# %%
def tbptt_losses(ids, batch_size, num_steps):
    torch.manual_seed(0)
    model = RecurrentLM(5, 8, "gru").double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    losses, state = [], None
    for X, Y in sequential_batches(ids, batch_size, num_steps, generator=torch.Generator().manual_seed(0)):
        logits, state = model(X, state)  # EXERCISE
        # BEGIN SOLUTION NO PROMPT
        logits, state = model(X, None if state is None else detach_state(state))  # keep values, cut graph
        # END SOLUTION
        loss = F.cross_entropy(logits.reshape(-1, 5), Y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return torch.tensor(losses, dtype=torch.float64)

# %% tags=["exercise-only"]
check("q4", tbptt_losses=tbptt_losses)

# %% [markdown] tags=["solution-only"]
# The state returned by the model is the end of a graph that reaches back to the first minibatch.
# The first `backward()` frees that graph; the second would have to go through it again. Detaching
# keeps the state's values (the forward pass still sees the whole past) and cuts the graph, so
# backpropagation runs through `num_steps` steps only. Two tempting "fixes" are wrong:
# `loss.backward(retain_graph=True)` then fails because `optimizer.step()` changed the weights
# that the old graph saved, and starting every minibatch from `None` throws the carried context
# away, which is random-window training again.

# %% tags=["solution-only"]
ids = torch.randint(0, 5, (400,), generator=torch.Generator().manual_seed(1))
print([round(v, 3) for v in tbptt_losses(ids, 4, 10).tolist()][:8])

# %% [markdown]
# ## Question 5: measure how close a sample gets to the floor
#
# Complete `sample_log_loss(a, b, num_tokens)`: for the two-state chain of the chapter,
# $P(1 \mid 0) = a$ and $P(0 \mid 1) = b$, build a `rnnbook.markov.MarkovChain` (order 1), draw
# `num_tokens` tokens with its `sample` method and `torch.Generator().manual_seed(0)`, and return
# `(mean, standard_error)`: the mean of the chain's own `log_losses` on the sample, and its
# standard error by `batch_means_standard_error`, both floats.
#
# Print it, with the entropy rate, for $a = 0.1$, $b = 0.3$ and 2,000, 20,000 and 200,000 tokens.
#
# Reading: {ref}`sec-floor-precision` (how precisely a finite sample measures the floor) and
# {ref}`sec-two-state-chain` (the two-state chain).
# Then set `q5_within` to `"yes"` or `"no"`: for 20,000 tokens, is the mean within three standard
# errors of the entropy rate?

# %%
def sample_log_loss(a, b, num_tokens):
    """(mean log-loss, its standard error) of a seeded sample of the two-state chain."""
    chain = MarkovChain(torch.tensor([[1 - a, a], [b, 1 - b]], dtype=torch.float64), order=1)
    # BEGIN SOLUTION
    losses = chain.log_losses(chain.sample(num_tokens, torch.Generator().manual_seed(0)))
    return float(losses.mean()), batch_means_standard_error(losses)
    # END SOLUTION

# %%
# YOUR CODE HERE: print the mean, its standard error and the entropy rate  # EXERCISE
# BEGIN SOLUTION NO PROMPT
H = MarkovChain(torch.tensor([[0.9, 0.1], [0.3, 0.7]], dtype=torch.float64), order=1).entropy_rate()
for num_tokens in (2_000, 20_000, 200_000):
    mean, error = sample_log_loss(0.1, 0.3, num_tokens)
    print(f"{num_tokens:7d} tokens: {mean:.4f} +- {error:.4f}   (entropy rate {H:.4f}, "
          f"{abs(mean - H) / error:.1f} standard errors away)")
# END SOLUTION

# %%
q5_within = "yes"  # SOLUTION

# %% tags=["exercise-only"]
check("q5", sample_log_loss=sample_log_loss, q5_within=q5_within)

# %% [markdown] tags=["solution-only"]
# The standard error shrinks like $1/\sqrt{T}$, and the mean lands within a few standard errors
# of $H$: a finite text measures the floor of {ref}`chap-language-models`, with an error bar that
# the batch means make honest despite the correlation between neighbouring tokens.
