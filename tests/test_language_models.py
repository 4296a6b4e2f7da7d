"""Chapter 8's language models and trainer (rnnbook.language_models): shapes and states, the
state carried only in truncated BPTT, the evaluation points, the learning-rate schedule."""

import math

import pytest
import torch
from torch import nn

from rnnbook.language_models import RecurrentLM, detach_state, fit_language_model


@pytest.mark.parametrize("cell, num_layers", [("rnn", 1), ("gru", 2), ("lstm", 1)])
def test_recurrent_lm_shapes_and_state(cell, num_layers):
    model = RecurrentLM(vocab_size=7, hidden_size=5, cell=cell, num_layers=num_layers)
    tokens = torch.randint(7, (3, 4), generator=torch.Generator().manual_seed(0))
    logits, state = model(tokens)
    assert logits.shape == (3, 4, 7)
    h_n = state[0] if cell == "lstm" else state
    assert h_n.shape == (num_layers, 3, 5)
    # reading the two halves with the state carried gives the same logits as reading it whole
    first, mid = model(tokens[:, :2])
    second, _ = model(tokens[:, 2:], mid)
    assert torch.allclose(torch.cat([first, second], dim=1), logits, atol=1e-6)
    detached = detach_state(state)
    for s in detached if isinstance(detached, tuple) else (detached,):
        assert not s.requires_grad


def _fit_on_periodic_text(model, length, train_length, **options):
    """``fit_language_model`` on the periodic text 0 1 2 3 4 0 1 ... (easy to learn), silently;
    the first ``train_length`` tokens train, the rest validate."""
    torch.manual_seed(0)
    ids = torch.arange(length) % 5
    return fit_language_model(model, ids[:train_length], ids[train_length:], log=lambda _: None, **options)


class _StateRecorder(nn.Module):
    """Wraps a language model and records, in training mode, the state each call received."""

    def __init__(self, model):
        super().__init__()
        self.model, self.received = model, []

    def forward(self, tokens, state=None):
        if self.training:
            self.received.append(state)
        return self.model(tokens, state)


@pytest.mark.parametrize("batches", ["random", "sequential"])
def test_fit_language_model_carries_state_only_when_sequential(batches):
    recorder = _StateRecorder(RecurrentLM(5, 16, "gru"))
    options = dict(num_updates=40, batch_size=4, num_steps=8, lr=0.02, eval_every=20)
    history = _fit_on_periodic_text(recorder, 3000, 2500, batches=batches, **options)
    assert history["update"] == [0, 20, 40]
    assert history["valid_perplexity"][-1] < 0.5 * history["valid_perplexity"][0]
    assert len(recorder.received) == 40
    if batches == "random":
        assert all(state is None for state in recorder.received)
    else:
        assert recorder.received[0] is None
        carried = [state for state in recorder.received[1:] if state is not None]
        assert len(carried) >= 30 and not any(state.requires_grad for state in carried)
    with pytest.raises(ValueError, match="'random' or 'sequential'"):
        _fit_on_periodic_text(recorder, 100, 50, num_updates=1, batches="shuffled")


def test_fit_language_model_evaluates_at_the_requested_updates():
    """Chapter 8 reads each model at the update where it has spent the arithmetic budget."""
    options = dict(num_updates=12, batch_size=2, num_steps=4, eval_every=5, eval_at=(3, 10, 12))
    history = _fit_on_periodic_text(RecurrentLM(5, 8, "rnn"), 600, 500, **options)
    assert history["update"] == [0, 3, 5, 10, 12]
    assert len(history["valid_perplexity"]) == len(history["seconds"]) == 5
    assert history["seconds"] == sorted(history["seconds"])


def test_fit_language_model_cosine_schedule(monkeypatch):
    """Equation eq-cosine-schedule: the learning rate falls from lr towards 0 along a half cosine.

    The rate of every update is read from the optimizer as each update is made."""
    rates = []
    adam_step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return adam_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    cosine = [0.02 * (1 + math.cos(math.pi * u / 4)) / 2 for u in range(4)]
    options = dict(num_updates=4, batch_size=4, num_steps=8, lr=0.02, eval_every=4)
    for schedule, expected in [("constant", [0.02] * 4), ("cosine", cosine)]:
        rates.clear()
        _fit_on_periodic_text(RecurrentLM(5, 8, "gru"), 300, 250, schedule=schedule, **options)
        assert rates == pytest.approx(expected, rel=1e-12)
    monkeypatch.undo()
    model = RecurrentLM(5, 8, "gru")
    options = dict(num_updates=40, batch_size=4, num_steps=8, lr=0.02, eval_every=20)
    history = _fit_on_periodic_text(model, 3000, 2500, schedule="cosine", **options)
    assert history["update"] == [0, 20, 40]
    assert history["valid_perplexity"][-1] < 0.5 * history["valid_perplexity"][0]
    with pytest.raises(ValueError, match="'constant' or 'cosine'"):
        _fit_on_periodic_text(model, 100, 50, num_updates=1, schedule="linear")


def test_fit_language_model_can_skip_the_evaluation_before_training():
    options = dict(num_updates=10, batch_size=2, num_steps=4, eval_every=5, eval_first=False)
    history = _fit_on_periodic_text(RecurrentLM(5, 8, "rnn"), 600, 500, **options)
    assert history["update"] == [5, 10] and len(history["valid_perplexity"]) == 2
