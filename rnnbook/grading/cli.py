"""Grade a class's exercise notebooks: ``python -m rnnbook.grade SET SUBMISSION... -o grades.csv``.

``SET`` names an exercise set ("1", "01" or the notebook's name); each ``SUBMISSION`` is a
notebook or a folder of them. Every submission is graded in its own sandboxed process, several at
a time (``-j``), with a wall-clock limit, a CPU limit and a memory limit. The result is one CSV row
per submission (points per question, total, a status: ``ok``, ``timeout``, ``out of memory``,
``crashed`` or ``not a notebook``, and notes such as the cells that raised) and a summary on the
terminal. ``--feedback DIR`` also writes one text file per submission with every test's message.
The exit status is 0 when every submission got a row, whatever the scores; 2 for a usage error.

Why the grader is built this way (and not only on otter-grader)
---------------------------------------------------------------
Otter-grader 7 (installed; measured in the project's toolchain notes) is a good *authoring*
format, and the exercise masters keep its solution syntax (``# BEGIN SOLUTION``/``# END
SOLUTION``, ``x = 1  # SOLUTION``; see the repository's ``tools/assign_exercises.py``, which calls otter's own
``replace_solutions``). Its *execution* model is not safe for grading on its own: ``otter run``
executes the tests in the learner's kernel, where the learner's code can read and rewrite them or
patch ``torch.allclose`` (a blank answer then scored full points), a killed kernel leaves no
results, and an infinite loop hangs it (there is no timeout without Docker, which these machines
do not have). So the grading here is split in two processes:

1. **The sandbox** (:mod:`rnnbook.grading.sandbox`), one plain ``python`` process per submission
   (much faster than a Jupyter kernel), isolated by bubblewrap (:mod:`rnnbook.grading.sandbox.isolation`):
   its own user, mount, PID, network and IPC namespaces; a read-only view of the system, the
   Python environment and the library, in which the grading modules (tests, judges, reference
   answers) are replaced by stubs; a working folder of its own and a private ``/tmp`` and
   ``/dev/shm``; and, where the grader may create one, a cgroup that limits the memory,
   processes and CPU of the whole submission. It cannot see other submissions, the repository's
   solutions, earlier grades, the grader's environment or the network, and nothing it starts
   outlives it. It runs the code cells (each under an alarm; a failing cell is recorded and the
   next one runs, as in "run all" with errors allowed), then carries out the grader's
   *requests*: the value of a name, or the output of the learner's function on inputs the grader
   sent; while it answers a question, the library functions that question asks the learner to
   write raise an error saying so. It returns plain data only (JSON and ``.npy``; nothing from
   the sandbox is ever unpickled). It never receives a test, a reference answer or a score.
2. **The grader** (this process) imports every piece of grading code, the exercise sets, the
   reference library and the instructor's ``--tests`` before any sandbox starts. It draws the
   hidden tests' inputs from a fresh random seed (``--seed`` to reproduce a run), computes the
   reference answers itself from ``rnnbook`` (one judge at a time, so ``-j N`` gives the same
   scores as ``-j 1``), and judges the sandbox's answers, which it reads as untrusted files:
   never through a link, never more than a fixed size per answer and per submission; a file it
   cannot read costs that answer only. The maximum points come from its own list of tests, and
   each CSV row is written as soon as its submission is graded.

Where bubblewrap cannot run, the grader refuses to grade (``--no-isolation`` overrides that, for
code you trust). Before grading anyone it starts one empty sandbox and stops with its error if
that fails.

What the book's tests can and cannot protect: its exercise sets, their hidden tests and the
solutions are public in the repository, so a learner can read them at home and copy answers; the
sandbox only ensures that a submission cannot read or change the tests *while it is graded*, nor
another submission. For an exam, write private tests: ``--tests DIR`` (Python files defining
``cases(chapter, generator)``; see ``exercises/index.md``), which the sandbox never sees.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

import torch

from rnnbook.grading import EXERCISE_SETS, load_exercise_set
from rnnbook.grading.grader import grade_many, load_private_cases
from rnnbook.grading.model import Case, Limits
from rnnbook.grading.report import CsvWriter, summary, write_feedback
from rnnbook.grading.sandbox import isolation
from rnnbook.grading.sandbox.run import probe_sandbox

__all__ = ["main"]


def _expand(arguments: list[str]) -> list[Path]:
    paths = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            paths += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif path.exists():
            paths.append(path)
        else:
            raise SystemExit(f"no such file or folder: {argument}")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnbook.grade",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("set", help=f"exercise set: {', '.join(EXERCISE_SETS)} (or a notebook name)")
    parser.add_argument("submissions", nargs="+", help="notebooks, or folders of notebooks")
    parser.add_argument("-o", "--output", default="grades.csv", help="CSV file to write (default grades.csv)")
    parser.add_argument(
        "--tests",
        type=Path,
        action="append",
        default=[],
        help="a folder of private tests (Python files defining cases()); repeatable",
    )
    parser.add_argument("--feedback", type=Path, help="write one feedback text file per submission here")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2, help="sandboxes at a time")
    parser.add_argument("--timeout", type=float, default=Limits.timeout, help="seconds per submission")
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=Limits.cell_timeout,
        help="seconds per code cell and per test request",
    )
    parser.add_argument("--memory", type=int, default=Limits.memory_mb, help="MB of address space")
    parser.add_argument("--seed", type=int, help="seed of the hidden tests' inputs (default: random)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary line")
    parser.add_argument(
        "--no-isolation",
        action="store_true",
        help="grade even where bubblewrap cannot isolate submissions (unsafe)",
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    why_not = isolation.available()  # probed once, before any worker starts
    if why_not and not args.no_isolation:
        raise SystemExit(
            f"error: cannot isolate submissions here: {why_not}.\nNothing was graded. "
            "Install bubblewrap, or pass --no-isolation to run learner code unconfined "
            "(only for code you trust)."
        )
    if why_not:
        print(f"warning: --no-isolation: {why_not}; learner code runs as you, unconfined", file=sys.stderr)
    exercise_set = load_exercise_set(args.set)
    seed = args.seed if args.seed is not None else secrets.randbits(31)
    extra: list[Case] = []
    for folder in args.tests:
        extra += load_private_cases(folder, exercise_set, torch.Generator().manual_seed(seed + 1))
    cases = exercise_set.cases(seed, extra)
    paths = _expand(args.submissions)
    if not paths:
        raise SystemExit("no submissions found")
    output = Path(args.output)
    if any(output.resolve() == p.resolve() for p in paths):
        raise SystemExit(f"-o {output} is one of the submissions: refusing to overwrite it")
    limits = Limits(args.timeout, args.cell_timeout, args.memory, isolate=not why_not)
    probe_sandbox(limits)
    if not args.quiet:
        print(f"sandbox: {isolation.describe_isolation() if limits.isolate else 'none (--no-isolation)'}")
    start = time.perf_counter()
    with CsvWriter(output, exercise_set) as writer:  # each row is written as soon as it is graded
        results = grade_many(paths, exercise_set, cases, limits, args.jobs, on_result=writer.write)
    seconds = time.perf_counter() - start
    if args.feedback:
        write_feedback(results, exercise_set, args.feedback)
    text = summary(results, exercise_set, seconds, args.jobs, seed)
    print(text.splitlines()[0] if args.quiet else text)
    print(f"wrote {output}" + (f" and feedback in {args.feedback}/" if args.feedback else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
