"""Exercise set 8: how good a language model can get (questions, tests, references).

The notebook is ``exercises/08_language_models.ipynb``, generated from
``exercises/src/08_language_models.py``. References come from :mod:`rnnbook.markov` (the Markov
chains and their entropy rate, Chapter 8), :mod:`rnnbook.language_models` (``RecurrentLM`` and
``detach_state``) and :mod:`rnnbook.data` (``sequential_batches``).

Questions: (q1) the entropy rate of an order-1 Markov chain; (q2) the perplexity of a text from
minibatch losses of different sizes; (q3) the sampling distribution at a temperature, greedy at
0; (q4) fix a truncated-BPTT loop that carries its state without detaching it; (q5) measure the
mean log-loss of a sample of a chain, with its standard error, against the entropy rate.
"""

from __future__ import annotations

import functools
import math

import torch
from torch.nn import functional as F

from rnnbook.data import sequential_batches
from rnnbook.grading.inputs import random_tensor
from rnnbook.grading.judging import call_case, choice_case, question, question_from_builder
from rnnbook.grading.model import Case, ExerciseSet
from rnnbook.language_models import RecurrentLM, detach_state
from rnnbook.markov import MarkovChain, batch_means_standard_error

__all__ = ["EXERCISE_SET", "entropy_rate_case", "perplexity_from_losses_case", "temperature_probs_case",
           "tbptt_losses_case", "sample_log_loss_case", "reference_tbptt_losses", "reference_sample_log_loss"]


# --- q1: entropy rate -----------------------------------------------------------------------------

def _random_chain(generator, q, concentration=1.0):
    """A (q, q) transition matrix with positive entries: normalized exponentials of random logits."""
    logits = random_tensor(generator, q, q, scale=2.0 * concentration)
    return torch.softmax(logits, dim=1)


