"""Chapter 8's Markov chains (rnnbook.markov): entropy rate, stationary distribution, fitting, sampling."""

import math

import pytest
import torch

from rnnbook.language_models import RecurrentLM
from rnnbook.markov import MarkovChain, batch_means_standard_error, fit_markov_chain


def binary_entropy(p):
    return -p * math.log(p) - (1 - p) * math.log(1 - p)


@pytest.mark.parametrize("a, b", [(0.1, 0.3), (0.5, 0.5), (0.02, 0.9), (0.7, 0.2)])
def test_two_state_chain_matches_the_formula(a, b):
    chain = MarkovChain(torch.tensor([[1 - a, a], [b, 1 - b]], dtype=torch.float64), order=1)
    pi = chain.stationary_distribution()
    assert torch.allclose(pi, torch.tensor([b / (a + b), a / (a + b)], dtype=torch.float64), atol=1e-12)
    expected = b / (a + b) * binary_entropy(a) + a / (a + b) * binary_entropy(b)
    assert abs(chain.entropy_rate() - expected) < 1e-12


def test_fair_coin_has_entropy_log_2():
    chain = MarkovChain(torch.full((2, 2), 0.5, dtype=torch.float64), order=1)
    assert abs(chain.entropy_rate() - math.log(2)) < 1e-15


def _random_chain(vocab_size, order, seed):
    generator = torch.Generator().manual_seed(seed)
    probs = torch.rand(vocab_size**order, vocab_size, generator=generator, dtype=torch.float64) + 0.05
    return MarkovChain(probs / probs.sum(dim=1, keepdim=True), order)


def _dense_context_matrix(chain):
    """The q^k x q^k transition matrix between contexts, built the slow, obvious way."""
    q, n = chain.vocab_size, chain.num_contexts
    M = torch.zeros(n, n, dtype=torch.float64)
    for s in range(n):
        for x in range(q):
            M[s, (s * q + x) % n] += chain.probs[s, x]
    return M


@pytest.mark.parametrize("vocab_size, order", [(3, 1), (3, 2), (2, 3)])
def test_power_iteration_finds_the_left_eigenvector(vocab_size, order):
    chain = _random_chain(vocab_size, order, seed=vocab_size * 10 + order)
    pi = chain.stationary_distribution()
    M = _dense_context_matrix(chain)
    eigenvalues, eigenvectors = torch.linalg.eig(M.T)
    top = eigenvectors[:, eigenvalues.real.argmax()].real
    top = top / top.sum()
    assert torch.allclose(pi, top, atol=1e-10)
    assert torch.allclose(pi @ M, pi, atol=1e-12)
    expected_h = -(pi[:, None] * chain.probs * chain.probs.log()).sum().item()
    assert abs(chain.entropy_rate() - expected_h) < 1e-12


def test_fit_counts_by_hand():
    # transitions of 0 1 0 1 1 (order 1): 0->1, 1->0, 0->1, 1->1
    chain = fit_markov_chain(torch.tensor([0, 1, 0, 1, 1]), vocab_size=2, order=1, alpha=1.0)
    expected = torch.tensor([[1 / 4, 3 / 4], [2 / 4, 2 / 4]], dtype=torch.float64)
    assert torch.allclose(chain.probs, expected)


def test_fit_order_two_context_indexing():
    # order 2 over 3 symbols: context (c1, c2) has index 3*c1 + c2; unseen contexts are uniform
    ids = torch.tensor([2, 0, 1, 2, 0, 1])
    chain = fit_markov_chain(ids, vocab_size=3, order=2, alpha=0.5)
    assert chain.context_ids(ids).tolist() == [6, 1, 5, 6]
    # (2, 0) -> 1 twice: (2 + 0.5) / (2 + 1.5)
    assert abs(chain.probs[6, 1].item() - 2.5 / 3.5) < 1e-12
    assert torch.allclose(chain.probs[0], torch.full((3,), 1 / 3, dtype=torch.float64))
    losses = chain.log_losses(ids)
    assert torch.allclose(losses, -chain.probs[[6, 1, 5, 6], [1, 2, 0, 1]].log())


def test_long_sample_matches_stationary_distribution_and_entropy_rate():
    chain = _random_chain(3, 2, seed=7)
    sample = chain.sample(100_000, torch.Generator().manual_seed(0))
    assert sample.shape == (100_000,) and sample.dtype == torch.long
    frequencies = torch.bincount(chain.context_ids(sample), minlength=chain.num_contexts).double()
    frequencies /= frequencies.sum()
    assert (frequencies - chain.stationary_distribution()).abs().max() < 0.01
    losses = chain.log_losses(sample)
    assert abs(losses.mean().item() - chain.entropy_rate()) < 4 * batch_means_standard_error(losses)


def test_sampling_is_reproducible_with_a_generator():
    chain = _random_chain(3, 2, seed=1)
    first = chain.sample(500, torch.Generator().manual_seed(3))
    second = chain.sample(500, torch.Generator().manual_seed(3))
    assert torch.equal(first, second)


def test_batch_means_standard_error_of_independent_values():
    values = torch.randn(100_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    se = batch_means_standard_error(values, num_batches=50)
    assert 0.7 / math.sqrt(len(values)) < se < 1.3 / math.sqrt(len(values))


def test_batch_means_sees_correlation():
    # each value repeated 100 times: the naive error is 10 times too small
    base = torch.randn(2000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    values = base.repeat_interleave(100)
    naive = values.std().item() / math.sqrt(len(values))
    assert batch_means_standard_error(values, num_batches=50) > 5 * naive


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="alpha must be positive"):
        fit_markov_chain(torch.tensor([0, 1, 0]), 2, 1, alpha=0.0)
    with pytest.raises(ValueError, match="positive"):
        MarkovChain(torch.tensor([[1.0, 0.0], [0.5, 0.5]]), order=1)
    with pytest.raises(ValueError, match="4 contexts"):
        MarkovChain(torch.full((2, 2), 0.5), order=2)
    with pytest.raises(ValueError, match="sum to 1"):
        MarkovChain(torch.full((2, 2), 0.4), order=1)
    with pytest.raises(ValueError, match="0..1"):
        fit_markov_chain(torch.tensor([0, 1, 2]), 2, 1, alpha=1.0)
    with pytest.raises(ValueError, match="1-D torch.long"):
        fit_markov_chain(torch.tensor([0.0, 1.0]), 2, 1, alpha=1.0)
    with pytest.raises(ValueError, match="cell must be one of"):
        RecurrentLM(5, 4, cell="transformer")
