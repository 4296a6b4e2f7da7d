"""Chapter 1's from-scratch RNN (rnnbook.scratch): the recurrence against nn.RNN in float64, the language
model and its nn.RNN twin, perplexity, gradient clipping, the training loop and text generation."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnbook.data import Vocab
from rnnbook.scratch import (
    RNNLMScratch,
    RNNLMTorch,
    clip_gradients,
    generate,
    perplexity,
    rnn_layer_forward,
    train_language_model,
)

DTYPE = torch.float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """As in the notebooks (rnnbook.set_seed): one thread, so training is fast on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def scratch_model(vocab_size, hidden_size, seed=0):
    torch.manual_seed(seed)
    return RNNLMScratch(vocab_size, hidden_size).to(DTYPE)


# ----------------------------------------------------------------------------- the recurrence


def test_rnn_layer_forward_by_hand():
    """One input and one hidden unit: h1 = tanh(0.5*1 + 2*0 + 0.1), h2 = tanh(0.5*2 + 2*h1 + 0.1)."""
    inputs = torch.tensor([[[1.0]], [[2.0]]], dtype=DTYPE)  # (T=2, n=1, d=1)
    W_ih, W_hh, b_h = (torch.tensor(v, dtype=DTYPE) for v in ([[0.5]], [[2.0]], [0.1]))
    outputs, final = rnn_layer_forward(inputs, torch.zeros(1, 1, dtype=DTYPE), W_ih, W_hh, b_h)
    h1 = math.tanh(0.6)
    h2 = math.tanh(1.0 + 2 * h1 + 0.1)
    assert outputs.shape == (2, 1, 1) and final.shape == (1, 1)
    assert abs(outputs[0, 0, 0].item() - h1) < 1e-15 and abs(outputs[1, 0, 0].item() - h2) < 1e-15
    assert torch.equal(final, outputs[-1])


@pytest.mark.parametrize("T, n, d, h", [(1, 1, 1, 1), (1, 3, 2, 4), (6, 1, 3, 2), (12, 4, 5, 7)])
def test_rnn_layer_forward_equals_nn_rnn(T, n, d, h):
    g = torch.Generator().manual_seed(T * 100 + h)
    torch.manual_seed(T * 100 + h)
    rnn = nn.RNN(d, h, dtype=DTYPE)
    inputs = torch.randn(T, n, d, generator=g, dtype=DTYPE)
    state = torch.randn(n, h, generator=g, dtype=DTYPE)
    expected, h_n = rnn(inputs, state[None])
    outputs, final = rnn_layer_forward(
        inputs, state, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0 + rnn.bias_hh_l0
    )  # nn.RNN has two biases
    assert outputs.shape == (T, n, h) and final.shape == (n, h)
    assert torch.allclose(outputs, expected, rtol=0, atol=1e-13)
    assert torch.allclose(final, h_n[0], rtol=0, atol=1e-13)


# ----------------------------------------------------------------------------- the language models


def test_scratch_model_parameters_and_initialization():
    q, h = 11, 9
    torch.manual_seed(0)
    model = RNNLMScratch(q, h)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes == {"W_ih": (h, q), "W_hh": (h, h), "b_h": (h,), "W_hy": (q, h), "b_y": (q,)}
    values = torch.cat([p.detach().flatten() for p in model.parameters()])
    bound = 1 / math.sqrt(h)
    assert values.abs().max() <= bound  # uniform in [-1/sqrt(h), 1/sqrt(h)], as nn.RNN does
    assert values.abs().max() > 0.8 * bound and values.min() < 0 < values.max()  # and not narrower
    state = model.begin_state(4)
    assert state.shape == (4, h) and not state.any() and state.dtype == torch.float32
    assert model.to(DTYPE).begin_state(2).dtype == DTYPE  # the state follows the parameters' dtype


def test_scratch_model_shapes_and_forward_by_definition():
    q, h, n, T = 6, 5, 3, 7
    model = scratch_model(q, h)
    tokens = torch.randint(q, (n, T), generator=torch.Generator().manual_seed(1))
    logits, state = model(tokens)
    assert logits.shape == (n, T, q) and state.shape == (n, h)
    # row by row and step by step, from the equations
    # h_t = tanh(W_ih x_t + W_hh h_{t-1} + b_h) and o_t = W_hy h_t + b_y, where W_ih x_t is a column of W_ih
    for row in range(n):
        H = torch.zeros(h, dtype=DTYPE)
        for t in range(T):
            H = torch.tanh(model.W_ih[:, tokens[row, t]] + model.W_hh @ H + model.b_h)
            assert torch.allclose(logits[row, t], model.W_hy @ H + model.b_y, rtol=0, atol=1e-13)
        assert torch.allclose(state[row], H, rtol=0, atol=1e-13)


