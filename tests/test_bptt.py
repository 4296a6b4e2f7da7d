"""The hand-written backpropagation through time of Chapter 2 (rnnbook.bptt) against autograd,
nn.RNN and finite differences, in float64, and its input checks."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnbook.bptt import (
    cross_entropy_with_gradient,
    linear_backward,
    numerical_gradient,
    relative_error,
    rnn_backward,
    rnn_forward_with_cache,
    scale_gradient,
    stacked_rnn_backward,
    stacked_rnn_forward_with_cache,
)
from rnnbook.scratch import rnn_layer_forward

DTYPE = torch.float64
# (T, n, d, h): includes a single step, a batch of one, and everything equal to one.
SHAPES = [(1, 1, 1, 1), (1, 3, 2, 4), (5, 1, 3, 2), (9, 4, 6, 5), (30, 2, 3, 8)]


def random_layer(T, n, d, h, seed):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(T, n, d, generator=g, dtype=DTYPE),
        0.5 * torch.randn(n, h, generator=g, dtype=DTYPE),
        torch.randn(h, d, generator=g, dtype=DTYPE) / d**0.5,
        torch.randn(h, h, generator=g, dtype=DTYPE) / h**0.5,
        0.1 * torch.randn(h, generator=g, dtype=DTYPE),
    )


def autograd_layer(inputs, state, weight_ih, weight_hh, bias, grad_hiddens, grad_final_state):
    """Autograd's gradients of sum(grad_hiddens * H) + sum(grad_final_state * H_T), and of each H_t."""
    leaves = [t.clone().requires_grad_() for t in (inputs, state, weight_ih, weight_hh, bias)]
    H, states = leaves[1], []
    for x in leaves[0]:  # step by step, so that the gradient of every H_t can be asked for
        H = torch.tanh(x @ leaves[2].T + H @ leaves[3].T + leaves[4])
        states.append(H)
    loss = (torch.stack(states) * grad_hiddens).sum() + (H * grad_final_state).sum()
    grads = torch.autograd.grad(loss, leaves + states)
    return grads[:5], torch.stack(grads[5:])


@pytest.mark.parametrize("T, n, d, h", SHAPES)
def test_rnn_backward_equals_autograd(T, n, d, h):
    inputs, state, weight_ih, weight_hh, bias = random_layer(T, n, d, h, seed=T * 1000 + n * 100 + d * 10 + h)
    g = torch.Generator().manual_seed(1)
    grad_hiddens = torch.randn(T, n, h, generator=g, dtype=DTYPE)
    grad_final_state = torch.randn(n, h, generator=g, dtype=DTYPE)

    hiddens, cache = rnn_forward_with_cache(inputs, state, weight_ih, weight_hh, bias)
    ours = rnn_backward(grad_hiddens, cache, grad_final_state)
    expected, expected_hiddens = autograd_layer(
        inputs, state, weight_ih, weight_hh, bias, grad_hiddens, grad_final_state
    )

    assert torch.equal(hiddens, rnn_layer_forward(inputs, state, weight_ih, weight_hh, bias)[0])
    for name, value, reference in zip(
        ["inputs", "state", "weight_ih", "weight_hh", "bias"],
        [ours.inputs, ours.state, ours.weight_ih, ours.weight_hh, ours.bias],
        expected,
    ):
        assert value.shape == reference.shape, name
        assert relative_error(value, reference) < 1e-10, (name, relative_error(value, reference))
    assert relative_error(ours.hiddens, expected_hiddens) < 1e-10


