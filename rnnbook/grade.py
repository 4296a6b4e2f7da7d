"""Grade a class's exercise notebooks: ``python -m rnnbook.grade CHAPTER SUBMISSION... -o grades.csv``.

``CHAPTER`` names an exercise set ("1", "01" or the notebook's name); each ``SUBMISSION`` is a
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
SOLUTION``, ``x = 1  # SOLUTION``; see :mod:`rnnbook.grading.assign`, which calls otter's own
``replace_solutions``). Its *execution* model is not safe for grading on its own: ``otter run``
executes the tests in the learner's kernel, where the learner's code can read and rewrite them or
patch ``torch.allclose`` (a blank answer then scored full points), a killed kernel leaves no
results, and an infinite loop hangs it (there is no timeout without Docker, which these machines
do not have). So the grading here is split in two processes:

1. **The sandbox** (:mod:`rnnbook.grading.sandbox`), one plain ``python`` process per submission
   (much faster than a Jupyter kernel), isolated by bubblewrap (:mod:`rnnbook.grading.isolation`):
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
import atexit
import csv
import functools
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import torch

import rnnbook.grading.codec as codec
import rnnbook.grading.core as core
import rnnbook.grading.isolation as isolation
from rnnbook.grading import CHAPTERS, load_chapter
from rnnbook.grading.core import Case, Chapter, Failure, Verdict

__all__ = ["Options", "Result", "grade_submission", "grade_many", "load_private_cases", "probe_sandbox",
           "main"]

MAX_NOTEBOOK_BYTES = 20_000_000
# Sandboxes run side by side (-j), but judging is quick and some judges build their reference
# under torch.random.fork_rng / manual_seed and cache it: two threads judging at once would corrupt
# each other's reference (honest solutions lost points at random with -j 2). One judge at a time.
_JUDGING = threading.Lock()
STATUSES = ("ok", "timeout", "out of memory", "crashed", "not a notebook")


@dataclass(frozen=True)
class Options:
    """Limits for one submission."""

    timeout: float = 60.0        # wall clock for the whole submission, seconds
    cell_timeout: float = 10.0   # per code cell and per request, seconds
    memory_mb: int = 2048        # address space of the sandbox (torch alone maps ~0.7 GB)
    file_mb: int = 64            # largest file the sandbox may write
    processes: int = 256         # processes and threads of the whole submission (with a cgroup)
    isolate: bool = True         # False only with --no-isolation: learner code runs unconfined


@dataclass
class Result:
    """The grade of one submission."""

    submission: str
    status: str
    points: dict[str, float]
    max_points: dict[str, float]
    notes: list[str] = field(default_factory=list)
    verdicts: list[tuple[Case, Verdict]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(self.points.values())

    @property
    def max_total(self) -> float:
        return sum(self.max_points.values())


def _max_points(chapter: Chapter, cases: list[Case]) -> dict[str, float]:
    points = {q.id: 0.0 for q in chapter.questions}
    for case in cases:
        points[case.question] += case.points
    return points


def read_code_cells(path: Path) -> list[str] | str:
    """The code cells of a notebook file, or a string saying why it is not a notebook."""
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return f"larger than {MAX_NOTEBOOK_BYTES // 1_000_000} MB"
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        return f"not JSON ({type(error).__name__})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return "JSON without a list of cells"
    cells = []
    for cell in data["cells"]:
        if not isinstance(cell, dict):
            return "a cell is not a JSON object"
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            return "a code cell's source is not text"
        cells.append(source)
    return cells


def _requests(cases: list[Case]) -> tuple[list[core.Request], list[int]]:
    """Distinct requests and, for every case, the index of its request."""
    requests, index_of, which = [], {}, []
    for case in cases:
        r = case.request
        key = (r.kind, r.name, r.unavailable) if r.kind == "value" else id(case)
        if key not in index_of:
            index_of[key] = len(requests)
            requests.append(r)
        which.append(index_of[key])
    return requests, which


@functools.lru_cache(maxsize=1)
def _grading_view() -> Path:
    """The stand-in for ``rnnbook/grading`` that every sandbox of this run sees (removed at exit)."""
    view = isolation.stub_grading_folder(list(CHAPTERS))
    atexit.register(shutil.rmtree, view, ignore_errors=True)
    return view


def _sandbox_argv(workdir: Path, options: Options) -> list[str]:
    python = [sys.executable, "-I", "-B", "-m", "rnnbook.grading.sandbox", str(workdir)]
    if not options.isolate:
        return python
    return isolation.sandbox_command(workdir, _grading_view(), python)


def _run_sandbox(cells: list[str], requests: list[core.Request], options: Options):
    """Run one submission's code in a sandbox; return (answers, cell records, status, note)."""
    workdir = Path(tempfile.mkdtemp(prefix="rnnbook-grade-"))
    cgroup = None
    if options.isolate:
        cgroup = isolation.Cgroup.create(f"rnnbook-{os.getpid()}-{secrets.token_hex(6)}",
                                         options.memory_mb * 2 ** 20, options.processes, cpus=1.0)
    try:
        job = {"cells": cells, "cell_timeout": options.cell_timeout,
               "requests": [{"kind": r.kind, "name": r.name, "wrt": list(r.wrt),
                             "unavailable": list(r.unavailable)} for r in requests],
               "limits": {"memory_bytes": options.memory_mb * 2 ** 20,
                          "cpu_seconds": int(options.timeout) + 5,
                          "file_bytes": options.file_mb * 2 ** 20}}
        (workdir / "job.json").write_text(json.dumps(job), encoding="utf-8")
        for index, request in enumerate(requests):
            codec.write_value((request.args, request.init_args, request.state, request.cotangents),
                              workdir, f"req{index}")
        workdir.chmod(0o700)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "TMPDIR": str(workdir),
               "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(workdir),
               "TORCHINDUCTOR_CACHE_DIR": str(workdir / "inductor")}
        with open(os.devnull, "rb") as stdin, tempfile.TemporaryFile() as stderr:
            argv = _sandbox_argv(workdir, options)
            if cgroup is not None:
                argv = cgroup.enter_command() + argv
            process = subprocess.Popen(
                argv, cwd=workdir, env=env, stdin=stdin,
                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True, close_fds=True)
            killed = False
            try:
                process.wait(timeout=options.timeout)
            except subprocess.TimeoutExpired:
                killed = True
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            stderr.seek(0)
            stderr_tail = stderr.read()[-2000:].decode("utf-8", "replace")
        records = _read_cells(workdir)
        answers = []
        budget = codec.Budget()
        for index in range(len(requests)):
            try:
                answers.append(codec.read_value(workdir, f"ans{index}", budget))
            except codec.CodecError as error:
                why = ("the notebook's code stopped before this test ran" if "missing" in str(error)
                       else f"the answer file is unreadable: {error}")
                answers.append(Failure(f"no answer: {why}"))
            except Exception as error:  # noqa: BLE001 - nothing a submission writes may stop the grader
                answers.append(Failure(f"no answer: the answer file is unreadable ({type(error).__name__})"))
        finished = (workdir / "done.json").exists()
        out_of_memory = cgroup is not None and cgroup.hit_memory_limit()
    finally:
        if cgroup is not None:
            cgroup.remove()
        shutil.rmtree(workdir, ignore_errors=True)

    note = ""
    if killed:
        status, note = "timeout", f"stopped after {options.timeout:g} s (wall-clock limit)"
    elif process.returncode == -signal.SIGXCPU:
        status, note = "timeout", "stopped at the CPU-time limit"
    elif not finished:
        status = "crashed"
        last = records[-1]["cell"] + 1 if records else 0
        why = f"signal {-process.returncode}" if process.returncode < 0 else f"exit code {process.returncode}"
        note = f"the sandbox ended early ({why}) while running code cell {last}"
        said = [line.strip() for line in stderr_tail.splitlines() if line.strip()]
        if said and not records:  # it died before any learner code ran: say why
            note += f": {said[-1][-400:]}"
        if "MemoryError" in stderr_tail or out_of_memory:
            status = "out of memory"
    elif any(r["status"] == "timeout" for r in records):
        status = "timeout"
    elif any(r["status"] == "memory" for r in records):
        status = "out of memory"
    else:
        status = "ok"
    return answers, records, status, note


