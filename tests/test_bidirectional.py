"""The bidirectional stacks of Chapter 5, built from rnnbook.cells, against PyTorch."""

import pytest
import torch
from torch import nn

from rnnbook.bidirectional import (
    SequenceTagger,
    accuracy_per_position,
    bidirectional_joined,
    bidirectional_separate,
    layer_weights,
    run_direction,
    train_tagger,
)
from rnnbook.cells import gru_cell, lstm_cell, rnn_cell

CELLS = {"RNN": (rnn_cell, nn.RNN), "GRU": (gru_cell, nn.GRU), "LSTM": (lstm_cell, nn.LSTM)}


def _close(a, b):
    if isinstance(a, tuple):
        return all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_joined_stack_is_torch_bidirectional(kind, num_layers):
    cell, module_class = CELLS[kind]
    torch.manual_seed(num_layers)
    d, h, T, n = 4, 6, 5, 3
    module = module_class(d, h, num_layers=num_layers, bidirectional=True).double()
    x = torch.randn(T, n, d, dtype=torch.float64)
    layers = [(layer_weights(module, k), layer_weights(module, k, reverse=True)) for k in range(num_layers)]
    ours, our_state = bidirectional_joined(cell, x, layers)
    theirs, their_state = module(x)
    assert _close(ours, theirs)
    assert _close(our_state, their_state)  # h_n (and c_n) in PyTorch's order, 2 * layer + direction


@pytest.mark.parametrize("kind", CELLS)
def test_separate_stacks_are_two_torch_stacks(kind):
    cell, module_class = CELLS[kind]
    torch.manual_seed(0)
    d, h, T, n, L = 3, 5, 7, 2, 2
    forward_module = module_class(d, h, num_layers=L).double()
    backward_module = module_class(d, h, num_layers=L).double()
    x = torch.randn(T, n, d, dtype=torch.float64)
    ours, our_state = bidirectional_separate(
        cell,
        x,
        [layer_weights(forward_module, k) for k in range(L)],
        [layer_weights(backward_module, k) for k in range(L)],
    )
    forward_output, forward_state = forward_module(x)
    backward_output, backward_state = backward_module(x.flip(0))
    assert _close(ours, torch.cat([forward_output, backward_output.flip(0)], dim=-1))
    our_h = our_state[0] if isinstance(our_state, tuple) else our_state
    their_h = (
        (forward_state[0], backward_state[0])
        if isinstance(forward_state, tuple)
        else (forward_state, backward_state)
    )
    assert _close(our_h[0::2], their_h[0]) and _close(our_h[1::2], their_h[1])


def test_separate_stacks_never_see_the_other_side():
    torch.manual_seed(0)
    d, h, T = 2, 4, 6
    forward_module, backward_module = nn.GRU(d, h, num_layers=3).double(), nn.GRU(d, h, num_layers=3).double()
    x = torch.randn(T, 1, d, dtype=torch.float64, requires_grad=True)
    output, _ = bidirectional_separate(
        gru_cell,
        x,
        [layer_weights(forward_module, k) for k in range(3)],
        [layer_weights(backward_module, k) for k in range(3)],
    )
    t = 2
    (grad_forward,) = torch.autograd.grad(output[t, 0, :h].sum(), x, retain_graph=True)
    (grad_backward,) = torch.autograd.grad(output[t, 0, h:].sum(), x)
    assert (grad_forward[t + 1 :] == 0).all() and (grad_forward[: t + 1].abs().sum(dim=(1, 2)) > 0).all()
    assert (grad_backward[:t] == 0).all() and (grad_backward[t:].abs().sum(dim=(1, 2)) > 0).all()


def test_run_direction_aligns_the_reverse_states_with_the_input():
    torch.manual_seed(0)
    module = nn.GRU(3, 4).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    weights = layer_weights(module, 0)
    outputs, final = run_direction(gru_cell, x, weights, reverse=True)
    assert torch.equal(final, outputs[0])
    reference, _ = run_direction(gru_cell, x.flip(0), weights)
    assert torch.allclose(outputs, reference.flip(0), atol=1e-14)


@pytest.mark.parametrize("kind", CELLS)
def test_joined_stack_backward_equals_torch(kind, autograd_node_names):
    """Two joined bidirectional layers: the gradients of the input and of every weight equal those
    of torch's bidirectional module in float64; the steps are read with unbind, not indexed."""
    cell, module_class = CELLS[kind]
    torch.manual_seed(0)
    d, h, T, n = 3, 4, 9, 2
    module = module_class(d, h, num_layers=2, bidirectional=True).double()
    layers = [(layer_weights(module, k), layer_weights(module, k, reverse=True)) for k in range(2)]
    x = torch.randn(T, n, d, dtype=torch.float64)
    weights = torch.randn(T, n, 2 * h, dtype=torch.float64)
    gradients = []
    for run in (lambda x_: bidirectional_joined(cell, x_, layers)[0], lambda x_: module(x_)[0]):
        module.zero_grad()
        x_ = x.clone().requires_grad_()
        output = run(x_)
        (output * weights).sum().backward()
        gradients.append([x_.grad] + [p.grad.clone() for p in module.parameters()])
        if len(gradients) == 1:
            assert "SelectBackward0" not in autograd_node_names(output)
    for a, b in zip(*gradients, strict=True):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)


def test_layer_weights_without_bias():
    module = nn.GRU(3, 4, bias=False)
    weight_ih, weight_hh, bias_ih, bias_hh = layer_weights(module, 0)
    assert weight_ih is module.weight_ih_l0 and weight_hh is module.weight_hh_l0
    assert bias_ih is None and bias_hh is None


def test_mismatched_stacks_are_refused():
    module = nn.GRU(3, 4, num_layers=2)
    two_layers, one_layer = [layer_weights(module, 0), layer_weights(module, 1)], [layer_weights(module, 0)]
    with pytest.raises(ValueError, match="as many forward as backward layers, got 2 and 1"):
        bidirectional_separate(gru_cell, torch.randn(5, 2, 3), two_layers, one_layer)


@pytest.mark.parametrize("stacking, width", [("unidirectional", 8), ("joined", 16), ("separate", 16)])
def test_tagger_shapes(stacking, width):
    tagger = SequenceTagger(num_symbols=5, num_classes=3, hidden_size=8, num_layers=2, stacking=stacking)
    scores = tagger(torch.randint(5, (4, 9)))
    assert scores.shape == (4, 9, 3)
    assert tagger.output.weight.shape == (3, width)


def test_tagger_rejects_unknown_stacking():
    with pytest.raises(ValueError, match="stacking must be one of .* got 'both'"):
        SequenceTagger(4, 4, 8, stacking="both")


def test_training_learns_a_task_that_needs_the_future():
    # label[t] = symbol[t + 1] (0 at the end): impossible left to right, easy for a bidirectional tagger
    generator = torch.Generator().manual_seed(0)
    X = torch.randint(3, (512, 6), generator=generator)
    Y = torch.cat([X[:, 1:], torch.zeros(512, 1, dtype=torch.long)], dim=1)
    torch.manual_seed(0)
    tagger = SequenceTagger(3, 3, hidden_size=16, stacking="joined")
    losses = train_tagger(tagger, X, Y, num_updates=120)
    assert losses[-1] < losses[0] / 4
    accuracy = accuracy_per_position(tagger, X, Y)
    assert accuracy.shape == (6,) and accuracy.min() > 0.9