def entropy_rate_case(label: str, probs: torch.Tensor, *, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``entropy_rate(probs)`` against :meth:`rnnbook.markov.MarkovChain.entropy_rate`."""
    probs = probs.to(torch.float64)
    return call_case("q1", "entropy_rate", label, (probs,),
                     lambda: MarkovChain(probs, order=1).entropy_rate(),
                     what="entropy rate (nats)", rtol=1e-6, hidden=hidden, points=points)


def _two_state(a, b):
    return torch.tensor([[1 - a, a], [b, 1 - b]], dtype=torch.float64)


Q1 = question(1, ("entropy_rate",), public=lambda g: [
    entropy_rate_case("two states, a=0.1, b=0.3", _two_state(0.1, 0.3), hidden=False),
    entropy_rate_case("three tokens", _random_chain(g, 3), hidden=False),
], hidden=lambda g: [
    entropy_rate_case("two states, a=0.02, b=0.5", _two_state(0.02, 0.5)),
    entropy_rate_case("four tokens", _random_chain(g, 4)),
    entropy_rate_case("six tokens, peaked rows", _random_chain(g, 6, 3.0)),
    entropy_rate_case("a chain far from symmetric", torch.softmax(
        torch.tensor([[4.0, 0, 0], [3.0, 0, 1], [0, 0, 5]], dtype=torch.float64), dim=1)),
], unavailable=("rnnbook.markov.MarkovChain.entropy_rate",
                "rnnbook.markov.MarkovChain.stationary_distribution"))


# --- q2: perplexity from minibatch losses ---------------------------------------------------------

def perplexity_from_losses_case(label: str, generator: torch.Generator, num_batches: int, full: int,
                                last: int, *, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``perplexity_from_losses(mean_losses, counts)``: ``num_batches`` minibatches of
    ``full`` tokens, the last one of ``last`` tokens."""
    mean_losses = (random_tensor(generator, num_batches) + 1.0) * 1.5  # in [0, 3) nats
    counts = torch.full((num_batches,), full, dtype=torch.long)
    counts[-1] = last
    return call_case("q2", "perplexity_from_losses", label, (mean_losses, counts),
                     lambda: math.exp(float((mean_losses * counts).sum() / counts.sum())),
                     what=f"perplexity (counts {counts.tolist()})", rtol=1e-9,
                     hidden=hidden, points=points)


Q2 = question_from_builder(2, ("perplexity_from_losses",), perplexity_from_losses_case,
                           public=[("3 minibatches of 64, 64 and 8 tokens", 3, 64, 8)],
                           hidden=[("one minibatch of 10 tokens", 1, 10, 10),
                                   ("5 minibatches of 100 tokens, the last of 3", 5, 100, 3),
                                   ("4 minibatches of equal size", 4, 32, 32)])


# --- q3: temperature ------------------------------------------------------------------------------

def _reference_temperature(logits, tau):
    if tau == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    return torch.softmax(logits / tau, dim=-1)


def temperature_probs_case(label: str, logits: torch.Tensor, tau: float, *, hidden: bool = True,
                           points: float = 1.0) -> Case:
    """A test of ``temperature_probs(logits, tau)``."""
    return call_case("q3", "temperature_probs", label, (logits, tau),
                     lambda: _reference_temperature(logits, tau), what=f"probabilities at tau={tau:g}",
                     rtol=1e-9, atol=1e-12, hidden=hidden, points=points)


Q3 = question(3, ("temperature_probs",), public=lambda g: [
    temperature_probs_case("one row of 4 logits, tau=0.5", random_tensor(g, 4, scale=3), 0.5, hidden=False),
    temperature_probs_case("2 rows of 3 logits, tau=0 (greedy)", random_tensor(g, 2, 3, scale=3), 0.0,
                           hidden=False),
], hidden=lambda g: [
    temperature_probs_case("3 rows of 5 logits, tau=1", random_tensor(g, 3, 5, scale=3), 1.0),
    temperature_probs_case("(2, 3, 6) logits, tau=2.5", random_tensor(g, 2, 3, 6, scale=3), 2.5),
    temperature_probs_case("large logits, tau=0.001 (no NaN)", random_tensor(g, 2, 7, scale=50), 1e-3),
    temperature_probs_case("a tie, tau=0 (the first maximum)",
                           torch.tensor([[1.0, 3.0, 3.0, 0.0]], dtype=torch.float64), 0.0),
])


# --- q4: truncated BPTT with a detached state -----------------------------------------------------

def reference_tbptt_losses(ids: torch.Tensor, batch_size: int, num_steps: int, *,
                           detach: bool = True) -> torch.Tensor:
    """The losses of the question's training loop, with the carried state detached (eq-tbptt).
    ``detach=False`` is the mistake the question is about: the second update then fails."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = RecurrentLM(5, 8, "gru").double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    losses, state = [], None
    for X, Y in sequential_batches(ids, batch_size, num_steps, generator=torch.Generator().manual_seed(0)):
        carried = detach_state(state) if detach and state is not None else state
        logits, state = model(X, carried)
        loss = F.cross_entropy(logits.reshape(-1, 5), Y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return torch.tensor(losses, dtype=torch.float64)


def tbptt_losses_case(label: str, generator: torch.Generator, length: int, batch_size: int, num_steps: int,
                      *, hidden: bool = True, points: float = 1.0) -> Case:
    """A test of ``tbptt_losses(ids, batch_size, num_steps)`` on random ids over 5 tokens."""
    ids = torch.randint(0, 5, (length,), generator=generator)
    return call_case("q4", "tbptt_losses", label, (ids, batch_size, num_steps),
                     lambda: reference_tbptt_losses(ids, batch_size, num_steps),
                     what=f"losses of every update ({length} tokens, {batch_size} streams, "
                          f"{num_steps} steps)", rtol=1e-6, atol=1e-9, hidden=hidden, points=points,
                     symptoms=DETACH_SYMPTOMS)


# Forgetting to detach the carried state: the next backward pass runs into the previous
# minibatch's graph, which was freed (or whose weights the optimizer has since changed in place).
_DETACH_HINT = ("the state carried into the next minibatch still holds the previous minibatch's graph; "
                "detach it before the next forward pass (equation eq-tbptt: rnnbook.language_models."
                "detach_state), rather than retaining the graph.")
DETACH_SYMPTOMS = (("backward through the graph a second time", _DETACH_HINT),
                   ("modified by an inplace operation", _DETACH_HINT))


Q4 = question(4, ("tbptt_losses",), public=lambda g: [
    tbptt_losses_case("300 tokens, batch 4, 10 steps", g, 300, 4, 10, hidden=False),
], hidden=lambda g: [
    tbptt_losses_case(f"{length} tokens, batch {streams}, {steps} steps", g, length, streams, steps)
    for length, streams, steps in [(200, 2, 8), (500, 5, 12), (120, 3, 5)]
])


# --- q5: a sample's log-loss against the entropy rate ---------------------------------------------

@functools.lru_cache(maxsize=32)
def reference_sample_log_loss(a: float, b: float, num_tokens: int) -> tuple[float, float]:
    """(mean log-loss, batch-means standard error) of the question's seeded sample."""
    chain = MarkovChain(_two_state(a, b), order=1)
    losses = chain.log_losses(chain.sample(num_tokens, torch.Generator().manual_seed(0)))
    return float(losses.mean()), batch_means_standard_error(losses)


def sample_log_loss_case(a: float, b: float, num_tokens: int, *, hidden: bool = True,
                         points: float = 1.0) -> Case:
    """A test of ``sample_log_loss(a, b, num_tokens)`` -> ``(mean, standard_error)``."""
    args = (a, b, num_tokens)
    return call_case("q5", "sample_log_loss", f"sample_log_loss{args}", args,
                     lambda: reference_sample_log_loss(*args),
                     what=("mean", "standard error"), form="a pair (mean, standard_error)",
                     rtol=1e-9, hidden=hidden, points=points)


def _within() -> str:
    mean, error = reference_sample_log_loss(0.1, 0.3, 20_000)
    entropy = MarkovChain(_two_state(0.1, 0.3), order=1).entropy_rate()
    return "yes" if abs(mean - entropy) <= 3 * error else "no"


def _within_case(*, hidden: bool) -> Case:
    return choice_case("q5", "q5_within", "is the mean within three standard errors?", ("yes", "no"),
                       _within, what="within three standard errors (20,000 tokens)", hidden=hidden)


Q5 = question(5, ("sample_log_loss", "q5_within"), public=lambda g: [
    sample_log_loss_case(0.1, 0.3, 2_000, hidden=False), _within_case(hidden=False),
], hidden=lambda g: [
    sample_log_loss_case(0.2, 0.2, 5_000), sample_log_loss_case(0.05, 0.6, 10_000),
    _within_case(hidden=True),
])


EXERCISE_SET = ExerciseSet("08", "08_language_models.ipynb", "How good can a language model get?",
                           [Q1, Q2, Q3, Q4, Q5])
check = EXERCISE_SET.check
