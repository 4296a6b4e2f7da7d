"""Build the learner's notebook and the reference solution from one master per exercise set.

    python tools/assign_exercises.py            # regenerate and execute every set (make exercises)
    python tools/assign_exercises.py 01         # one set
    python tools/assign_exercises.py --check    # exit 1 if a committed notebook is out of date

A master is a percent-format script, ``exercises/src/NN_name.py``, written with the same cell
syntax as the chapters (``# %%``, ``# %% [markdown]``, ``tags=[...]``). It holds both versions:

* ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` (a block) and ``x = 42  # SOLUTION`` (one line):
  otter-grader's solution syntax. The learner's notebook gets ``...  # YOUR CODE HERE``
  instead; ``# BEGIN SOLUTION NO PROMPT`` leaves nothing. The replacement is done by otter's own
  ``otter.assign.solutions.replace_solutions``, so the syntax means exactly what it means in
  otter. (Otter's notebook pipeline, its tests and its grading are not used: see
  :mod:`rnnbook.grading.cli` for why.)
* ``line  # EXERCISE``: a line only the learner sees, e.g. the buggy line of a find-the-bug
  question (the solution has the fixed line in a ``NO PROMPT`` block).
* cells tagged ``exercise-only`` (the public ``check(...)`` cells, instructions) or
  ``solution-only`` (explanations, demonstrations).

Both notebooks are executed in a fresh kernel (the learner's must run top to bottom without an
exception, printing "not done yet" in its checks) and written to ``exercises/`` and
``solutions/`` under the master's name. ``tests/test_grade.py`` checks that the committed
notebooks are what this module generates, and that no solution line leaks into an exercise.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from pathlib import Path

import nbformat

if __package__ in (None, ""):  # run as a script: python tools/assign_exercises.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools.install_cell import add_install_cell  # noqa: E402
from tools.install_cell import version as library_version  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MASTERS = ROOT / "exercises" / "src"
EXERCISE_TAG, SOLUTION_TAG = "exercise-only", "solution-only"
EXERCISE_MARK = re.compile(r"\s*# EXERCISE\s*$")
SOLUTION_MARK = re.compile(r"\s*# SOLUTION( NO PROMPT)?\s*$")
BLOCK_LINE = re.compile(r"^\s*# (BEGIN|END) SOLUTION( NO PROMPT)?\s*$")
PROMPT = "  # YOUR CODE HERE"

__all__ = ["parse_master", "build", "solution_lines", "masters", "main"]


def masters() -> list[Path]:
    return sorted(MASTERS.glob("[0-9][0-9]_*.py"))


def parse_master(text: str) -> list[dict]:
    """Split a percent-format script into cells: ``{"type", "source", "tags", "meta"}`` (read by
    jupytext, which writes and reads this format for Jupyter)."""
    import jupytext

    cells = []
    for cell in jupytext.reads(text, fmt="py:percent").cells:
        metadata = cell.metadata
        cells.append(
            {
                "type": cell.cell_type,
                "source": cell.source,
                "tags": list(metadata.get("tags", [])),
                "meta": dict(metadata.get("meta", {})),
            }
        )
    return cells


# --- cross-references, for the learner's notebook -----------------------------------------------
# The masters use the book's roles ({ref}, {eq}, {cite}): links on the website, but raw markup in
# Jupyter or Colab. The learner's notebook gets plain text that reads well in both:
# "Chapter 2 (Backpropagation through time)", "equation (4) of Chapter 2", "Cho et al. (2014)".
ROLE = re.compile(r"\{(ref|eq|cite|numref)\}`([^`]*)`")


def reference_index() -> dict[str, str]:
    """What each label of the book reads as in plain text."""
    index: dict[str, str] = {}
    notebooks = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")) + masters()
    for path in notebooks:
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        else:
            text = "\n".join(
                c["source"] for c in parse_master(path.read_text(encoding="utf-8")) if c["type"] == "markdown"
            )
        chapter = int(path.name[:2])
        for label, level, title in re.findall(r"^\(([\w-]+)\)=\n(#+) (.+)$", text, re.M):
            if path.suffix == ".py":
                index[label] = f"the graded exercises on Chapter {chapter}"
            elif len(level) == 1:
                index[label] = f"Chapter {chapter} ({title.strip()})"
            else:
                index[label] = f"section \u201c{title.strip()}\u201d of Chapter {chapter}"
        for number, label in enumerate(re.findall(r"\$\$\s*\((eq-[\w-]+)\)", text), start=1):
            index[label] = f"equation ({number}) of Chapter {chapter}"
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    for key, body in re.findall(r"@\w+\{([^,]+),(.*?)\n\}", bib, re.S):
        authors = re.search(r"author\s*=\s*\{(.*)\},?\s*$", body, re.M)
        year = re.search(r"year\s*=\s*\{?(\d{4})", body)
        if authors and year:
            names = [a.split(",")[0].strip(" {}") for a in authors.group(1).split(" and ")]
            who = (
                names[0]
                if len(names) == 1
                else f"{names[0]} and {names[1]}"
                if len(names) == 2
                else f"{names[0]} et al."
            )
            index[key] = f"{who} ({year.group(1)})"
    return index


def plain_references(text: str, index: dict[str, str]) -> str:
    """``text`` with the book's cross-reference roles written out as plain text."""

    def replace(match: re.Match) -> str:
        role, target = match.groups()
        explicit = re.fullmatch(r"(.*?)\s*<([^>]+)>", target)
        if explicit:
            return explicit.group(1)
        label = target.strip()
        if label not in index:
            raise SystemExit(f"unknown reference {match.group(0)}: no label {label!r} in the book")
        return index[label]

    def span(match: re.Match) -> str:  # "{eq}`a` to {eq}`b`" of one chapter: "equations (2) to (5) of ..."
        first, last = index.get(match.group(1), ""), index.get(match.group(2), "")
        head, _, where = first.partition(" of ")
        if first.startswith("equation (") and where and last.endswith(f" of {where}"):
            return f"equations {head.split()[1]} to {last.split()[1]} of {where}"
        return match.group(0)

    text = re.sub(r"\{eq\}`([^`]+)` to \{eq\}`([^`]+)`", span, text)
    return ROLE.sub(replace, text)


