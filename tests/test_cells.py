"""The scratch cells of Chapter 3 (rnnbook.cells) against PyTorch's cells, in float64: values,
gradients, a single unbatched vector, and errors that name the shapes."""

import pytest
import torch
from torch import nn

from rnnbook.cells import gru_cell, lstm_cell, rnn_cell

TOL = {"atol": 1e-10, "rtol": 1e-10}


@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch_cells(bias):
    g = torch.Generator().manual_seed(11)
    x = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    h = torch.randn(3, 5, generator=g, dtype=torch.float64)
    c = torch.randn(3, 5, generator=g, dtype=torch.float64)
    for nonlinearity in ("tanh", "relu"):
        ref = nn.RNNCell(4, 5, bias=bias, nonlinearity=nonlinearity).double()
        torch.testing.assert_close(
            rnn_cell(x, h, *ref.parameters(), nonlinearity=nonlinearity)
            if bias
            else rnn_cell(x, h, ref.weight_ih, ref.weight_hh, nonlinearity=nonlinearity),
            ref(x, h),
            **TOL,
        )
    ref = nn.GRUCell(4, 5, bias=bias).double()
    mine = gru_cell(x, h, *ref.parameters())
    torch.testing.assert_close(mine, ref(x, h), **TOL)
    (grad_mine,) = torch.autograd.grad(mine.sum(), x)
    (grad_ref,) = torch.autograd.grad(ref(x, h).sum(), x)
    torch.testing.assert_close(grad_mine, grad_ref, **TOL)
    ref = nn.LSTMCell(4, 5, bias=bias).double()
    for a, b in zip(lstm_cell(x, (h, c), *ref.parameters()), ref(x, (h, c))):
        torch.testing.assert_close(a, b, **TOL)
    # a single vector (no batch dimension) works as in torch's cells
    single = lstm_cell(x[0], (h[0], c[0]), *ref.parameters())
    torch.testing.assert_close(single[1], ref(x[0], (h[0], c[0]))[1], **TOL)


def test_cell_errors_name_the_shapes():
    x, h = torch.randn(2, 4), torch.randn(2, 5)
    with pytest.raises(ValueError, match=r"expected weight_ih of shape \(15, 4\).*got \(5, 4\)"):
        gru_cell(x, h, torch.randn(5, 4), torch.randn(15, 5))
    with pytest.raises(ValueError, match=r"expected weight_hh of shape \(20, 5\).*got \(20, 4\)"):
        lstm_cell(x, (h, h), torch.randn(20, 4), torch.randn(20, 4))
    with pytest.raises(ValueError, match="pair"):
        lstm_cell(x, h, torch.randn(20, 4), torch.randn(20, 5))
    with pytest.raises(ValueError, match="same batch shape"):
        rnn_cell(torch.randn(3, 4), h, torch.randn(5, 4), torch.randn(5, 5))
    with pytest.raises(ValueError, match="'tanh' or 'relu'"):
        rnn_cell(x, h, torch.randn(5, 4), torch.randn(5, 5), nonlinearity="sigmoid")
