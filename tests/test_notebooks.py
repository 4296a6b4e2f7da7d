"""Static checks of the committed notebooks (nbval silently passes cells that never ran)."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for folder in ("book", "exercises", "solutions")
                   for p in (ROOT / folder).glob("*.ipynb"))
SKIP_TAGS = {"skip-execution", "nbval-skip"}


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _code(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def test_there_are_notebooks():
    assert any(p.parent.name == "book" for p in NOTEBOOKS), "no chapter notebooks found in book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_code_cell_was_executed_in_order(path):
    counts = []
    for index, cell in enumerate(_cells(path)):
        if cell["cell_type"] != "code" or not _code(cell).strip():
            continue
        if cell.get("execution_count") is not None:
            counts.append(cell["execution_count"])
        elif not set(cell.get("metadata", {}).get("tags", [])) & SKIP_TAGS:
            raise AssertionError(
                f"code cell {index} of {path.name} was never executed: execute the notebook and commit it")
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts[:12]}... are not 1, 2, 3, ...: "
        "re-run the notebook top to bottom in a fresh kernel")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_stored_errors_outside_raises_exception_cells(path):
    for index, cell in enumerate(_cells(path)):
        tags = set(cell.get("metadata", {}).get("tags", []))
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                assert "raises-exception" in tags, (
                    f"code cell {index} of {path.name} stores an error ({output.get('ename')}) "
                    "but is not tagged raises-exception")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parent.name == "book"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_chapter_fixes_seed_and_threads(path):
    code = "\n".join(_code(c) for c in _cells(path) if c["cell_type"] == "code")
    assert "set_seed(" in code, f"{path.name} never calls rnnbook.set_seed (seeds and thread count)"