def test_scratch_model_carries_its_state():
    """Reading a sequence in two pieces, passing the state on, gives what reading it at once gives."""
    model = scratch_model(5, 8)
    tokens = torch.randint(5, (2, 9), generator=torch.Generator().manual_seed(2))
    whole, final = model(tokens)
    first, state = model(tokens[:, :4])
    second, state = model(tokens[:, 4:], state)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, rtol=0, atol=1e-13)
    assert torch.allclose(state, final, rtol=0, atol=1e-13)
    restarted, _ = model(tokens[:, 4:])  # without the state, the second piece reads differently
    assert (restarted - second).abs().max() > 1e-3


def test_torch_model_with_the_scratch_weights_computes_the_same_thing():
    q, h = 7, 6
    scratch = scratch_model(q, h)
    torch.manual_seed(1)
    twin = RNNLMTorch(q, h).to(DTYPE)
    assert twin.load_scratch(scratch) is twin
    assert not twin.rnn.bias_hh_l0.any()
    g = torch.Generator().manual_seed(3)
    tokens = torch.randint(q, (4, 10), generator=g)
    state = torch.randn(4, h, generator=g, dtype=DTYPE)
    for initial in (None, state):
        logits, final = twin(tokens, initial)
        expected_logits, expected_final = scratch(tokens, initial)
        assert logits.shape == (4, 10, q) and final.shape == (4, h)
        assert torch.allclose(logits, expected_logits, rtol=0, atol=1e-12)
        assert torch.allclose(final, expected_final, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- perplexity


def uniform_model(vocab_size, logits_bias=None):
    """A model whose output ignores its input: every weight zero, output bias ``logits_bias``."""
    model = scratch_model(vocab_size, 3)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        if logits_bias is not None:
            model.b_y.copy_(torch.as_tensor(logits_bias, dtype=DTYPE))
    return model


def test_perplexity_of_a_uniform_guess_is_the_vocabulary_size():
    ids = torch.randint(9, (500,), generator=torch.Generator().manual_seed(4))
    assert abs(perplexity(uniform_model(9), ids, num_steps=16, batch_size=4) - 9) < 1e-9


def test_perplexity_of_fixed_probabilities_is_exp_of_the_cross_entropy():
    """With p = softmax(b_y) at every step, perplexity = exp(-mean log p[next token]) over the tokens
    that are predicted: the first (len - 1) // batch_size * batch_size targets."""
    b_y = torch.tensor([0.0, 1.0, -2.0], dtype=DTYPE)
    ids = torch.randint(3, (103,), generator=torch.Generator().manual_seed(5))
    log_p = torch.log_softmax(b_y, dim=0)
    targets = ids[1 : 1 + 102 // 4 * 4]
    expected = math.exp(-log_p[targets].mean().item())
    assert abs(perplexity(uniform_model(3, b_y), ids, num_steps=5, batch_size=4) - expected) < 1e-12


@pytest.mark.parametrize("num_steps, batch_size", [(3, 4), (64, 2), (1, 1)])
def test_perplexity_carries_the_state_across_windows(num_steps, batch_size):
    """The windows of each stream, state carried, score what one pass over the whole stream scores."""
    model = scratch_model(6, 8)
    ids = torch.randint(6, (87,), generator=torch.Generator().manual_seed(6))
    length = (len(ids) - 1) // batch_size
    total = 0.0
    for i in range(batch_size):
        stream = ids[i * length : (i + 1) * length + 1]
        logits, _ = model(stream[None, :-1])
        total += F.cross_entropy(logits[0], stream[1:], reduction="sum").item()
    expected = math.exp(total / (batch_size * length))
    assert abs(perplexity(model, ids, num_steps=num_steps, batch_size=batch_size) - expected) < 1e-10


# ----------------------------------------------------------------------------- gradient clipping


def parameters_with_gradients(*grads):
    params = []
    for g in grads:
        p = nn.Parameter(torch.zeros_like(g))
        p.grad = g.clone()
        params.append(p)
    return params


def three_four_five():
    """Gradients (3, 0) and ((4)): total norm 5."""
    return parameters_with_gradients(
        torch.tensor([3.0, 0.0], dtype=DTYPE), torch.tensor([[4.0]], dtype=DTYPE)
    )


def test_clip_gradients_scales_to_the_threshold():
    """Clipping a total norm of 5 to 1 scales every gradient by 1/5."""
    params = three_four_five()
    params.append(nn.Parameter(torch.ones(2, dtype=DTYPE)))  # no gradient: skipped
    norm = clip_gradients(params, max_norm=1.0)
    assert isinstance(norm, float) and abs(norm - 5.0) < 1e-15  # the norm *before* clipping
    assert torch.allclose(params[0].grad, torch.tensor([0.6, 0.0], dtype=DTYPE), rtol=0, atol=1e-15)
    assert torch.allclose(params[1].grad, torch.tensor([[0.8]], dtype=DTYPE), rtol=0, atol=1e-15)
    assert params[2].grad is None


@pytest.mark.parametrize("max_norm", [5.0, 5.5, 100.0])
def test_clip_gradients_leaves_gradients_at_or_below_the_threshold_alone(max_norm):
    params = three_four_five()
    before = [p.grad.clone() for p in params]
    assert clip_gradients(params, max_norm) == 5.0
    assert all(torch.equal(p.grad, b) for p, b in zip(params, before))


@pytest.mark.parametrize("max_norm", [0.1, 1.0, 3.0, 1e3])
def test_clip_gradients_equals_torch(max_norm):
    g = torch.Generator().manual_seed(7)
    grads = [torch.randn(*shape, generator=g, dtype=DTYPE) for shape in [(4, 3), (3,), (2, 2, 2)]]
    ours, theirs = parameters_with_gradients(*grads), parameters_with_gradients(*grads)
    norm = clip_gradients(ours, max_norm)
    expected_norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert abs(norm - expected_norm.item()) < 1e-12
    clipped = torch.sqrt(sum((p.grad**2).sum() for p in ours)).item()
    assert abs(clipped - min(norm, max_norm)) < 1e-12
    for a, b in zip(ours, theirs):
        # torch divides by norm + 1e-6, so its clipped gradients are smaller by a relative 1e-6 / norm
        assert torch.allclose(a.grad, b.grad, rtol=2e-6 / norm, atol=0)


# ----------------------------------------------------------------------------- training


class Recorder(nn.Module):
    """Wraps a model and records, for every call, whether it was in training mode and got a state."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, []

    def forward(self, tokens, state=None):
        self.calls.append((self.training, state is None, tuple(tokens.shape)))
        return self.model(tokens, state)


CYCLE = "abcde"


def cyclic_ids(vocab, length):
    """'abcdeabcde...': each character fixes the next, so a perfect model reaches perplexity 1."""
    return vocab.encode((CYCLE * (length // len(CYCLE) + 1))[:length])


def test_training_reduces_perplexity_on_a_tiny_problem():
    vocab = Vocab(CYCLE)
    train_ids, valid_ids = cyclic_ids(vocab, 400), cyclic_ids(vocab, 200)
    for seed in range(3):
        torch.manual_seed(seed)
        model = RNNLMScratch(len(vocab), 16)
        before = perplexity(model, valid_ids)
        options = dict(num_updates=40, batch_size=8, num_steps=10, lr=0.02, eval_every=20, seed=seed)
        history = train_language_model(model, train_ids, valid_ids, log=lambda _: None, **options)
        assert before > 3.5  # near 5, the vocabulary size: an untrained model guesses
        assert history["valid_perplexity"][-1] < 1.5, (seed, history)
        assert history["valid_perplexity"][-1] == perplexity(model, valid_ids)  # it reports the trained model
        assert history["train_perplexity"][0] > history["train_perplexity"][-1]


def test_training_history_log_and_calls():
    vocab = Vocab(CYCLE)
    train_ids, valid_ids = cyclic_ids(vocab, 300), cyclic_ids(vocab, 100)
    torch.manual_seed(0)
    model = Recorder(RNNLMScratch(len(vocab), 4))
    lines = []
    options = dict(num_updates=25, batch_size=4, num_steps=6, eval_every=10)
    history = train_language_model(model, train_ids, valid_ids, log=lines.append, **options)
    assert set(history) == {"update", "train_perplexity", "valid_perplexity", "seconds"}
    assert history["update"] == [10, 20, 25]  # every eval_every updates, and at the end
    assert all(len(v) == 3 for v in history.values())
    assert history["seconds"] == sorted(history["seconds"]) and history["seconds"][0] >= 0
    assert len(lines) == 3 and all(line.startswith(f"update {u:5d}") for line, u in zip(lines, [10, 20, 25]))
    training_calls = [c for c in model.calls if c[0]]
    assert len(training_calls) == 25  # one forward pass per update, more epochs than one
    assert all(no_state and shape == (4, 6) for _, no_state, shape in training_calls)  # from a zero state
    assert model.training  # back in training mode after the evaluations


def test_training_is_reproducible_from_its_seed():
    vocab = Vocab(CYCLE)
    train_ids = vocab.encode(
        "".join(
            CYCLE[i] for i in torch.randint(5, (300,), generator=torch.Generator().manual_seed(8)).tolist()
        )
    )
    valid_ids = train_ids[:100]

    def run(seed):
        torch.manual_seed(0)
        model = RNNLMScratch(len(vocab), 4)
        options = dict(num_updates=6, batch_size=4, num_steps=6, eval_every=3, seed=seed)
        history = train_language_model(model, train_ids, valid_ids, log=lambda _: None, **options)
        return history["train_perplexity"] + history["valid_perplexity"], model.W_hh.detach().clone()

    a, b, c = run(1), run(1), run(2)
    assert a[0] == b[0] and torch.equal(a[1], b[1])
    assert a[0] != c[0]  # the seed picks the minibatches


# ----------------------------------------------------------------------------- generation


def test_generate_returns_the_prefix_and_the_requested_number_of_vocabulary_characters():
    vocab = Vocab("the cat sat.\n")
    model = scratch_model(len(vocab), 8)
    for temperature in (0.0, 0.5, 1.0, 3.0):
        text = generate(model, vocab, "the c", 40, temperature, generator=torch.Generator().manual_seed(9))
        assert len(text) == 45 and text.startswith("the c") and set(text) <= set(vocab.idx_to_token)
    assert generate(model, vocab, "a", 0) == "a"


def test_generate_at_temperature_zero_is_greedy():
    """Each character is the argmax of the logits for the whole text so far, read from the start."""
    vocab = Vocab("abcdefg")
    model = scratch_model(len(vocab), 10, seed=3)
    text = generate(model, vocab, "fad", 12, temperature=0)
    for k in range(3, len(text)):
        logits, _ = model(vocab.encode(text[:k])[None, :])
        assert text[k] == vocab.idx_to_token[int(logits[0, -1].argmax())]
    assert len(text) == 15


def test_generate_samples_from_the_softmax_of_logits_over_temperature():
    """Fixed logits (0, log 3, -50): at temperature 1, 'a', 'b', 'c' have probabilities 1/4, 3/4 and
    about 5e-23; at temperature 100 they are nearly equal: exp(logit / 100), normalized."""
    vocab = Vocab("abc")
    logits = [0.0, math.log(3.0), -50.0]
    model = uniform_model(3, logits)
    n = 400
    for temperature in (1.0, 100.0):
        weights = [math.exp(z / temperature) for z in logits]
        text = generate(model, vocab, "a", n, temperature, generator=torch.Generator().manual_seed(10))[1:]
        assert len(text) == n
        for ch, w in zip("abc", weights):
            p = w / sum(weights)
            assert abs(text.count(ch) - n * p) <= 6 * math.sqrt(n * p * (1 - p)), (temperature, ch)
    assert "c" in text  # at temperature 100 'c' has probability 0.26
    assert generate(model, vocab, "c", 20, temperature=0) == "c" + "b" * 20


def test_generate_is_reproducible_with_a_generator():
    vocab = Vocab("abcdef")
    model = scratch_model(len(vocab), 6)

    def sample(seed):
        g = torch.Generator().manual_seed(seed)
        return generate(model, vocab, "ab", 30, temperature=1.0, generator=g)

    assert sample(11) == sample(11) and sample(11) != sample(12)


def test_generate_checks_its_arguments():
    vocab = Vocab("abc")
    model = scratch_model(3, 4)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, vocab, "a", 5, temperature=-0.1)
    with pytest.raises(ValueError, match="prefix"):
        generate(model, vocab, "", 5)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        generate(model, vocab, "ax", 5)
