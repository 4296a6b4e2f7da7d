"""Give every notebook of the book the same first cell: it installs the book's library, pinned to
the book's release, when the library is missing, so that a notebook runs on its own (downloaded,
or opened in Colab or Binder); in a clone, where `make lab` installed it, the cell does nothing.

    python tools/install_cell.py            # write or update the cell in book/, exercises/, solutions/
    python tools/install_cell.py --check    # exit 1 if a notebook lacks it or pins another version

The version is ``rnnbook.__version__`` (one number, also the package's); a release publishes the
library at that version (see the README), so bumping it and running this keeps the notebooks in
step. The cell is tagged ``skip-execution``, which nbclient (``make execute``, the exercise
generator) honours and Jupyter, Colab and Binder ignore: in the repository, where the library is
installed, the stored outputs keep their numbering; a learner's "Run all" runs it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("book", "exercises", "solutions")
MARK = "# The book's library, rnnbook:"
TAGS = ["skip-execution"]


def version() -> str:
    text = (ROOT / "rnnbook" / "__init__.py").read_text(encoding="utf-8")
    return next(line.split('"')[1] for line in text.splitlines() if line.startswith("__version__"))


def cell_source(pinned: str) -> str:
    return (
        f"{MARK} installed here if it is missing (Colab, Binder, a downloaded notebook).\n"
        "# In a clone of the book's repository `make lab` has installed it, and this does nothing.\n"
        "import importlib.util\n"
        "\n"
        'if importlib.util.find_spec("rnnbook") is None:\n'
        f"    %pip install --quiet rnnbook=={pinned}\n"
    )


def notebooks() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).glob("*.ipynb"))


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def first_code_cell(notebook: dict) -> dict | None:
    return next((c for c in notebook["cells"] if c["cell_type"] == "code"), None)


def has_install_cell(notebook: dict, pinned: str) -> bool:
    first = first_code_cell(notebook)
    return (
        first is not None
        and _source(first) == cell_source(pinned)
        and set(TAGS) <= set(first.get("metadata", {}).get("tags", []))
    )


def add_install_cell(notebook: dict, pinned: str) -> None:
    """Put the install cell first among the code cells (replacing an older one)."""
    cells = notebook["cells"]
    cells[:] = [c for c in cells if not (c["cell_type"] == "code" and _source(c).startswith(MARK))]
    index = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    cell = nbformat.v4.new_code_cell(cell_source(pinned), metadata={"tags": list(TAGS)})
    cell.id = "install-rnnbook"
    cells.insert(index, cell)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook lacks the cell")
    args = parser.parse_args(argv)
    pinned, missing = version(), []
    for path in notebooks():
        notebook = nbformat.read(path, as_version=4)
        if has_install_cell(notebook, pinned):
            continue
        missing.append(str(path.relative_to(ROOT)))
        if not args.check:
            add_install_cell(notebook, pinned)
            nbformat.write(notebook, path)
    if args.check and missing:
        print(
            f"notebooks without the install cell for rnnbook=={pinned} (run python tools/install_cell.py):",
            *missing,
            sep="\n  ",
        )
        return 1
    if not args.check:
        print("updated:", ", ".join(missing) if missing else "nothing (every notebook has the cell)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
