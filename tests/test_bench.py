"""Chapter 7's benchmark command, `python -m rnnbook.bench`: it runs, prints what the README says,
and refuses bad arguments with a clear message. (The variants it times: tests/test_fast.py.)"""

import os
import re
import subprocess
import sys

import pytest

from rnnbook import bench
from tools.save_library import ROOT


def _bench(args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m rnnbook.bench`` with ``args`` (split on spaces) and extra environment."""
    command = [sys.executable, "-m", "rnnbook.bench", *args.split()]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **env}
    )


def test_bench_runs_end_to_end_on_tiny_sizes():
    result = _bench("--seq-len 6 --batch 3 --input 5 --hidden 8 --repeat 2 --threads 1 --no-compile")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r"best scratch GRU stack / nn\.GRU \(fwd\+bwd\): \d+\.\d\dx", lines[-1]), lines[-1]
    text = result.stdout
    assert "2 layers, unidirectional" in text and "2 layers, bidirectional" in text
    for variant in ("naive", "hoisted", "fused", "bptt", "torch"):
        assert re.search(rf"^{variant}\s", text, re.MULTILINE), variant
    assert "compiled" not in text


def test_bench_one_configuration_other_cell():
    result = _bench(
        "--cell lstm --layers 1 --no-bidirectional --seq-len 4 --batch 2 --hidden 6"
        " --repeat 2 --threads 1 --no-compile"
    )
    assert result.returncode == 0, result.stderr
    assert "1 layer, unidirectional" in result.stdout and "bidirectional" not in result.stdout.replace(
        "unidirectional", ""
    )
    assert result.stdout.strip().splitlines()[-1].startswith("best scratch LSTM stack / nn.LSTM (fwd+bwd): ")


def test_bench_compiles_a_tiny_model(tmp_path):
    # A tiny compile (one layer, three steps) exercises the compiled step and its compile time,
    # with an empty cache: the cold start the benchmark reports.
    env_cache = str(tmp_path / "inductor")
    result = _bench(
        "--cell gru --layers 1 --no-bidirectional --seq-len 3 --batch 2 --input 3 --hidden 4"
        " --repeat 2 --threads 1",
        timeout=400,
        TORCHINDUCTOR_CACHE_DIR=env_cache,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^compiled\s", result.stdout, re.MULTILINE)
    seconds = re.search(
        r"compile time of 'compiled' \(first forward\+backward call\): ([\d.]+) s", result.stdout
    )
    assert seconds and float(seconds.group(1)) < 120, result.stdout


def test_bench_prints_the_ceiling_its_fraction_and_the_time_budgets():
    result = _bench(
        "--no-bidirectional --seq-len 5 --batch 4 --input 3 --hidden 8 --repeat 2 --threads 1 --no-compile"
    )
    assert result.returncode == 0, result.stderr
    ceiling = re.search(
        r"^matrix-product ceiling: ([\d.]+) GFLOP/s \(best of: square 1024 x 1024 x 1024 "
        r"[\d.]+, all steps' inputs 20 x 8 x 24 [\d.]+, one step 4 x 8 x 24 [\d.]+\)$",
        result.stdout,
        re.MULTILINE,
    )
    assert ceiling and float(ceiling.group(1)) > 0, result.stdout
    rows = re.findall(r"^(naive|hoisted|fused|bptt|torch)\s.*\s(\d+)%$", result.stdout, re.MULTILINE)
    assert [name for name, _ in rows] == ["naive", "hoisted", "fused", "bptt", "torch"], result.stdout
    budgets = re.findall(
        r"^  (\w+)\s+total .* = products .* \((\d+) calls\) \+ other .* \((\d+) calls\)",
        result.stdout,
        re.MULTILINE,
    )
    assert len(budgets) == 2 and budgets[0][0] == "torch", result.stdout
    assert "(no 'compiled' row" not in result.stdout  # --no-compile asked for no compiled row
    no_budget = _bench(
        "--no-bidirectional --seq-len 3 --batch 2 --input 3 --hidden 4"
        " --repeat 1 --threads 1 --no-compile --no-budget"
    )
    assert no_budget.returncode == 0 and "where the time goes" not in no_budget.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seq-len", "0"], "--seq-len must be a positive integer, got 0"),
        (["--hidden", "abc"], "--hidden must be a positive integer, got 'abc'"),
        (["--cell", "transformer"], "invalid choice: 'transformer'"),
        (["--repeat", "-3"], "--repeat must be a positive integer, got -3"),
    ],
)
def test_bench_bad_arguments_give_a_clear_error(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
