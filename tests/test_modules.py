"""The scratch modules of Chapter 4 (rnnbook.modules) against PyTorch's, in float64.

Every check compares with ``torch.nn`` on the same weights: outputs, final states, and the
gradients of the input, of the initial state and of every parameter, to 1e-10.
"""

import random
import warnings

import pytest
import torch
from torch import nn

import rnnbook
from rnnbook.modules import GRU, LSTM, RNN

TOL = {"atol": 1e-10, "rtol": 1e-10}
PAIRS = {"RNN": (RNN, nn.RNN), "GRU": (GRU, nn.GRU), "LSTM": (LSTM, nn.LSTM)}


def _random_config(rng: random.Random, kind: str) -> dict:
    config = {
        "input_size": rng.randint(1, 6),
        "hidden_size": rng.randint(1, 6),
        "num_layers": rng.randint(1, 3),
        "bias": rng.random() < 0.75,
        "batch_first": rng.random() < 0.5,
        "bidirectional": rng.random() < 0.5,
        "dropout": rng.choice([0.0, 0.0, 0.3]),
    }
    if kind == "RNN":
        config["nonlinearity"] = rng.choice(["tanh", "relu"])
    return config


def _pair(kind: str, config: dict, seed: int) -> tuple[nn.Module, nn.Module]:
    """Our module and torch's with the same weights (torch's initialized, ours loaded)."""
    ours_cls, torch_cls = PAIRS[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropout with one layer warns, in both
        torch.manual_seed(seed)
        theirs = torch_cls(**config).double()
        ours = ours_cls(**config).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _run(module, x, hx, weights):
    """Forward, then backward of a random linear function of output and final states."""
    output, final = module(x, hx)
    finals = final if isinstance(final, tuple) else (final,)
    loss = (output * weights[0]).sum() + sum((f * w).sum() for f, w in zip(finals, weights[1:]))
    loss.backward()
    return output, finals


CASES = [(kind, index) for kind in PAIRS for index in range(30)]


@pytest.mark.parametrize("kind,index", CASES, ids=[f"{k}-{i}" for k, i in CASES])
def test_module_matches_torch_forward_and_backward(kind, index):
    rng = random.Random(1000 * list(PAIRS).index(kind) + index)
    config = _random_config(rng, kind)
    ours, theirs = _pair(kind, config, seed=index)
    ours.eval()
    theirs.eval()  # dropout is random: compare it in eval mode here, its rule in the tests below
    seq_len = 1 if index % 5 == 0 else rng.randint(2, 6)  # sequence length 1 included
    batch = rng.randint(1, 4)
    unbatched = index % 7 == 3
    num_directions = 2 if config["bidirectional"] else 1
    g = torch.Generator().manual_seed(index)
    if unbatched:
        x_shape = (seq_len, config["input_size"])
        h_shape = (config["num_layers"] * num_directions, config["hidden_size"])
        out_shape = (seq_len, num_directions * config["hidden_size"])
    else:
        x_shape = ((batch, seq_len) if config["batch_first"] else (seq_len, batch)) + (config["input_size"],)
        h_shape = (config["num_layers"] * num_directions, batch, config["hidden_size"])
        out_shape = x_shape[:2] + (num_directions * config["hidden_size"],)
    x = torch.randn(x_shape, generator=g, dtype=torch.float64)
    give_h0 = rng.random() < 0.6
    num_states = 2 if kind == "LSTM" else 1
    h0 = [torch.randn(h_shape, generator=g, dtype=torch.float64) for _ in range(num_states)]
    weights = [torch.randn(out_shape, generator=g, dtype=torch.float64)] + [
        torch.randn(h_shape, generator=g, dtype=torch.float64) for _ in range(num_states)
    ]

    results = []
    for module in (ours, theirs):
        x_ = x.clone().requires_grad_()
        h0_ = [h.clone().requires_grad_() for h in h0]
        hx = None if not give_h0 else (tuple(h0_) if kind == "LSTM" else h0_[0])
        output, finals = _run(module, x_, hx, weights)
        results.append(
            (
                output,
                finals,
                x_.grad,
                [h.grad for h in h0_],
                {name: p.grad for name, p in module.named_parameters()},
            )
        )

    (out_a, fin_a, gx_a, gh_a, gp_a), (out_b, fin_b, gx_b, gh_b, gp_b) = results
    assert out_a.shape == out_b.shape == out_shape
    torch.testing.assert_close(out_a, out_b, **TOL)
    assert len(fin_a) == len(fin_b) == num_states
    for a, b in zip(fin_a, fin_b):
        assert a.shape == b.shape == h_shape
        torch.testing.assert_close(a, b, **TOL)
    torch.testing.assert_close(gx_a, gx_b, **TOL)
    if give_h0:
        for a, b in zip(gh_a, gh_b):
            torch.testing.assert_close(a, b, **TOL)
    assert list(gp_a) == list(gp_b)
    for name in gp_a:
        torch.testing.assert_close(gp_a[name], gp_b[name], **TOL, msg=f"gradient of {name}")


@pytest.mark.parametrize("kind", PAIRS)
def test_same_names_shapes_order_and_initialization(kind):
    ours_cls, torch_cls = PAIRS[kind]
    for bias in (True, False):
        torch.manual_seed(3)
        theirs = torch_cls(4, 5, num_layers=3, bias=bias, bidirectional=True)
        torch.manual_seed(3)
        ours = ours_cls(4, 5, num_layers=3, bias=bias, bidirectional=True)
        assert [(n, p.shape) for n, p in ours.named_parameters()] == [
            (n, p.shape) for n, p in theirs.named_parameters()
        ]
        for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
            assert torch.equal(a, b), f"{name}: same seed should give the same initial values"
        bound = 1 / 5**0.5
        assert all(p.abs().max() <= bound for p in ours.parameters())
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    assert ours.weight_ih_l1_reverse.shape == (gates * 5, 2 * 5)


@pytest.mark.parametrize("kind", PAIRS)
def test_state_dict_round_trip_both_ways(kind):
    ours_cls, torch_cls = PAIRS[kind]
    config = {"input_size": 3, "hidden_size": 4, "num_layers": 2, "bidirectional": True}
    theirs, ours = torch_cls(**config).double(), ours_cls(**config).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict())  # torch -> ours
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], **TOL)
    fresh = torch_cls(**config).double()
    fresh.load_state_dict(ours.state_dict())  # ours -> torch
    torch.testing.assert_close(fresh(x)[0], ours(x)[0], **TOL)
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("kind", PAIRS)
def test_dropout_one_in_training_mode_equals_torch(kind):
    """With p = 1 dropout is deterministic (everything between layers is zeroed): the training-mode
    outputs must equal torch's, and must differ from eval mode (dropout acted between layers)."""
    config = {"input_size": 3, "hidden_size": 4, "num_layers": 3, "dropout": 1.0, "bidirectional": True}
    if kind == "RNN":
        config["nonlinearity"] = "tanh"
    ours, theirs = _pair(kind, config, seed=7)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    ours.train()
    theirs.train()
    out_a, fin_a = ours(x)
    out_b, fin_b = theirs(x)
    torch.testing.assert_close(out_a, out_b, **TOL)
    torch.testing.assert_close(fin_a, fin_b, **TOL)
    assert out_a.abs().min() > 0, "dropout must not act on the last layer's output"
    ours.eval()
    assert not torch.allclose(ours(x)[0], out_a), "dropout=1.0 should change the output in training mode"


