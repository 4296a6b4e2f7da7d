"""The library as a package: `pip install .` (not editable) gives a working library.

A learner who installs ``rnnbook`` from a wheel has no repository beside it: the library must not
reach into the repository's folders, and every module must be in the wheel. The test builds and
installs the library into a folder of its own, then runs the tests of the library's modules
against that copy, from a folder where the repository's ``rnnbook`` cannot be imported.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The tests of the library's own modules (the others need the repository: notebooks, grading
# of the exercise notebooks, the generator of the library, the book's site).
LIBRARY_TESTS = [
    "test_data.py",
    "test_scratch.py",
    "test_timing.py",
    "test_utils.py",
    "test_bptt.py",
    "test_cells.py",
    "test_modules.py",
    "test_bidirectional.py",
    "test_fast.py",
    "test_markov.py",
    "test_language_models.py",
    "test_diagrams.py",
]


@pytest.mark.slow
def test_a_non_editable_install_imports_and_passes_the_tests_of_its_modules(tmp_path):
    source = tmp_path / "source"  # a copy, so the build writes nothing into the repository
    source.mkdir()
    shutil.copytree(ROOT / "rnnbook", source / "rnnbook", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    installed = tmp_path / "installed"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(installed),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert not (installed / "rnnbook" / "__editable__").exists()
    built = {p.relative_to(installed).as_posix() for p in (installed / "rnnbook").rglob("*.py")}
    ours = {p.relative_to(ROOT).as_posix() for p in (ROOT / "rnnbook").rglob("*.py")}
    assert built == ours, f"missing from the wheel: {sorted(ours - built)}"

    work = tmp_path / "work"  # no rnnbook here: only the installed copy can be imported
    (work / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "conftest.py", work / "conftest.py")
    (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    for name in LIBRARY_TESTS:
        shutil.copy(ROOT / "tests" / name, work / "tests" / name)
    env = {"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run(
        [sys.executable, "-c", "import rnnbook; print(rnnbook.__file__)"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
    )
    assert where.stdout.startswith(str(installed)), where
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-p",
            "no:nbval",
            "tests",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout, run.stdout[-500:]