@pytest.mark.parametrize("T, n, d, h", SHAPES)
def test_language_model_gradients_equal_autograd(T, n, d, h):
    """Forward, cross-entropy, output layer and BPTT by hand, against F.cross_entropy + autograd."""
    q = 3
    inputs, state, weight_ih, weight_hh, bias = random_layer(T, n, d, h, seed=7 + T + h)
    g = torch.Generator().manual_seed(2)
    weight_hy = torch.randn(q, h, generator=g, dtype=DTYPE)
    bias_y = torch.randn(q, generator=g, dtype=DTYPE)
    targets = torch.randint(q, (T, n), generator=g)

    hiddens, cache = rnn_forward_with_cache(inputs, state, weight_ih, weight_hh, bias)
    loss, grad_logits = cross_entropy_with_gradient(hiddens @ weight_hy.T + bias_y, targets)
    grad_hiddens, grad_weight_hy, grad_bias_y = linear_backward(grad_logits, hiddens, weight_hy)
    ours = rnn_backward(grad_hiddens, cache)

    leaves = [
        t.clone().requires_grad_() for t in (inputs, state, weight_ih, weight_hh, bias, weight_hy, bias_y)
    ]
    auto_hiddens, _ = rnn_layer_forward(*leaves[:5])
    auto_loss = F.cross_entropy((auto_hiddens @ leaves[5].T + leaves[6]).reshape(-1, q), targets.reshape(-1))
    expected = torch.autograd.grad(auto_loss, leaves)

    assert abs(loss.item() - auto_loss.item()) < 1e-12
    mine = [ours.inputs, ours.state, ours.weight_ih, ours.weight_hh, ours.bias, grad_weight_hy, grad_bias_y]
    for value, reference in zip(mine, expected):
        assert relative_error(value, reference) < 1e-10


@pytest.mark.parametrize("num_layers, T, n", [(2, 1, 1), (2, 6, 3), (3, 4, 2)])
def test_stacked_backward_equals_nn_rnn(num_layers, T, n):
    d, h, q = 3, 4, 5
    torch.manual_seed(num_layers * 10 + T)
    rnn = nn.RNN(d, h, num_layers=num_layers, dtype=DTYPE)
    output = nn.Linear(h, q, dtype=DTYPE)
    inputs = torch.randn(T, n, d, dtype=DTYPE, requires_grad=True)
    states = 0.3 * torch.randn(num_layers, n, h, dtype=DTYPE)
    targets = torch.randint(q, (T, n))
    top, _ = rnn(inputs, states)
    F.cross_entropy(output(top).reshape(-1, q), targets.reshape(-1)).backward()

    layers = [
        (
            getattr(rnn, f"weight_ih_l{k}"),
            getattr(rnn, f"weight_hh_l{k}"),
            getattr(rnn, f"bias_ih_l{k}") + getattr(rnn, f"bias_hh_l{k}"),
        )
        for k in range(num_layers)
    ]
    our_top, caches = stacked_rnn_forward_with_cache(inputs, states, layers)
    assert relative_error(our_top, top.detach()) < 1e-12
    _, grad_logits = cross_entropy_with_gradient(our_top @ output.weight.T + output.bias, targets)
    grad_top, grad_weight, grad_bias = linear_backward(grad_logits, our_top, output.weight)
    grads = stacked_rnn_backward(grad_top, caches)

    assert len(grads) == num_layers
    assert relative_error(grads[0].inputs, inputs.grad) < 1e-10
    assert relative_error(grad_weight, output.weight.grad) < 1e-10
    assert relative_error(grad_bias, output.bias.grad) < 1e-10
    for k in range(num_layers):
        assert relative_error(grads[k].weight_ih, getattr(rnn, f"weight_ih_l{k}").grad) < 1e-10
        assert relative_error(grads[k].weight_hh, getattr(rnn, f"weight_hh_l{k}").grad) < 1e-10
        assert relative_error(grads[k].bias, getattr(rnn, f"bias_ih_l{k}").grad) < 1e-10
        assert relative_error(grads[k].bias, getattr(rnn, f"bias_hh_l{k}").grad) < 1e-10


def test_stacked_backward_with_different_hidden_sizes_and_final_state_gradients():
    T, n, sizes = 5, 2, [3, 6, 2]  # input size 3, then layers of 6 and 2 units
    g = torch.Generator().manual_seed(3)
    layers = [
        (
            torch.randn(sizes[k + 1], sizes[k], generator=g, dtype=DTYPE) / 2,
            torch.randn(sizes[k + 1], sizes[k + 1], generator=g, dtype=DTYPE) / 2,
            torch.randn(sizes[k + 1], generator=g, dtype=DTYPE) / 4,
        )
        for k in range(2)
    ]
    inputs = torch.randn(T, n, sizes[0], generator=g, dtype=DTYPE)
    states = [torch.randn(n, size, generator=g, dtype=DTYPE) / 2 for size in sizes[1:]]
    grad_top = torch.randn(T, n, sizes[-1], generator=g, dtype=DTYPE)
    grad_finals = [torch.randn(n, size, generator=g, dtype=DTYPE) for size in sizes[1:]]

    top, caches = stacked_rnn_forward_with_cache(inputs, states, layers)
    grads = stacked_rnn_backward(grad_top, caches, grad_finals)

    leaves = [inputs.clone().requires_grad_()] + [s.clone().requires_grad_() for s in states]
    weights = [tuple(w.clone().requires_grad_() for w in layer) for layer in layers]
    hiddens, loss = leaves[0], 0.0
    for k in range(2):
        hiddens, last = rnn_layer_forward(hiddens, leaves[1 + k], *weights[k])
        loss = loss + (last * grad_finals[k]).sum()
    loss = loss + (hiddens * grad_top).sum()
    expected = torch.autograd.grad(loss, leaves + [w for layer in weights for w in layer])

    assert relative_error(top, hiddens.detach()) < 1e-12
    assert relative_error(grads[0].inputs, expected[0]) < 1e-10
    for k in range(2):
        assert relative_error(grads[k].state, expected[1 + k]) < 1e-10
        for j, name in enumerate(["weight_ih", "weight_hh", "bias"]):
            assert relative_error(getattr(grads[k], name), expected[3 + 3 * k + j]) < 1e-10, (k, name)


