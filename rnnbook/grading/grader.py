"""Grading submissions: one sandbox run per submission, then the judges, one at a time.

:func:`grade_submission` reads a notebook's code cells (only its bytes: a submission is never
modified), runs them in a sandbox (:mod:`rnnbook.grading.sandbox.run`) together with the requests
of every case, and judges the answers in this process. :func:`grade_many` grades a class, several
sandboxes at a time.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rnnbook.grading.judging import judge_case
from rnnbook.grading.model import Case, ExerciseSet, Limits, Request, Verdict
from rnnbook.grading.report import clean
from rnnbook.grading.sandbox.run import run_sandbox

__all__ = ["Result", "grade_submission", "grade_many", "load_private_cases", "read_code_cells"]

MAX_NOTEBOOK_BYTES = 20_000_000
# Sandboxes run side by side (-j), but judging is quick and some judges build their reference
# under torch.random.fork_rng / manual_seed and cache it: two threads judging at once would corrupt
# each other's reference (honest solutions lost points at random with -j 2). One judge at a time.
_JUDGING = threading.Lock()


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


def _max_points(exercise_set: ExerciseSet, cases: list[Case]) -> dict[str, float]:
    points = {q.id: 0.0 for q in exercise_set.questions}
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


def _requests(cases: list[Case]) -> tuple[list[Request], list[int]]:
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


def grade_submission(
    path: Path, exercise_set: ExerciseSet, cases: list[Case], limits: Limits, name: str | None = None
) -> Result:
    """Grade one submission file (never modified: only its bytes are read)."""
    start = time.perf_counter()
    name = name or str(path)
    max_points = _max_points(exercise_set, cases)
    zero = {q: 0.0 for q in max_points}
    cells = read_code_cells(path)
    if isinstance(cells, str):
        return Result(name, "not a notebook", zero, max_points, [cells], seconds=time.perf_counter() - start)
    requests, which = _requests(cases)
    run = run_sandbox(cells, requests, limits)
    answers, records, status, note = run.answers, run.records, run.status, run.note
    points = dict(zero)
    verdicts = []
    with _JUDGING:  # judges share torch's global random state and their reference caches
        for case, index in zip(cases, which):
            verdict = judge_case(case, answers[index])
            verdict = Verdict(verdict.passed, clean(verdict.message))  # may quote the learner's text
            verdicts.append((case, verdict))
            if verdict.passed:
                points[case.question] += case.points
    notes = [note] if note else []
    problems = [r for r in records if r["status"] != "ok"]
    notes += [f"code cell {r['cell'] + 1}: {r['error']}" for r in problems[:5]]
    if len(problems) > 5:
        notes.append(f"... and {len(problems) - 5} more cells with errors")
    return Result(
        clean(name),
        status,
        points,
        max_points,
        [clean(n) for n in notes],
        verdicts,
        time.perf_counter() - start,
    )


def grade_many(
    paths: list[Path],
    exercise_set: ExerciseSet,
    cases: list[Case],
    limits: Limits,
    jobs: int = 2,
    on_result=None,
) -> list[Result]:
    """Grade several submissions, ``jobs`` sandboxes at a time; return the results in the given
    order. ``on_result(result)`` is called as each one finishes (the CSV is written that way)."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_submission, p, exercise_set, cases, limits): p for p in paths}
        if on_result is not None:
            for future in as_completed(futures):
                on_result(future.result())
        return [f.result() for f in futures]


def load_private_cases(folder: Path, exercise_set: ExerciseSet, generator: torch.Generator) -> list[Case]:
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
        extra = list(make(exercise_set.id, generator))
        for case in extra:
            if not isinstance(case, Case):
                raise SystemExit(
                    f"{path}: cases() must return rnnbook.grading.Case objects, got {type(case).__name__}"
                )
        found += extra
    return found
