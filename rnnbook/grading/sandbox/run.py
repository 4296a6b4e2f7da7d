"""The grader's half of a sandbox: run one submission's code isolated, under limits, and read back
what it sent, as untrusted data (:mod:`~rnnbook.grading.sandbox.protocol`).
"""

from __future__ import annotations

import atexit
import functools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rnnbook.grading.model import Limits, Request
from rnnbook.grading.sandbox import isolation, protocol

__all__ = ["SandboxRun", "run_sandbox", "probe_sandbox"]


@dataclass
class SandboxRun:
    """What one sandbox run gave: an answer (or a Failure) per request, the per-cell records, a
    status (``ok``, ``timeout``, ``out of memory``, ``crashed``) and a note saying why."""

    answers: list
    records: list[dict]
    status: str
    note: str = ""


@functools.lru_cache(maxsize=1)
def _grading_view() -> Path:
    """The stand-in for ``rnnbook/grading`` that every sandbox of this run sees (removed at exit)."""
    from rnnbook.grading import EXERCISE_SETS

    view = isolation.stub_grading_folder(list(EXERCISE_SETS))
    atexit.register(shutil.rmtree, view, ignore_errors=True)
    return view


def _sandbox_argv(workdir: Path, limits: Limits) -> list[str]:
    python = [sys.executable, "-I", "-B", "-m", "rnnbook.grading.sandbox.child", str(workdir)]
    if not limits.isolate:
        return python
    return isolation.sandbox_command(workdir, _grading_view(), python)


def run_sandbox(cells: list[str], requests: list[Request], limits: Limits) -> SandboxRun:
    """Run one submission's code cells in a sandbox, then its answers to ``requests``."""
    workdir = Path(tempfile.mkdtemp(prefix="rnnbook-grade-"))
    cgroup = None
    if limits.isolate:
        cgroup = isolation.Cgroup.create(
            f"rnnbook-{os.getpid()}-{secrets.token_hex(6)}",
            limits.memory_mb * 2**20,
            limits.processes,
            cpus=1.0,
        )
    try:
        protocol.write_job(
            workdir,
            cells,
            requests,
            limits.cell_timeout,
            {
                "memory_bytes": limits.memory_mb * 2**20,
                "cpu_seconds": int(limits.timeout) + 5,
                "file_bytes": limits.file_mb * 2**20,
            },
        )
        workdir.chmod(0o700)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(workdir),
            "TORCHINDUCTOR_CACHE_DIR": str(workdir / "inductor"),
        }
        with open(os.devnull, "rb") as stdin, tempfile.TemporaryFile() as stderr:
            argv = _sandbox_argv(workdir, limits)
            if cgroup is not None:
                argv = cgroup.enter_command() + argv
            process = subprocess.Popen(
                argv,
                cwd=workdir,
                env=env,
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
                close_fds=True,
            )
            killed = False
            try:
                process.wait(timeout=limits.timeout)
            except subprocess.TimeoutExpired:
                killed = True
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            stderr.seek(0)
            stderr_tail = stderr.read()[-2000:].decode("utf-8", "replace")
        records = protocol.read_cell_records(workdir)
        answers = protocol.read_answers(workdir, len(requests))
        finished = protocol.is_done(workdir)
        out_of_memory = cgroup is not None and cgroup.hit_memory_limit()
    finally:
        if cgroup is not None:
            cgroup.remove()
        shutil.rmtree(workdir, ignore_errors=True)

    note = ""
    if killed:
        status, note = "timeout", f"stopped after {limits.timeout:g} s (wall-clock limit)"
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
    return SandboxRun(answers, records, status, note)


def probe_sandbox(limits: Limits) -> None:
    """Start one empty sandbox before grading anyone; stop with its real error if it cannot run.

    Without this, a sandbox that cannot even import the library (a folder it cannot read, a
    broken installation) would give every submission the status ``crashed`` and zero points.
    """
    run = run_sandbox([], [], limits)
    status, note = run.status, run.note
    if status != "ok":
        raise SystemExit(
            f"error: the grading sandbox cannot start here, so nothing was graded ({note or status}).\n"
            f"The sandbox runs {sys.executable} -m rnnbook.grading.sandbox.child and must be able to import "
            f"the library from {isolation.library_folder()}."
        )