@pytest.mark.parametrize("T, n, d, h", SHAPES[1:4])
def test_finite_differences_agree(T, n, d, h):
    inputs, state, weight_ih, weight_hh, bias = random_layer(T, n, d, h, seed=99 + T)
    grad_hiddens = torch.randn(T, n, h, generator=torch.Generator().manual_seed(4), dtype=DTYPE)

    def loss():
        hiddens, _ = rnn_forward_with_cache(inputs, state, weight_ih, weight_hh, bias)
        return (hiddens * grad_hiddens).sum()

    before = loss()
    _, cache = rnn_forward_with_cache(inputs, state, weight_ih, weight_hh, bias)
    grads = rnn_backward(grad_hiddens, cache)
    full = numerical_gradient(loss, weight_hh)  # every entry: result has the shape of weight_hh
    assert full.shape == weight_hh.shape
    assert relative_error(full, grads.weight_hh) < 1e-7
    entries = [(0, 0), (h - 1, d - 1)]
    some = numerical_gradient(loss, weight_ih, entries)
    assert some.shape == (2,)
    assert relative_error(some, torch.stack([grads.weight_ih[e] for e in entries])) < 1e-7
    assert relative_error(numerical_gradient(loss, bias), grads.bias) < 1e-7
    assert relative_error(numerical_gradient(loss, state), grads.state) < 1e-7
    assert loss().item() == before.item()  # every perturbed entry was restored


def test_finite_differences_catch_a_missing_tanh_derivative():
    """The check has teeth: a gradient without diag(1 - h^2) fails it."""
    inputs, state, weight_ih, weight_hh, bias = random_layer(6, 2, 3, 4, seed=5)
    weight_hh = 2 * weight_hh  # saturate some units
    grad_hiddens = torch.ones(6, 2, 4, dtype=DTYPE)
    _, cache = rnn_forward_with_cache(inputs, state, weight_ih, weight_hh, bias)
    correct = rnn_backward(grad_hiddens, cache).bias
    no_tanh = rnn_backward(grad_hiddens, cache._replace(hiddens=torch.zeros_like(cache.hiddens))).bias

    def loss():
        return rnn_forward_with_cache(inputs, state, weight_ih, weight_hh, bias)[0].sum()

    numeric = numerical_gradient(loss, bias)
    assert relative_error(numeric, correct) < 1e-7
    assert relative_error(numeric, no_tanh) > 1e-2


def test_relative_error_definition():
    assert relative_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])) == 0.0
    assert relative_error(torch.tensor([1.0, 5.0]), torch.tensor([3.0, 5.0])) == pytest.approx(0.5)
    assert relative_error(torch.tensor([0.0]), torch.tensor([1e-12])) == pytest.approx(1e-4)  # 1e-8 floor
    with pytest.raises(ValueError, match=r"same shape.*\(2,\).*\(3,\)"):
        relative_error(torch.zeros(2), torch.zeros(3))


