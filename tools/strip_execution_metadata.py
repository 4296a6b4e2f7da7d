"""Remove the per-cell timestamps nbconvert records (``metadata.execution``) from notebooks.

``make execute`` runs this after executing a notebook: the timestamps change on every run and
carry nothing a reader or a test needs, so they would only add noise to every diff.

Usage: python tools/strip_execution_metadata.py NOTEBOOK...
"""

import json
import sys
from pathlib import Path


def strip(path: Path) -> bool:
    """Drop ``metadata.execution`` from every cell of the notebook at `path`; True if it changed."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).pop("execution", None) is not None:
            changed = True
    if changed:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def main(paths: list[str]) -> int:
    for name in paths:
        if strip(Path(name)):
            print(f"stripped execution timestamps from {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
