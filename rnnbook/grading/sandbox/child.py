"""The learner's side of grading: run a submission's code cells, then answer the grader's requests.

Started by :mod:`rnnbook.grading.sandbox.run` as ``python -I -B -m rnnbook.grading.sandbox.child
WORKDIR``, one process per submission, in a fresh temporary folder, in its own namespaces (see
:mod:`rnnbook.grading.sandbox.isolation`), with a minimal environment. This process never sees a
test, a reference answer, a comparison or a score: it reads ``job.json`` (the code cells, the
limits, and the requests, whose inputs are in ``reqN.json``/``.npy``) and writes plain data back
(``ansN.json``/``.npy``, ``cells.json``, ``done.json``) with
:mod:`rnnbook.grading.sandbox.protocol`. Whatever the learner's code does here (patching
``torch.allclose``, rewriting files, faking answers, looping, exiting), the judging happens in the
grader's process, which reads these files as untrusted data.

Limits applied here, before any learner code runs: address space (``RLIMIT_AS``), CPU time
(``RLIMIT_CPU``), file size (``RLIMIT_FSIZE``), no core dumps, and a per-cell / per-request alarm.
The grader starts this process in its own namespaces and, where it can, a cgroup that limits
memory, processes and CPU of the whole submission (:mod:`rnnbook.grading.sandbox.isolation`), and kills
all of it at a wall-clock limit.
"""

from __future__ import annotations

import builtins
import io
import os
import re
import resource
import signal
import sys
from pathlib import Path

MAX_OUTPUT = 20_000


class TimeLimit(BaseException):
    """Raised by the alarm: a BaseException, so that ``except Exception`` in learner code lets it through."""


class _BoundedText(io.TextIOBase):
    """A stdout/stderr replacement that keeps only the first characters written."""

    def __init__(self):
        self.parts, self.size = [], 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        if self.size < MAX_OUTPUT:
            self.parts.append(text[: MAX_OUTPUT - self.size])
        self.size += len(text)
        return len(text)


def _set_limits(limits: dict) -> None:
    def limit(kind, value):
        value = int(value)
        soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, value if hard == resource.RLIM_INFINITY else hard))

    limit(resource.RLIMIT_AS, limits["memory_bytes"])
    limit(resource.RLIMIT_CPU, limits["cpu_seconds"])
    limit(resource.RLIMIT_FSIZE, limits["file_bytes"])
    limit(resource.RLIMIT_CORE, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails instead of killing us


def _on_alarm(signum, frame):
    raise TimeLimit()


def _strip_magics(source: str) -> str:
    """Comment out IPython syntax (``%magic``, ``!shell``, ``%%cell``), which plain Python cannot run."""
    if source.lstrip().startswith("%%"):
        return "# cell magic skipped by the grader\n"
    return re.sub(r"^(\s*)([%!].*)$", r"\1pass  # skipped by the grader: \2", source, flags=re.MULTILINE)


def _is_memory_error(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, MemoryError) or "can't allocate memory" in text or "DefaultCPUAllocator" in text


def main(workdir: str) -> int:
    folder = Path(workdir)
    # torch is already imported (``python -m`` imports the ``rnnbook`` package first), so its
    # ~0.7 GB of mappings count against the address-space limit set next.
    from rnnbook.grading.learner import answer_request
    from rnnbook.grading.model import Failure
    from rnnbook.grading.sandbox import protocol

    sources, seconds, limits, requests = protocol.read_job(folder)
    _set_limits(limits)
    signal.signal(signal.SIGALRM, _on_alarm)

    namespace = {"__name__": "__main__", "__builtins__": builtins}
    cells = []
    real_stdout, real_stderr = sys.stdout, sys.stderr
    for index, source in enumerate(sources):
        record = {"cell": index, "status": "ok"}
        sys.stdout = sys.stderr = _BoundedText()
        try:
            code = compile(_strip_magics(source), f"<cell {index + 1}>", "exec")
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                exec(code, namespace)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except TimeLimit:
            record = {"cell": index, "status": "timeout", "error": f"ran longer than {seconds:g} s"}
        except BaseException as error:  # noqa: BLE001 - learner code may raise anything, SystemExit too
            status = "memory" if _is_memory_error(error) else "error"
            first = (str(error).strip().splitlines() or [""])[0][:200]
            record = {"cell": index, "status": status, "error": f"{type(error).__name__}: {first}"}
        finally:
            sys.stdout, sys.stderr = real_stdout, real_stderr
        cells.append(record)
        protocol.write_cell_records(folder, cells)

    for index, request in enumerate(requests):
        try:
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                result = answer_request(namespace, request)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except TimeLimit:
            result = Failure(f"{request.name} ran longer than {seconds:g} s")
        except BaseException as error:  # noqa: BLE001
            result = Failure(f"{request.name} raised {type(error).__name__}")
        try:
            protocol.write_answer(folder, index, result)
        except BaseException as error:  # noqa: BLE001 - e.g. a file too large for RLIMIT_FSIZE
            why = f"the answer could not be sent back ({type(error).__name__})"
            protocol.write_answer(folder, index, Failure(why))
    protocol.mark_done(folder, len(cells))
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: learner objects' __del__ must not change anything


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
