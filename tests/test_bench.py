"""Chapter 7: the faster scratch variants compute torch's numbers, and the benchmark command works."""

import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from rnnbook import bench, fast
from tools.save_library import ROOT

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
        loss = sum((t * torch.randn(t.shape, generator=generator, dtype=t.dtype)).sum()
                   for t in [output, *finals])
        loss.backward()
        results.append([output, *finals, x_m.grad, *[s.grad for s in s_m],
                        *[p.grad for p in m.parameters()]])
    return results


@pytest.mark.parametrize("mode", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"L{c[0]}{'bi' if c[1] else ''}"
                         f"{'' if c[2] else '-nobias'}{'-bf' if c[3] else ''}")
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
    states = [torch.randn(num_layers * directions, batch, 7, dtype=torch.float64)
              for _ in range(2 if mode == "LSTM" else 1)]
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
    flops = fast.recurrent_flops("GRU", seq_len=35, batch_size=32, input_size=28, hidden_size=256,
                                 num_layers=2)
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


def _bench(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "rnnbook.bench", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_bench_runs_end_to_end_on_tiny_sizes():
    result = _bench("--seq-len", "6", "--batch", "3", "--input", "5", "--hidden", "8",
                    "--repeat", "2", "--threads", "1", "--no-compile")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r"best scratch GRU stack / nn\.GRU \(fwd\+bwd\): \d+\.\d\dx", lines[-1]), lines[-1]
    text = result.stdout
    assert "2 layers, unidirectional" in text and "2 layers, bidirectional" in text
    for variant in ("naive", "hoisted", "fused", "bptt", "torch"):
        assert re.search(rf"^{variant}\s", text, re.MULTILINE), variant
    assert "compiled" not in text


def test_bench_one_configuration_other_cell():
    result = _bench("--cell", "lstm", "--layers", "1", "--no-bidirectional", "--seq-len", "4",
                    "--batch", "2", "--hidden", "6", "--repeat", "2", "--threads", "1", "--no-compile")
    assert result.returncode == 0, result.stderr
    assert "1 layer, unidirectional" in result.stdout and "bidirectional" not in result.stdout.replace(
        "unidirectional", "")
    assert result.stdout.strip().splitlines()[-1].startswith("best scratch LSTM stack / nn.LSTM (fwd+bwd): ")


def test_bench_compiles_a_tiny_model(tmp_path):
    # A tiny compile (one layer, three steps) exercises the compiled step and its compile time,
    # with an empty cache: the cold start the benchmark reports.
    env_cache = str(tmp_path / "inductor")
    result = subprocess.run(
        [sys.executable, "-m", "rnnbook.bench", "--cell", "gru", "--layers", "1", "--no-bidirectional",
         "--seq-len", "3", "--batch", "2", "--input", "3", "--hidden", "4", "--repeat", "2",
         "--threads", "1"],
        capture_output=True, text=True, timeout=400, cwd=ROOT,
        env={**__import__("os").environ, "TORCHINDUCTOR_CACHE_DIR": env_cache})
    assert result.returncode == 0, result.stderr
    assert re.search(r"^compiled\s", result.stdout, re.MULTILINE)
    seconds = re.search(r"compile time of 'compiled' \(first forward\+backward call\): ([\d.]+) s",
                        result.stdout)
    assert seconds and float(seconds.group(1)) < 120, result.stdout


def test_bench_prints_the_ceiling_its_fraction_and_the_time_budgets():
    result = _bench("--no-bidirectional", "--seq-len", "5", "--batch", "4", "--input", "3",
                    "--hidden", "8", "--repeat", "2", "--threads", "1", "--no-compile")
    assert result.returncode == 0, result.stderr
    ceiling = re.search(r"^matrix-product ceiling: ([\d.]+) GFLOP/s \(best of: square 1024 x 1024 x 1024 "
                        r"[\d.]+, all steps' inputs 20 x 8 x 24 [\d.]+, one step 4 x 8 x 24 [\d.]+\)$",
                        result.stdout, re.MULTILINE)
    assert ceiling and float(ceiling.group(1)) > 0, result.stdout
    rows = re.findall(r"^(naive|hoisted|fused|bptt|torch)\s.*\s(\d+)%$", result.stdout, re.MULTILINE)
    assert [name for name, _ in rows] == ["naive", "hoisted", "fused", "bptt", "torch"], result.stdout
    budgets = re.findall(r"^  (\w+)\s+total .* = products .* \((\d+) calls\) \+ other .* \((\d+) calls\)",
                         result.stdout, re.MULTILINE)
    assert len(budgets) == 2 and budgets[0][0] == "torch", result.stdout
    assert "(no 'compiled' row" not in result.stdout  # --no-compile asked for no compiled row
    no_budget = _bench("--no-bidirectional", "--seq-len", "3", "--batch", "2", "--input", "3",
                       "--hidden", "4", "--repeat", "1", "--threads", "1", "--no-compile", "--no-budget")
    assert no_budget.returncode == 0 and "where the time goes" not in no_budget.stdout


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


@pytest.mark.parametrize("args, message", [
    (["--seq-len", "0"], "--seq-len must be a positive integer, got 0"),
    (["--hidden", "abc"], "--hidden must be a positive integer, got 'abc'"),
    (["--cell", "transformer"], "invalid choice: 'transformer'"),
    (["--repeat", "-3"], "--repeat must be a positive integer, got -3"),
])
def test_bench_bad_arguments_give_a_clear_error(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
