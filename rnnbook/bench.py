"""Benchmark the book's recurrent stacks against PyTorch's modules (Chapter 7).

    python -m rnnbook.bench                      # GRU, T=35, N=32, input 28, hidden 256:
                                                 # 2 layers, then 2 layers bidirectional
    python -m rnnbook.bench --cell lstm --layers 3 --no-bidirectional --repeat 10
    python -m rnnbook.bench --help

In one process, for each configuration, it times the forward pass and forward + backward of:
the Chapter 4 scratch stack (``naive``: a loop over layers, directions and time), the variants
of :mod:`rnnbook.fast` (``hoisted``: input products of all steps in one product; ``fused``: one
product per step for all gates and directions; ``bptt``: fused, with the hand-written backward
pass), for the GRU the fused variant with the elementwise part of each step compiled by
``torch.compile`` (``compiled``; its compile time is reported separately), and
``torch.nn.RNN/GRU/LSTM`` (``torch``). The models run interleaved (each round times every model
once), so a busy moment of the machine slows all of them alike.

It first measures the machine's matrix-product ceiling (the best GFLOP/s of a square product,
the tall product of all steps' inputs, and one step's product, with the run's threads), then
prints, per configuration, medians with min-max, the ratio of each median to the torch module's,
the useful GFLOP/s and their fraction of the ceiling, and where the time of the torch module
and of the best scratch variant goes (matrix products, other operations, issuing them; see
:func:`rnnbook.fast.time_budget`). Its last line is
``best scratch GRU stack / nn.GRU (fwd+bwd): <ratio>x`` (the cell type named by ``--cell``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

CELLS = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}
GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # gate blocks per weight
ROOT = Path(__file__).resolve().parent.parent


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rnnbook.bench",
        description="Time the book's scratch recurrent stacks against torch.nn.RNN/GRU/LSTM "
        "(forward and forward+backward, interleaved, medians and ratios).",
    )
    parser.add_argument("--cell", choices=sorted(CELLS), default="gru", help="cell type (default: gru)")
    parser.add_argument(
        "--layers", type=_positive_int("--layers"), default=2, help="number of stacked layers (default: 2)"
    )
    parser.add_argument(
        "--bidirectional",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only bidirectional (--bidirectional) or only unidirectional "
        "(--no-bidirectional); default: both, unidirectional first",
    )
    parser.add_argument(
        "--seq-len", type=_positive_int("--seq-len"), default=35, help="sequence length T (default: 35)"
    )
    parser.add_argument(
        "--batch", type=_positive_int("--batch"), default=32, help="batch size N (default: 32)"
    )
    parser.add_argument("--input", type=_positive_int("--input"), default=28, help="input size (default: 28)")
    parser.add_argument(
        "--hidden", type=_positive_int("--hidden"), default=256, help="hidden size (default: 256)"
    )
    parser.add_argument(
        "--repeat",
        type=_positive_int("--repeat"),
        default=20,
        help="timed rounds per configuration, after 2 warm-up rounds (default: 20)",
    )
    parser.add_argument(
        "--no-budget",
        dest="budget",
        action="store_false",
        help="leave out where the time goes (products, other operations, issuing)",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int("--threads"),
        default=None,
        help="torch threads (default: torch's default, the number of cores)",
    )
    parser.add_argument(
        "--no-compile",
        dest="compile",
        action="store_false",
        help="leave out the compiled variant (GRU only; its first call compiles)",
    )
    return parser


def _format_timing(timing) -> str:
    from rnnbook.timing import format_seconds

    return f"{format_seconds(timing.median):>9s} ({format_seconds(timing.min)}-{format_seconds(timing.max)})"


def measure_ceiling(args, out=print) -> float:
    """The matrix-product ceiling in GFLOP/s: the best of Chapter 7's three products
    (:func:`rnnbook.fast.matmul_ceiling`) at this run's sizes and threads."""
    from rnnbook.fast import matmul_ceiling

    rates = matmul_ceiling(args.seq_len, args.batch, args.hidden, gates=GATES[args.cell])
    ceiling = max(rates.values())
    out(
        f"matrix-product ceiling: {ceiling:.1f} GFLOP/s (best of: "
        + ", ".join(f"{name} {rate:.1f}" for name, rate in rates.items())
        + ")"
    )
    return ceiling