def exercise_code(source: str) -> str:
    """The learner's version of a master code cell."""
    with warnings.catch_warnings():  # otter's imports raise a traitlets DeprecationWarning
        warnings.simplefilter("ignore", DeprecationWarning)
        from otter.assign.solutions import replace_solutions

    lines = [EXERCISE_MARK.sub("", line) for line in source.split("\n")]
    out = []
    for line in replace_solutions(lines, "python"):
        if re.fullmatch(r"\s*\.\.\.", line) or re.search(r"=\s\.\.\.$", line):
            line += PROMPT
        out.append(line)
    return "\n".join(out)


def solution_code(source: str) -> str:
    """The reference version of a master code cell: the solution, with the markers removed."""
    out = []
    for line in source.split("\n"):
        if EXERCISE_MARK.search(line) or BLOCK_LINE.match(line):
            continue
        out.append(SOLUTION_MARK.sub("", line))
    return "\n".join(out)


def solution_lines(master_text: str) -> set[str]:
    """Lines of solution code (stripped) that must never appear in the learner's notebook."""
    cells = parse_master(master_text)
    found, shared = set(), set()
    for cell in cells:
        if cell["type"] != "code":
            continue
        if SOLUTION_TAG in cell["tags"]:
            found |= {ln.strip() for ln in solution_code(cell["source"]).split("\n")}
            continue
        inside = False
        for line in cell["source"].split("\n"):
            if BLOCK_LINE.match(line):
                inside = line.strip().startswith("# BEGIN")
                continue
            if inside:
                found.add(line.strip())
            elif SOLUTION_MARK.search(line):
                found.add(SOLUTION_MARK.sub("", line).strip())
            else:
                shared.add(EXERCISE_MARK.sub("", line).strip())
    return {ln for ln in found - shared if len(ln) >= 8 and not ln.startswith("#")}


def build(master: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """The (exercise, solution) notebooks of a master, not executed."""
    cells = parse_master(master.read_text(encoding="utf-8"))
    index = reference_index()
    notebooks = []
    for version in ("exercise", "solution"):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        }
        nb.metadata["language_info"] = {"name": "python"}
        skip = SOLUTION_TAG if version == "exercise" else EXERCISE_TAG
        for cell in cells:
            if skip in cell["tags"]:
                continue
            tags = [t for t in cell["tags"] if t not in (EXERCISE_TAG, SOLUTION_TAG)]
            if cell["type"] == "markdown":
                text = cell["source"]
                if version == "exercise":
                    text = plain_references(text, index)
                new = nbformat.v4.new_markdown_cell(text)
            else:
                transform = exercise_code if version == "exercise" else solution_code
                code = transform(cell["source"])
                if version == "exercise":
                    code = plain_references(code, index)
                new = nbformat.v4.new_code_cell(code)
            new.metadata.update(cell["meta"])
            new.id = f"{version}-{len(nb.cells):03d}"  # stable ids: regenerating changes no line
            if tags:
                new.metadata["tags"] = tags
            nb.cells.append(new)
        add_install_cell(nb, library_version())
        notebooks.append(nb)
    return notebooks[0], notebooks[1]


def _execute(nb: nbformat.NotebookNode, folder: Path) -> None:
    from nbclient import NotebookClient

    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(folder)}},
    ).execute()
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            tags = cell.metadata.get("tags", [])
            if output.get("output_type") == "error" and "raises-exception" not in tags:
                raise SystemExit(f"cell {index} raised {output.get('ename')}: {output.get('evalue')}")


def _signature(nb) -> list[tuple]:
    return [
        (
            c["cell_type"],
            c["source"] if isinstance(c["source"], str) else "".join(c["source"]),
            tuple(c.get("metadata", {}).get("tags", [])),
        )
        for c in nb["cells"]
    ]


def stale(master: Path) -> list[str]:
    """Generated notebooks of ``master`` that are missing or differ from the committed ones."""
    problems = []
    for nb, folder in zip(build(master), ("exercises", "solutions")):
        path = ROOT / folder / f"{master.stem}.ipynb"
        if not path.exists():
            problems.append(f"{path.relative_to(ROOT)} is missing")
        elif _signature(json.loads(path.read_text(encoding="utf-8"))) != _signature(nb):
            problems.append(f"{path.relative_to(ROOT)} differs from {master.relative_to(ROOT)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", help="exercise set ids (default: all masters)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on any difference")
    args = parser.parse_args(argv)
    chosen = [m for m in masters() if not args.sets or m.stem[:2] in {s.zfill(2) for s in args.sets}]
    if args.check:
        problems = [p for m in chosen for p in stale(m)]
        print("\n".join(problems) if problems else "exercise and solution notebooks are up to date")
        return 1 if problems else 0
    for master in chosen:
        for nb, folder in zip(build(master), ("exercises", "solutions")):
            path = ROOT / folder / f"{master.stem}.ipynb"
            _execute(nb, path.parent)
            nbformat.write(nb, path)
            print(f"wrote and executed {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