def test_cross_entropy_with_gradient_equals_autograd():
    g = torch.Generator().manual_seed(6)
    logits = torch.randn(4, 3, 7, generator=g, dtype=DTYPE)
    targets = torch.randint(7, (4, 3), generator=g)
    loss, grad = cross_entropy_with_gradient(logits, targets)
    leaf = logits.clone().requires_grad_()
    expected_loss = F.cross_entropy(leaf.reshape(-1, 7), targets.reshape(-1))
    (expected,) = torch.autograd.grad(expected_loss, leaf)
    assert abs(loss.item() - expected_loss.item()) < 1e-14
    assert relative_error(grad, expected) < 1e-10
    with pytest.raises(ValueError, match=r"targets must have shape \(4, 3\).*got \(3, 4\)"):
        cross_entropy_with_gradient(logits, targets.T)


def test_scale_gradient_keeps_the_value_and_scales_the_gradient():
    x = torch.randn(3, dtype=DTYPE, requires_grad=True)
    for factor in (0.0, 0.5, 4.0):
        y = scale_gradient(x * 2, factor)
        assert torch.equal(y, x.detach() * 2)
        if factor == 0.0:
            assert not y.requires_grad
        else:
            (grad,) = torch.autograd.grad(y.sum(), x)
            assert torch.allclose(grad, torch.full_like(grad, 2 * factor))


BAD_ARGUMENTS = [  # (change to the arguments, error, what the message must say)
    (
        lambda a: {**a, "weight_ih": a["weight_ih"].T},
        ValueError,
        r"weight_ih must have shape \(4, 3\).*got \(3, 4\)",
    ),
    (
        lambda a: {**a, "state": torch.zeros(5, 4, dtype=DTYPE)},
        ValueError,
        r"state must have shape \(2, 4\).*got \(5, 4\)",
    ),
    (
        lambda a: {**a, "bias": torch.zeros(1, 4, dtype=DTYPE)},
        ValueError,
        r"bias must have shape \(4,\).*got \(1, 4\)",
    ),
    (
        lambda a: {**a, "weight_hh": torch.zeros(4, 5, dtype=DTYPE)},
        ValueError,
        r"weight_hh must be square.*\(4, 5\)",
    ),
    (
        lambda a: {**a, "inputs": a["inputs"][0]},
        ValueError,
        r"inputs must have shape \(T, n, d\).*got \(2, 3\)",
    ),
    (lambda a: {**a, "inputs": a["inputs"][:0]}, ValueError, r"T >= 1.*got \(0, 2, 3\)"),
    (lambda a: {**a, "bias": a["bias"].float()}, TypeError, r"one dtype.*bias: torch.float32"),
    (
        lambda a: {**a, "inputs": torch.zeros(5, 2, 3, dtype=torch.long)},
        TypeError,
        r"inputs must be a floating-point",
    ),
]


@pytest.mark.parametrize("change, error, message", BAD_ARGUMENTS)
def test_bad_arguments_raise_clear_errors(change, error, message):
    inputs, state, weight_ih, weight_hh, bias = random_layer(5, 2, 3, 4, seed=8)
    arguments = {
        "inputs": inputs,
        "state": state,
        "weight_ih": weight_ih,
        "weight_hh": weight_hh,
        "bias": bias,
    }
    with pytest.raises(error, match=message):
        rnn_forward_with_cache(**change(arguments))


def test_bad_gradient_shapes_and_layer_counts_raise_clear_errors():
    inputs, state, weight_ih, weight_hh, bias = random_layer(5, 2, 3, 4, seed=9)
    _, cache = rnn_forward_with_cache(inputs, state, weight_ih, weight_hh, bias)
    with pytest.raises(ValueError, match=r"grad_hiddens must have the shape.*\(5, 2, 4\).*got \(5, 2, 3\)"):
        rnn_backward(torch.zeros(5, 2, 3, dtype=DTYPE), cache)
    with pytest.raises(ValueError, match=r"grad_final_state must have shape \(2, 4\).*got \(4,\)"):
        rnn_backward(torch.zeros(5, 2, 4, dtype=DTYPE), cache, torch.zeros(4, dtype=DTYPE))
    with pytest.raises(ValueError, match="2 layers but 1 initial states"):
        stacked_rnn_forward_with_cache(inputs, [state], [(weight_ih, weight_hh, bias)] * 2)
    with pytest.raises(ValueError, match="1 layers but 2 final-state gradients"):
        stacked_rnn_backward(torch.zeros(5, 2, 4, dtype=DTYPE), [cache], [state, state])
    with pytest.raises(ValueError, match=r"index \(0,\) has 1 entries but x has 2 dimensions"):
        numerical_gradient(lambda: 0.0, weight_hh, [(0,)])
