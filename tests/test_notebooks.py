"""Static checks of the committed notebooks (nbval silently passes cells that never ran)."""

import json
import re
from pathlib import Path

import pytest

from tools.install_cell import has_install_cell, version

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(
    p for folder in ("book", "exercises", "solutions") for p in (ROOT / folder).glob("*.ipynb")
)
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
                f"code cell {index} of {path.name} was never executed: execute the notebook and commit it"
            )
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts[:12]}... are not 1, 2, 3, ...: "
        "re-run the notebook top to bottom in a fresh kernel"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_stored_errors_outside_raises_exception_cells(path):
    for index, cell in enumerate(_cells(path)):
        tags = set(cell.get("metadata", {}).get("tags", []))
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                assert "raises-exception" in tags, (
                    f"code cell {index} of {path.name} stores an error ({output.get('ename')}) "
                    "but is not tagged raises-exception"
                )


@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if p.parent.name == "book"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_chapter_fixes_seed_and_threads(path):
    code = "\n".join(_code(c) for c in _cells(path) if c["cell_type"] == "code")
    assert "set_seed(" in code, f"{path.name} never calls rnnbook.set_seed (seeds and thread count)"


# A printed number of order 1e-5 or below is round-off or a tolerance. Its digits change with the
# CPU (and with ATEN_CPU_CAPABILITY / MKL_CBWR), so it may appear only as a bound: "below 1e-12".
ROUNDOFF = re.compile(r"(?<![\w.])\d(?:\.\d+)?e-(?:0[5-9]|[1-9]\d)\b")
BOUND = re.compile(r"(below|under|up to|within|than|<=?|≤|tol\w*=?)\s*$")
MACHINE_PATH = re.compile(r"(?<![\w.~])/(?:[\w.-]+/){2,}[\w.-]+\.(?:py|ipynb|so)\b")
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def _output_text(output):
    text = "".join(output.get("text", "")) + "".join(output.get("traceback", []))
    text += "".join(output.get("data", {}).get("text/plain", ""))
    return COLOUR.sub("", text)


def roundoff_digits(text):
    """The round-off values in ``text`` that are printed as digits rather than as a bound."""
    return [
        m.group(0)
        for m in ROUNDOFF.finditer(text)
        if not BOUND.search(text[max(0, m.start() - 16) : m.start()])
    ]


def test_roundoff_detector():
    assert roundoff_digits("max |difference| 1.1e-16") == ["1.1e-16"]
    assert roundoff_digits("k=50: 8.0e-14, ratio 3e-07") == ["8.0e-14", "3e-07"]
    assert roundoff_digits("max |difference| below 1e-12; tol=1e-06") == []
    assert roundoff_digits("loss 2.3e+01, lr 0.1, 1.5e-03") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_stored_outputs_are_portable(path):
    """No stored output prints round-off digits or a path of the machine that executed it."""
    problems = []
    for index, cell in enumerate(_cells(path)):
        tags = set(cell.get("metadata", {}).get("tags", []))
        for output in cell.get("outputs", []):
            text = _output_text(output)
            digits = roundoff_digits(text)
            if digits and "nbval-ignore-output" not in tags:
                problems.append(
                    f"code cell {index} prints round-off digits {digits[:3]}: print "
                    "rnnbook.agree(...) or rnnbook.below(...) instead"
                )
            if MACHINE_PATH.search(text):
                problems.append(
                    f"code cell {index} shows a path of this machine "
                    f"({MACHINE_PATH.search(text).group(0)}): use rnnbook.show_error"
                )
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def _figure_cells(path):
    for index, cell in enumerate(_cells(path)):
        outputs = cell.get("outputs", [])
        if cell["cell_type"] == "code" and any("image/png" in o.get("data", {}) for o in outputs):
            yield index, cell


@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if p.parent.name == "book"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_figure_has_a_caption_a_label_the_text_uses_and_alt_text(path):
    cells = _cells(path)
    prose = "\n".join(_code(c) for c in cells if c["cell_type"] == "markdown")
    problems = []
    for index, cell in _figure_cells(path):
        mystnb = cell.get("metadata", {}).get("mystnb", {})
        figure, image = mystnb.get("figure", {}), mystnb.get("image", {})
        name = figure.get("name", "")
        if not figure.get("caption", "").strip():
            problems.append(f"code cell {index}: no caption (metadata mystnb.figure.caption)")
        if not name:
            problems.append(f"code cell {index}: no label (metadata mystnb.figure.name)")
        elif name not in prose:
            problems.append(f"code cell {index}: the text never refers to {name} ({{numref}}`{name}`)")
        if len(image.get("alt", "").split()) < 8:
            problems.append(f"code cell {index}: no alt text that describes it (mystnb.image.alt)")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_notebook_installs_the_library_it_needs_first(path):
    """Downloaded or opened in Colab, a notebook runs on its own: its first code cell installs the
    book's library at the book's version (tools/install_cell.py writes it)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert has_install_cell(notebook, version()), (
        f"{path.name}: the first code cell should install rnnbook=={version()}: "
        "run .venv/bin/python tools/install_cell.py"
    )


MAX_CELL_LINES = 40  # issue 14: no code cell a learner must read is longer than about 40 lines
FOLDED_TAGS = {"hide-input", "remove-input", "remove-cell"}  # folded or left out of the page


def long_cells(cells, max_lines=MAX_CELL_LINES):
    """``(index, lines)`` of the code cells a reader sees in full that are longer than ``max_lines``."""
    shown = [
        (index, _code(cell).count("\n") + 1)
        for index, cell in enumerate(cells)
        if cell.get("cell_type") == "code" and not FOLDED_TAGS & set(cell.get("metadata", {}).get("tags", []))
    ]
    return [(index, lines) for index, lines in shown if lines > max_lines]


def test_long_cell_detector():
    short, long = "x = 1\n" * 39 + "y = 2", "x = 1\n" * 40 + "y = 2"
    cells = [
        {"cell_type": "code", "source": short},
        {"cell_type": "code", "source": long},
        {"cell_type": "code", "source": long, "metadata": {"tags": ["hide-input"]}},
        {"cell_type": "markdown", "source": long},
    ]
    assert long_cells(cells) == [(1, 41)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_cell_a_reader_sees_is_longer_than_40_lines(path):
    """A class or function that needs more is built up over several cells (rnnbook.add_to_class);
    argument checks and plotting boilerplate are folded (hide-input)."""
    assert not long_cells(_cells(path)), f"{path.name}: (cell, lines) {long_cells(_cells(path))}"
