"""A notebook taken out of the repository runs on its own, as in Colab or after a download: a fresh
virtual environment with only torch, matplotlib and a Jupyter kernel, the notebook's first cell
installs the book's library (here from the wheel built from this checkout, offline), and the
chapter and the exercise then run top to bottom."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from tools.install_cell import has_install_cell, version

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ["book/03_gru_lstm.ipynb", "exercises/03_gru_lstm.ipynb"]


# Run every cell, as "Run all" in Jupyter or Colab does (nbclient alone would skip the install
# cell, tagged skip-execution for the repository's own runs).
RUN_ALL = (
    "import sys, nbformat, nbclient; nb = nbformat.read(sys.argv[1], as_version=4); "
    "nbclient.NotebookClient(nb, timeout=600, skip_cells_with_tag='run-everything').execute()"
)


def _run(command, **kwargs):
    run = subprocess.run(command, capture_output=True, text=True, **kwargs)
    said = f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert run.returncode == 0, f"{' '.join(map(str, command))} failed:\n{said}"
    return run


@pytest.mark.slow
def test_a_notebook_copied_out_of_the_repository_runs_after_its_first_cell(tmp_path):
    wheels = tmp_path / "wheels"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            str(ROOT),
        ],
        cwd=tmp_path,
    )
    assert [w.name for w in wheels.glob(f"rnnbook-{version()}-*.whl")], list(wheels.iterdir())
    assert not (ROOT / "build").exists() or (ROOT / "build").is_dir()  # git ignores build/

    venv = tmp_path / "learner"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    torch_pin = f"torch=={torch.__version__}"  # the CPU build this machine has (no CUDA download)
    _run([str(python), "-m", "pip", "install", "--quiet", torch_pin, "matplotlib", "ipykernel", "nbclient"])
    work = tmp_path / "downloads"  # outside the repository: nothing to import from the current folder
    work.mkdir()
    missing = _run(
        [str(python), "-c", "import importlib.util; print(importlib.util.find_spec('rnnbook'))"], cwd=work
    )
    assert missing.stdout.strip() == "None", "the learner's environment must not have rnnbook yet"

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    env.update(
        PIP_FIND_LINKS=str(wheels),
        PIP_NO_INDEX="1",
        MPLBACKEND="Agg",
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    for relative in NOTEBOOKS:
        copy = work / Path(relative).name.replace(".ipynb", f"_{Path(relative).parent.name}.ipynb")
        shutil.copy(ROOT / relative, copy)
        assert has_install_cell(nbformat.read(copy, as_version=4), version()), f"{relative}: no install cell"
        _run([str(python), "-c", RUN_ALL, copy.name], cwd=work, env=env)
    where = "import rnnbook; print(rnnbook.__version__, rnnbook.__file__)"
    installed = _run([str(python), "-c", where], env=env, cwd=work)
    assert installed.stdout.split()[0] == version()
    assert str(venv) in installed.stdout, "rnnbook should come from the learner's environment"