def probe_sandbox(options: Options) -> None:
    """Start one empty sandbox before grading anyone; stop with its real error if it cannot run.

    Without this, a sandbox that cannot even import the library (a folder it cannot read, a
    broken installation) would give every submission the status ``crashed`` and zero points.
    """
    _, _, status, note = _run_sandbox([], [], options)
    if status != "ok":
        raise SystemExit(
            f"error: the grading sandbox cannot start here, so nothing was graded ({note or status}).\n"
            f"The sandbox runs {sys.executable} -m rnnbook.grading.sandbox and must be able to import "
            f"the library from {isolation.library_folder()}.")


def _read_cells(workdir: Path) -> list[dict]:
    """The sandbox's per-cell records, read as untrusted data."""
    try:
        data = codec.read_json(workdir / "cells.json", 1_000_000)
    except Exception:  # noqa: BLE001 - missing, a link, too large, not JSON: no records
        return []
    records = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and isinstance(item.get("cell"), int) and \
                item.get("status") in ("ok", "error", "timeout", "memory"):
            records.append({"cell": item["cell"], "status": item["status"],
                            "error": str(item.get("error", ""))[:200]})
    return records


def grade_submission(path: Path, chapter: Chapter, cases: list[Case], options: Options,
                     name: str | None = None) -> Result:
    """Grade one submission file (never modified: only its bytes are read)."""
    start = time.perf_counter()
    name = name or str(path)
    max_points = _max_points(chapter, cases)
    zero = {q: 0.0 for q in max_points}
    cells = read_code_cells(path)
    if isinstance(cells, str):
        return Result(name, "not a notebook", zero, max_points, [cells],
                      seconds=time.perf_counter() - start)
    requests, which = _requests(cases)
    answers, records, status, note = _run_sandbox(cells, requests, options)
    points = dict(zero)
    verdicts = []
    with _JUDGING:  # judges share torch's global random state and their reference caches
        for case, index in zip(cases, which):
            verdict = core.judge_case(case, answers[index])
            verdict = Verdict(verdict.passed, clean(verdict.message))  # may quote the learner's text
            verdicts.append((case, verdict))
            if verdict.passed:
                points[case.question] += case.points
    notes = [note] if note else []
    problems = [r for r in records if r["status"] != "ok"]
    notes += [f"code cell {r['cell'] + 1}: {r['error']}" for r in problems[:5]]
    if len(problems) > 5:
        notes.append(f"... and {len(problems) - 5} more cells with errors")
    return Result(clean(name), status, points, max_points, [clean(n) for n in notes], verdicts,
                  time.perf_counter() - start)