@pytest.mark.parametrize("kind", PAIRS)
def test_dropout_acts_between_layers_only(kind):
    ours_cls, _ = PAIRS[kind]
    x = torch.randn(6, 3, 4)
    torch.manual_seed(0)
    model = ours_cls(4, 5, num_layers=2, dropout=0.5)
    model.train()
    torch.manual_seed(1)
    out_train, fin_train = model(x)
    model.eval()
    out_eval, fin_eval = model(x)
    h_train = fin_train[0] if kind == "LSTM" else fin_train
    h_eval = fin_eval[0] if kind == "LSTM" else fin_eval
    torch.testing.assert_close(h_train[0], h_eval[0])  # layer 0 reads the input, no dropout before it
    assert not torch.allclose(out_train, out_eval)  # layer 1 read a dropped-out layer 0
    assert (out_train != 0).all()  # ... but its own output is not dropped out
    with pytest.warns(UserWarning, match="num_layers=1"):
        single = ours_cls(4, 5, num_layers=1, dropout=0.5)
    single.train()
    out_a, _ = single(x)
    single.eval()
    torch.testing.assert_close(out_a, single(x)[0])  # nothing to drop after the last layer


def test_scratch_modules_never_call_torch_recurrent_kernels(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a torch recurrent kernel was called")

    for name in (
        "rnn_tanh",
        "rnn_relu",
        "gru",
        "lstm",
        "rnn_tanh_cell",
        "rnn_relu_cell",
        "gru_cell",
        "lstm_cell",
    ):
        monkeypatch.setattr(torch._VF, name, forbidden)
    with pytest.raises(AssertionError, match="kernel was called"):  # the patch is effective
        nn.GRU(2, 3)(torch.randn(4, 1, 2))
    x = torch.randn(4, 2, 3)
    for cls in (RNN, GRU, LSTM):
        output, _ = cls(3, 5, num_layers=2, bidirectional=True)(x)
        output.sum().backward()
        assert output.shape == (4, 2, 10)


@pytest.mark.parametrize("kind", PAIRS)
def test_stacked_bidirectional_backward_equals_torch_and_reads_steps_with_unbind(kind, autograd_node_names):
    """Two bidirectional layers: the gradients of the input and of every parameter equal torch's in
    float64, and the step loop splits its input with unbind: indexing inputs[t] would leave one
    SelectBackward node per step, whose backward fills a zero tensor of the input's full size."""
    ours_cls, torch_cls = PAIRS[kind]
    torch.manual_seed(0)
    theirs = torch_cls(3, 4, num_layers=2, bidirectional=True).double()
    ours = ours_cls(3, 4, num_layers=2, bidirectional=True).double()
    ours.load_state_dict(theirs.state_dict())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(9, 2, 3, generator=g, dtype=torch.float64)
    weights = torch.randn(9, 2, 8, generator=g, dtype=torch.float64)
    gradients = []
    for module in (ours, theirs):
        x_ = x.clone().requires_grad_()
        output, _ = module(x_)
        (output * weights).sum().backward()
        gradients.append([x_.grad] + [p.grad for p in module.parameters()])
        if module is ours:
            nodes = autograd_node_names(output)
            assert "UnbindBackward0" in nodes and "SelectBackward0" not in nodes, nodes
    assert len(gradients[0]) == len(gradients[1]) == 1 + 16
    for a, b in zip(*gradients, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_exports():
    assert rnnbook.RNN is RNN and rnnbook.GRU is GRU and rnnbook.LSTM is LSTM
    assert {"RNN", "GRU", "LSTM"} <= set(rnnbook.__all__)


# ----- errors of the modules --------------------------------------------------------------------
def test_module_errors_name_expected_and_received():
    gru = GRU(4, 5, num_layers=2)
    x = torch.randn(6, 3, 4)
    with pytest.raises(RuntimeError, match=r"input_size = 4, got 3"):
        gru(torch.randn(6, 3, 3))
    with pytest.raises(ValueError, match=r"got a 4-D input of shape \(6, 3, 4, 1\)"):
        gru(torch.randn(6, 3, 4, 1))
    with pytest.raises(RuntimeError, match=r"expected h_0 of shape .* = \(2, 3, 5\), got \(1, 3, 5\)"):
        gru(x, torch.randn(1, 3, 5))
    with pytest.raises(RuntimeError, match=r"should be 3-D \(2, 3, 5\), got a 2-D tensor"):
        gru(x, torch.randn(2, 5))
    with pytest.raises(RuntimeError, match=r"unbatched 2-D input, h_0 should be 2-D \(2, 5\)"):
        gru(x[:, 0], torch.randn(2, 1, 5))
    with pytest.raises(ValueError, match="dtype torch.float64 does not match"):
        gru(x.double())
    with pytest.raises(ValueError, match="h_0 dtype torch.float64 does not match"):
        gru(x, torch.zeros(2, 3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="expected hx to be a Tensor"):
        gru(x, (torch.zeros(2, 3, 5),))
    with pytest.raises(ValueError, match="sequence length must be at least 1"):
        gru(torch.randn(0, 3, 4))
    lstm = LSTM(4, 5, batch_first=True)
    with pytest.raises(ValueError, match=r"tuple \(h_0, c_0\) of two Tensors, got Tensor"):
        lstm(torch.randn(3, 6, 4), torch.zeros(1, 3, 5))
    with pytest.raises(ValueError, match="got tuple of length 3"):
        lstm(torch.randn(3, 6, 4), (torch.zeros(1, 3, 5),) * 3)
    with pytest.raises(RuntimeError, match=r"expected c_0 of shape .* = \(1, 3, 5\), got \(1, 6, 5\)"):
        lstm(torch.randn(3, 6, 4), (torch.zeros(1, 3, 5), torch.zeros(1, 6, 5)))
    with pytest.raises(NotImplementedError, match="proj_size=2"):
        LSTM(4, 5, proj_size=2)
    with pytest.raises(ValueError, match="'tanh' or 'relu'"):
        RNN(4, 5, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"dropout should be a number in \[0, 1\]"):
        GRU(4, 5, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        GRU(4, 0)


def test_batch_first_applies_to_input_and_output_not_to_h_n():
    torch.manual_seed(0)
    lstm = LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    output, (h_n, c_n) = lstm(torch.randn(5, 7, 3))  # (N=5, L=7, H_in=3)
    assert output.shape == (5, 7, 8)
    assert h_n.shape == c_n.shape == (4, 5, 4)
    # h_n[layer * 2 + direction]: the last layer's forward state is output at the last step, the
    # reverse state is output at the first step (its direction reads from the end).
    torch.testing.assert_close(h_n[2], output[:, -1, :4])
    torch.testing.assert_close(h_n[3], output[:, 0, 4:])