def run_configuration(args, bidirectional: bool, ceiling: float | None = None, out=print) -> dict[str, float]:
    """Build, check and time every variant for one configuration; print the table and the
    time budgets of the torch module and of the best scratch variant.

    Returns ``{variant: median fwd+bwd time / torch's}``.
    """
    import torch
    from torch import nn

    import rnnbook.fast as fast
    import rnnbook.modules as modules
    from rnnbook.fast import FastRNNBase, recurrent_flops, time_budget, time_forward_backward
    from rnnbook.timing import format_seconds

    mode = CELLS[args.cell]
    torch.manual_seed(0)
    shape = (args.input, args.hidden, args.layers)
    reference = getattr(nn, mode)(*shape, bidirectional=bidirectional)
    models: dict[str, nn.Module] = {"naive": getattr(modules, mode)(*shape, bidirectional=bidirectional)}
    fast_class = getattr(fast, "Fast" + mode)
    for variant in FastRNNBase.variants:
        models[variant] = fast_class(*shape, bidirectional=bidirectional, variant=variant)
    for model in models.values():
        model.load_state_dict(reference.state_dict())
    inputs = torch.randn(args.seq_len, args.batch, args.input)

    with torch.no_grad():  # every variant must compute torch's numbers before it is timed
        expected = reference(inputs)[0]
        for name, model in models.items():
            error = (model(inputs)[0] - expected).abs().max().item()
            if error > 1e-4:
                raise RuntimeError(f"{name} differs from nn.{mode} by {error:.2e}")

    compile_note = None
    if args.compile and mode == "GRU":
        compiled = fast.CompiledStepGRU(*shape, bidirectional=bidirectional)
        compiled.load_state_dict(reference.state_dict())
        start = time.perf_counter()
        compiled(inputs)[0].sum().backward()
        compile_note = time.perf_counter() - start
        models["compiled"] = compiled
    models["torch"] = reference

    timings = time_forward_backward(models, inputs, repeat=args.repeat, warmup=2)
    flops = recurrent_flops(
        mode, args.seq_len, args.batch, args.input, args.hidden, args.layers, bidirectional
    )
    total_flops = flops["forward"] + flops["backward"]
    base_fwd, base_both = (t.median for t in timings["torch"])
    title = f"{args.layers} layer{'s' if args.layers > 1 else ''}, " + (
        "bidirectional" if bidirectional else "unidirectional"
    )
    out(
        f"\n== {mode}, {title}: T={args.seq_len}, N={args.batch}, input {args.input}, "
        f"hidden {args.hidden} ({total_flops / 1e9:.2f} GFLOP per fwd+bwd)"
    )
    out(
        f"{'variant':9s} {'forward: median (min-max)':>31s} {'ratio':>6s}   "
        f"{'fwd+bwd: median (min-max)':>31s} {'ratio':>6s} {'GFLOP/s':>8s}"
        + (f" {'ceiling':>8s}" if ceiling else "")
    )
    ratios = {}
    for name, (fwd, both) in timings.items():
        ratios[name] = both.median / base_both
        gflops = total_flops / both.median / 1e9
        out(
            f"{name:9s} {_format_timing(fwd):>31s} {fwd.median / base_fwd:5.2f}x   "
            f"{_format_timing(both):>31s} {ratios[name]:5.2f}x {gflops:8.1f}"
            + (f" {gflops / ceiling:8.0%}" if ceiling else "")
        )
    if compile_note is not None:
        out(f"compile time of 'compiled' (first forward+backward call): {format_seconds(compile_note)}")
    elif args.compile:
        out("(no 'compiled' row: the compiled step is the GRU's; try --cell gru)")
    best = min((name for name in ratios if name != "torch"), key=ratios.get)
    out(f"best scratch variant: {best} ({ratios[best]:.2f}x nn.{mode}, fwd+bwd)")
    if args.budget:
        out(
            "where the time goes (fwd+bwd medians; the matrix products and the other operations "
            "replayed alone, and what is left: issuing them from Python and autograd):"
        )
        # The compiled variant's operations run inside compiled code, where they cannot be
        # recorded one by one: its budget is left out.
        uncompiled = min((name for name in ratios if name not in ("torch", "compiled")), key=ratios.get)
        for name in ("torch", uncompiled):
            budget = time_budget(models[name], inputs, repeat=min(args.repeat, 10))
            out(
                f"  {name:9s} total {format_seconds(budget.total):>9s} = products "
                f"{format_seconds(budget.products):>9s} ({budget.product_count} calls) + other "
                f"{format_seconds(budget.other_operations):>9s} ({budget.other_count} calls) + "
                + (
                    f"issuing {format_seconds(budget.issuing):>9s}"
                    if budget.issuing > 0
                    else "issuing: below the noise of this run"
                )
            )
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # torch.compile's disk cache, one folder per CPU code path: code generated for one
    # ATEN_CPU_CAPABILITY must not be reused by another (it may not even compile there).
    cache = Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR", ROOT / "_build" / ".inductor-cache"))
    capability = os.environ.get("ATEN_CPU_CAPABILITY", "native")
    if cache.name != capability:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache / capability)

    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    configurations = [False, True] if args.bidirectional is None else [args.bidirectional]
    mode = CELLS[args.cell]
    print(
        f"rnnbook.bench: torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"{os.cpu_count()} CPU(s), {args.repeat} timed rounds, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print("ratios are to the torch module's median; the forward pass records the graph for autograd")
    start = time.perf_counter()
    ceiling = measure_ceiling(args)
    results = [run_configuration(args, bidirectional, ceiling) for bidirectional in configurations]
    first = results[0]
    best = min(ratio for name, ratio in first.items() if name != "torch")
    print(f"\n(total {time.perf_counter() - start:.1f} s; the last line is for the first configuration)")
    print(f"best scratch {mode} stack / nn.{mode} (fwd+bwd): {best:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
