"""Chapter 7's library, rnnbook.fast: the faster scratch variants compute torch's numbers in
float64, the operation counts and logs are right, and the timing tools measure what they say."""

import pytest
import torch
from torch import nn

from rnnbook import fast

VARIANTS = fast.FastRNNBase.variants


CONFIGS = [  # (num_layers, bidirectional, bias, batch_first)
    (1, False, True, False),
    (2, False, True, False),
    (2, True, True, False),
    (3, True, False, True),
]


def _run_pair(reference, model, mode, x, states):
    """Outputs, final states and every gradient of a random-weighted loss, for both models."""
    results = []
    for m in (reference, model):
        x_m = x.clone().requires_grad_()
        s_m = [s.clone().requires_grad_() for s in states]
        output, final = m(x_m, tuple(s_m) if mode == "LSTM" else s_m[0])
        finals = list(final) if mode == "LSTM" else [final]
        generator = torch.Generator().manual_seed(3)
        loss = sum(
            (t * torch.randn(t.shape, generator=generator, dtype=t.dtype)).sum() for t in [output, *finals]
        )
        loss.backward()
        results.append([output, *finals, x_m.grad, *[s.grad for s in s_m], *[p.grad for p in m.parameters()]])
    return results


@pytest.mark.parametrize("mode", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(
    "config",
    CONFIGS,
    ids=lambda c: f"L{c[0]}{'bi' if c[1] else ''}{'' if c[2] else '-nobias'}{'-bf' if c[3] else ''}",
)
def test_variant_equals_torch_in_float64(mode, variant, config):
    num_layers, bidirectional, bias, batch_first = config
    torch.manual_seed(0)
    kwargs = dict(num_layers=num_layers, bias=bias, bidirectional=bidirectional, batch_first=batch_first)
    reference = getattr(nn, mode)(5, 7, **kwargs).double()
    model = getattr(fast, "Fast" + mode)(5, 7, variant=variant, **kwargs).double()
    model.load_state_dict(reference.state_dict())
    x = torch.randn(4, 6, 5, dtype=torch.float64)  # (L, N, H_in), or (N, L, H_in) if batch_first
    batch = 4 if batch_first else 6
    directions = 2 if bidirectional else 1
    states = [
        torch.randn(num_layers * directions, batch, 7, dtype=torch.float64)
        for _ in range(2 if mode == "LSTM" else 1)
    ]
    ours, theirs = _run_pair(reference, model, mode, x, states)[::-1]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a is not None and b is not None
        assert a.shape == b.shape
        assert (a - b).abs().max().item() < 1e-10


@pytest.mark.parametrize("variant", VARIANTS)
def test_relu_rnn_and_unbatched_input(variant):
    torch.manual_seed(0)
    reference = nn.RNN(3, 4, 2, nonlinearity="relu", bidirectional=True).double()
    model = fast.FastRNN(3, 4, 2, nonlinearity="relu", bidirectional=True, variant=variant).double()
    model.load_state_dict(reference.state_dict())
    x = torch.randn(5, 3, dtype=torch.float64)  # unbatched (L, H_in)
    (out_ref, h_ref), (out, h) = reference(x), model(x)
    assert out.shape == out_ref.shape == (5, 8) and h.shape == h_ref.shape == (4, 4)
    assert (out - out_ref).abs().max() < 1e-10 and (h - h_ref).abs().max() < 1e-10


def test_bad_variant_is_a_clear_error():
    with pytest.raises(ValueError, match="variant must be one of .*got 'cudnn'"):
        fast.FastGRU(3, 4, variant="cudnn")


def test_recurrent_flops_counts_products():
    flops = fast.recurrent_flops(
        "GRU", seq_len=35, batch_size=32, input_size=28, hidden_size=256, num_layers=2
    )
    step = 2 * 32 * 3 * 256 * (28 + 256)
    assert flops["step"] == step
    assert flops["forward"] == 35 * step + 35 * 2 * 32 * 3 * 256 * (256 + 256)
    assert flops["backward"] == 2 * flops["forward"] - 35 * 2 * 32 * 3 * 256 * 28
    bi = fast.recurrent_flops("LSTM", 10, 4, 8, 16, num_layers=2, bidirectional=True)
    assert bi["forward"] == 2 * 10 * 2 * 4 * 4 * 16 * (8 + 16) + 2 * 10 * 2 * 4 * 4 * 16 * (32 + 16)
    with pytest.raises(ValueError, match="mode must be one of"):
        fast.recurrent_flops("Transformer", 1, 1, 1, 1)


def test_operation_log_sees_every_step():
    with fast.OperationLog() as log:
        nn.RNN(4, 3, num_layers=1)(torch.randn(5, 2, 4))
    assert log.counts()["tanh"] == 5


def test_time_forward_backward_interleaves_and_checks_arguments():
    models = {"a": nn.GRU(3, 4), "b": fast.FastGRU(3, 4)}
    timings = fast.time_forward_backward(models, torch.randn(5, 2, 3), repeat=3, warmup=1)
    assert set(timings) == {"a", "b"}
    for forward, both in timings.values():
        assert len(forward.times) == len(both.times) == 3
        assert all(f < b for f, b in zip(forward.times, both.times))
    with pytest.raises(ValueError, match="repeat"):
        fast.time_forward_backward(models, torch.randn(5, 2, 3), repeat=0)


def test_compiled_step_gru_computes_torch_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    torch.manual_seed(0)
    reference = nn.GRU(3, 4, 2)
    model = fast.CompiledStepGRU(3, 4, 2)
    assert model.variant == "fused"
    model.load_state_dict(reference.state_dict())
    x = torch.randn(5, 2, 3)
    ours, theirs = _run_pair(reference, model, "GRU", x, [torch.randn(2, 2, 4)])[::-1]
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_time_budget_replays_the_products_and_the_other_operations():
    torch.manual_seed(0)
    model = fast.FastGRU(3, 8, 2, variant="bptt")
    x = torch.randn(6, 4, 3)
    with fast.OperationLog() as log:
        model(x)[0].sum().backward()
    budget = fast.time_budget(model, x, repeat=2)
    assert budget.product_count == sum(log.counts()[name] for name in fast.PRODUCT_OPERATIONS)
    assert 0 < budget.other_count < len(log.names) - budget.product_count + 1  # views left out
    assert budget.total > 0 and budget.products > 0 and budget.other_operations > 0
    assert budget.issuing == pytest.approx(budget.total - budget.products - budget.other_operations)


def test_operation_recorder_replays_on_memory_shared_like_the_original():
    weight = torch.randn(4, 4)
    h = torch.randn(2, 4)
    with fast.OperationRecorder() as recorder:
        torch.mm(h, weight)
        torch.mm(torch.tanh(h), weight)
    names = [func.overloadpacket.__name__ for func, _, _ in recorder.calls]
    assert names == ["mm", "tanh", "mm"]
    weight_layouts = [args[1] for func, args, _ in recorder.calls if func.overloadpacket.__name__ == "mm"]
    assert weight_layouts[0] == weight_layouts[1]  # the same weights: the same memory in the replay
    recorder.replay(lambda name: name in fast.PRODUCT_OPERATIONS)()  # runs without error
    replay_tanh = recorder.replay(lambda name: name == "tanh")  # builds its buffers
    with fast.OperationLog() as log:
        replay_tanh()
    assert log.names == ["tanh"]
