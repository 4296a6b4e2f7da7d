"""The environment the project's files install: torch's CPU build on Linux, no GPU libraries, and
a lock that pins every package."""

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(sys.platform != "linux", reason="PyTorch's CPU build is a separate wheel on Linux only")
def test_torch_is_the_cpu_build_on_linux():
    assert torch.version.cuda is None, f"torch {torch.__version__} is a CUDA build"
    assert torch.__version__.endswith("+cpu"), torch.__version__


def test_no_gpu_packages_are_installed():
    names = {d.metadata["Name"].lower() for d in importlib.metadata.distributions() if d.metadata["Name"]}
    gpu = sorted(n for n in names if n.startswith(("nvidia-", "triton", "cuda-")))
    assert not gpu, f"GPU packages in the environment: {gpu}"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            pins.setdefault(match.group(1).lower().replace("_", "-"), match.group(2))
    return pins


def test_the_lock_pins_every_direct_dependency_and_no_gpu_package():
    direct = _pins(ROOT / "requirements.in")
    locked = _pins(ROOT / "requirements.txt")
    assert direct and all(locked.get(name) == version for name, version in direct.items()), {
        n: (v, locked.get(n)) for n, v in direct.items() if locked.get(n) != v
    }
    assert not [n for n in locked if n.startswith(("nvidia-", "triton"))]
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert "# via" in text, "requirements.txt should be compiled by pip-compile (make lock)"
    assert re.search(r"^-e \.$", text, re.M), "requirements.txt should install the library (-e .)"


def test_the_installed_versions_are_the_locked_ones():
    locked = _pins(ROOT / "requirements.txt")
    wrong = {}
    for name, version in locked.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"locked vs installed: {wrong}"
