"""Reporting grades: the CSV (one row per submission, written as each is graded), the feedback
files (every test's message) and the summary printed on the terminal. Everything a submission
could influence (its name, error messages) passes through :func:`clean` first.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from rnnbook.grading.model import STATUSES, ExerciseSet

if TYPE_CHECKING:
    from rnnbook.grading.grader import Result

__all__ = ["clean", "CsvWriter", "write_csv", "write_feedback", "summary"]


def _fmt(x: float) -> str:
    return f"{x:g}"


def clean(text: str) -> str:
    """``text`` without control characters (terminal escapes, NULs, newlines), for CSV and terminal."""
    return "".join(ch if ch.isprintable() else " " for ch in str(text))


class CsvWriter:
    """The grades CSV, one row per submission, flushed as each row is written."""

    def __init__(self, output: Path, exercise_set: ExerciseSet):
        self.output, self.ids = output, [q.id for q in exercise_set.questions]

    def __enter__(self) -> CsvWriter:
        self.handle = open(self.output, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(["submission", "status", *self.ids, "total", "max", "seconds", "notes"])
        return self

    def write(self, r: Result) -> None:
        self.writer.writerow(
            [
                clean(r.submission),
                r.status,
                *(_fmt(r.points[q]) for q in self.ids),
                _fmt(r.total),
                _fmt(r.max_total),
                f"{r.seconds:.1f}",
                " | ".join(clean(n) for n in r.notes),
            ]
        )
        self.handle.flush()

    def __exit__(self, *exc) -> None:
        self.handle.close()


def write_csv(results: list[Result], exercise_set: ExerciseSet, output: Path) -> None:
    with CsvWriter(output, exercise_set) as writer:
        for r in results:
            writer.write(r)


def write_feedback(results: list[Result], exercise_set: ExerciseSet, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    titles = {q.id: q.title for q in exercise_set.questions}
    used: set[str] = set()
    for r in results:
        stem = Path(r.submission).stem or "submission"
        while stem in used:
            stem += "_"
        used.add(stem)
        lines = [
            f"Exercise set {exercise_set.id}: {exercise_set.title}",
            f"Submission: {r.submission}",
            f"Status: {r.status}",
            f"Total: {_fmt(r.total)} / {_fmt(r.max_total)}",
            "",
        ]
        lines += [f"Note: {n}" for n in r.notes]
        for q in exercise_set.questions:
            lines.append(f"\n{titles[q.id]}: {_fmt(r.points[q.id])} / {_fmt(r.max_points[q.id])}")
            for case, verdict in r.verdicts:
                if case.question == q.id:
                    kind = "hidden" if case.hidden else "public"
                    mark = "passed" if verdict.passed else "FAILED"
                    lines.append(f"  [{mark}] ({kind}) {case.label}: {verdict.message}")
        (folder / f"{stem}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def summary(results: list[Result], exercise_set: ExerciseSet, seconds: float, jobs: int, seed: int) -> str:
    ids = [q.id for q in exercise_set.questions]
    width = min(40, max([len("submission")] + [len(r.submission) for r in results]))
    head = f"{'submission':<{width}}  {'status':<14}" + "".join(f"{q:>7}" for q in ids) + f"{'total':>9}"
    count = f"{len(results)} submission{'s' if len(results) != 1 else ''}"
    lines = [
        f"Exercise set {exercise_set.id} ({exercise_set.title}): {count} graded in {seconds:.1f} s with "
        f"{jobs} worker{'s' if jobs != 1 else ''} (hidden-test seed {seed})",
        head,
        "-" * len(head),
    ]
    for r in results:
        name = r.submission if len(r.submission) <= width else "..." + r.submission[-width + 3 :]
        lines.append(
            f"{name:<{width}}  {r.status:<14}"
            + "".join(f"{_fmt(r.points[q]):>7}" for q in ids)
            + f"{_fmt(r.total):>9}"
        )
    if results:
        maxima = results[0].max_points
        lines.append("-" * len(head))
        lines.append(
            f"{'maximum':<{width}}  {'':<14}"
            + "".join(f"{_fmt(maxima[q]):>7}" for q in ids)
            + f"{_fmt(sum(maxima.values())):>9}"
        )
        means = {q: sum(r.points[q] for r in results) / len(results) for q in ids}
        lines.append(
            f"{'mean':<{width}}  {'':<14}"
            + "".join(f"{means[q]:>7.1f}" for q in ids)
            + f"{sum(r.total for r in results) / len(results):>9.1f}"
        )
        counts = {s: sum(r.status == s for r in results) for s in STATUSES}
        lines.append("statuses: " + ", ".join(f"{s} {n}" for s, n in counts.items() if n))
        slowest = max(results, key=lambda r: r.seconds)
        lines.append(f"slowest submission: {slowest.seconds:.1f} s ({slowest.submission})")
        for r in results:
            for n in r.notes:
                lines.append(f"  {r.submission}: {n}")
    return "\n".join(lines)