def grade_many(paths: list[Path], chapter: Chapter, cases: list[Case], options: Options,
               jobs: int = 2, on_result=None) -> list[Result]:
    """Grade several submissions, ``jobs`` sandboxes at a time; return the results in the given
    order. ``on_result(result)`` is called as each one finishes (the CSV is written that way)."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_submission, p, chapter, cases, options): p for p in paths}
        if on_result is not None:
            for future in as_completed(futures):
                on_result(future.result())
        return [f.result() for f in futures]


def load_private_cases(folder: Path, chapter: Chapter, generator: torch.Generator) -> list[Case]:
    """Load an instructor's tests: every ``*.py`` in ``folder`` may define
    ``cases(chapter_id, generator) -> list[rnnbook.grading.Case]``."""
    if not folder.is_dir():
        raise SystemExit(f"--tests {folder}: not a folder")
    found: list[Case] = []
    for index, path in enumerate(sorted(folder.glob("*.py"))):
        spec = importlib.util.spec_from_file_location(f"rnnbook_private_tests_{index}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        make = getattr(module, "cases", None)
        if make is None:
            continue
        extra = list(make(chapter.id, generator))
        for case in extra:
            if not isinstance(case, Case):
                raise SystemExit(f"{path}: cases() must return rnnbook.grading.Case objects, "
                                 f"got {type(case).__name__}")
        found += extra
    return found


def _expand(arguments: list[str]) -> list[Path]:
    paths = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            paths += sorted(p for p in path.iterdir()
                            if p.is_file() and not p.name.startswith("."))
        elif path.exists():
            paths.append(path)
        else:
            raise SystemExit(f"no such file or folder: {argument}")
    return paths


def _fmt(x: float) -> str:
    return f"{x:g}"


def clean(text: str) -> str:
    """``text`` without control characters (terminal escapes, NULs, newlines), for CSV and terminal."""
    return "".join(ch if ch.isprintable() else " " for ch in str(text))


class CsvWriter:
    """The grades CSV, one row per submission, flushed as each row is written."""

    def __init__(self, output: Path, chapter: Chapter):
        self.output, self.ids = output, [q.id for q in chapter.questions]

    def __enter__(self) -> CsvWriter:
        self.handle = open(self.output, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(["submission", "status", *self.ids, "total", "max", "seconds", "notes"])
        return self

    def write(self, r: Result) -> None:
        self.writer.writerow([clean(r.submission), r.status, *(_fmt(r.points[q]) for q in self.ids),
                              _fmt(r.total), _fmt(r.max_total), f"{r.seconds:.1f}",
                              " | ".join(clean(n) for n in r.notes)])
        self.handle.flush()

    def __exit__(self, *exc) -> None:
        self.handle.close()


def write_csv(results: list[Result], chapter: Chapter, output: Path) -> None:
    with CsvWriter(output, chapter) as writer:
        for r in results:
            writer.write(r)


def write_feedback(results: list[Result], chapter: Chapter, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    titles = {q.id: q.title for q in chapter.questions}
    used: set[str] = set()
    for r in results:
        stem = Path(r.submission).stem or "submission"
        while stem in used:
            stem += "_"
        used.add(stem)
        lines = [f"Exercise set {chapter.id}: {chapter.title}", f"Submission: {r.submission}",
                 f"Status: {r.status}", f"Total: {_fmt(r.total)} / {_fmt(r.max_total)}", ""]
        lines += [f"Note: {n}" for n in r.notes]
        for q in chapter.questions:
            lines.append(f"\n{titles[q.id]}: {_fmt(r.points[q.id])} / {_fmt(r.max_points[q.id])}")
            for case, verdict in r.verdicts:
                if case.question == q.id:
                    kind = "hidden" if case.hidden else "public"
                    mark = "passed" if verdict.passed else "FAILED"
                    lines.append(f"  [{mark}] ({kind}) {case.label}: {verdict.message}")
        (folder / f"{stem}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def summary(results: list[Result], chapter: Chapter, seconds: float, jobs: int, seed: int) -> str:
    ids = [q.id for q in chapter.questions]
    width = min(40, max([len("submission")] + [len(r.submission) for r in results]))
    head = f"{'submission':<{width}}  {'status':<14}" + "".join(f"{q:>7}" for q in ids) + f"{'total':>9}"
    count = f"{len(results)} submission{'s' if len(results) != 1 else ''}"
    lines = [f"Exercise set {chapter.id} ({chapter.title}): {count} graded in {seconds:.1f} s with "
             f"{jobs} worker{'s' if jobs != 1 else ''} (hidden-test seed {seed})", head, "-" * len(head)]
    for r in results:
        name = r.submission if len(r.submission) <= width else "..." + r.submission[-width + 3:]
        lines.append(f"{name:<{width}}  {r.status:<14}" + "".join(f"{_fmt(r.points[q]):>7}" for q in ids)
                     + f"{_fmt(r.total):>9}")
    if results:
        maxima = results[0].max_points
        lines.append("-" * len(head))
        lines.append(f"{'maximum':<{width}}  {'':<14}" + "".join(f"{_fmt(maxima[q]):>7}" for q in ids)
                     + f"{_fmt(sum(maxima.values())):>9}")
        means = {q: sum(r.points[q] for r in results) / len(results) for q in ids}
        lines.append(f"{'mean':<{width}}  {'':<14}" + "".join(f"{means[q]:>7.1f}" for q in ids)
                     + f"{sum(r.total for r in results) / len(results):>9.1f}")
        counts = {s: sum(r.status == s for r in results) for s in STATUSES}
        lines.append("statuses: " + ", ".join(f"{s} {n}" for s, n in counts.items() if n))
        slowest = max(results, key=lambda r: r.seconds)
        lines.append(f"slowest submission: {slowest.seconds:.1f} s ({slowest.submission})")
        for r in results:
            for n in r.notes:
                lines.append(f"  {r.submission}: {n}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnnbook.grade",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", help=f"exercise set: {', '.join(CHAPTERS)} (or a notebook name)")
    parser.add_argument("submissions", nargs="+", help="notebooks, or folders of notebooks")
    parser.add_argument("-o", "--output", default="grades.csv", help="CSV file to write (default grades.csv)")
    parser.add_argument("--tests", type=Path, action="append", default=[],
                        help="a folder of private tests (Python files defining cases()); repeatable")
    parser.add_argument("--feedback", type=Path, help="write one feedback text file per submission here")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2, help="sandboxes at a time")
    parser.add_argument("--timeout", type=float, default=Options.timeout, help="seconds per submission")
    parser.add_argument("--cell-timeout", type=float, default=Options.cell_timeout,
                        help="seconds per code cell and per test request")
    parser.add_argument("--memory", type=int, default=Options.memory_mb, help="MB of address space")
    parser.add_argument("--seed", type=int, help="seed of the hidden tests' inputs (default: random)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary line")
    parser.add_argument("--no-isolation", action="store_true",
                        help="grade even where bubblewrap cannot isolate submissions (unsafe)")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    why_not = isolation.available()  # probed once, before any worker starts
    if why_not and not args.no_isolation:
        raise SystemExit(f"error: cannot isolate submissions here: {why_not}.\nNothing was graded. "
                         "Install bubblewrap, or pass --no-isolation to run learner code unconfined "
                         "(only for code you trust).")
    if why_not:
        print(f"warning: --no-isolation: {why_not}; learner code runs as you, unconfined",
              file=sys.stderr)
    chapter = load_chapter(args.chapter)
    seed = args.seed if args.seed is not None else secrets.randbits(31)
    extra: list[Case] = []
    for folder in args.tests:
        extra += load_private_cases(folder, chapter, torch.Generator().manual_seed(seed + 1))
    cases = chapter.cases(seed, extra)
    paths = _expand(args.submissions)
    if not paths:
        raise SystemExit("no submissions found")
    output = Path(args.output)
    if any(output.resolve() == p.resolve() for p in paths):
        raise SystemExit(f"-o {output} is one of the submissions: refusing to overwrite it")
    options = Options(args.timeout, args.cell_timeout, args.memory, isolate=not why_not)
    probe_sandbox(options)
    if not args.quiet:
        print(f"sandbox: {isolation.describe() if options.isolate else 'none (--no-isolation)'}")
    start = time.perf_counter()
    with CsvWriter(output, chapter) as writer:  # each row is written as soon as it is graded
        results = grade_many(paths, chapter, cases, options, args.jobs, on_result=writer.write)
    seconds = time.perf_counter() - start
    if args.feedback:
        write_feedback(results, chapter, args.feedback)
    text = summary(results, chapter, seconds, args.jobs, seed)
    print(text.splitlines()[0] if args.quiet else text)
    print(f"wrote {output}" + (f" and feedback in {args.feedback}/" if args.feedback else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
