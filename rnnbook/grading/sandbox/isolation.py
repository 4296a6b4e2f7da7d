"""How a submission's sandbox is started: bubblewrap namespaces and whole-sandbox limits.

Each submission runs in its own set of Linux namespaces made by bubblewrap (``bwrap``, Debian's
``bubblewrap``, the sandbox under Flatpak), a well-kept tool chosen over hand-made ``unshare`` and
``setpriv`` calls because it builds the whole view of the file system in one audited step, works
the same as root and (through user namespaces) as a normal user, and kills the sandbox with its
parent. What the sandbox sees:

* its own user, mount, PID, network, IPC, UTS and cgroup namespaces: no network at all (not even
  localhost), no other process, no System V IPC shared with anyone;
* read-only: the system's programs and libraries (``/usr``, ``/bin``, ``/lib*``; from ``/etc``
  only the dynamic linker's cache and the user database), the Python installation, the virtual
  environment, and the ``rnnbook`` library, in which ``rnnbook/grading`` is replaced by the few
  modules the sandbox itself runs and a stub per exercise set (``check`` does nothing while
  grading): the judges, reference answers and hidden tests are not there to import;
* read-write: its own working folder (nothing else), and private ``/tmp`` and ``/dev/shm``
  (tmpfs, gone when it ends);
* as root, the sandbox's user is ``nobody`` inside its namespace, with no capabilities.

Limits for the submission as a whole (all its processes together) come from a cgroup (v1:
memory, pids, cpu) when the grader may create one, as root usually can; otherwise each process
gets ``RLIMIT_AS``/``RLIMIT_CPU`` and the wall-clock limit still kills the whole namespace.
:func:`describe_isolation` says which applies; the grader prints it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["available", "describe_isolation", "Cgroup", "sandbox_command", "stub_grading_folder"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
# What the sandbox may import from rnnbook/grading: the data model, the learner's side, the
# comparisons, the inputs' generators and this package (no exercise set: those hold the tests and
# the references).
SANDBOX_MODULES = ("model.py", "learner.py", "judging.py", "inputs.py")
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32")
SYSTEM_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/alternatives",
)


def _bwrap() -> str | None:
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def available() -> str:
    """``""`` when bubblewrap can make a sandbox here, else the reason it cannot."""
    bwrap = _bwrap()
    if bwrap is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe = subprocess.run(
        [bwrap, "--unshare-all", "--die-with-parent", *_system_binds(), "--", "/bin/true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return (
            f"bubblewrap cannot create namespaces here: {probe.stderr.strip()[-300:]} "
            "(user namespaces may be disabled: sysctl kernel.unprivileged_userns_clone=1)"
        )
    return ""


def _system_binds() -> list[str]:
    argv = []
    for folder in SYSTEM_FOLDERS:
        if os.path.exists(folder):
            argv += (
                ["--ro-bind", folder, folder]
                if not os.path.islink(folder)
                else ["--symlink", os.readlink(folder), folder]
            )
    for path in SYSTEM_FILES:
        argv += ["--ro-bind-try", path, path]
    return argv


@dataclass
class Cgroup:
    """A cgroup (v1) per submission: memory, process count and CPU share of all its processes."""

    folders: list[Path]

    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int, cpus: float) -> Cgroup | None:
        """Make the cgroup, or return None if this process may not (not root, no cgroup v1)."""
        settings = {
            "memory": {"memory.limit_in_bytes": memory_bytes},
            "pids": {"pids.max": processes},
            "cpu": {"cpu.cfs_period_us": 100_000, "cpu.cfs_quota_us": int(100_000 * cpus)},
        }
        made = []
        try:
            for controller, values in settings.items():
                folder = CGROUP_ROOT / controller / name
                folder.mkdir()
                made.append(folder)
                for key, value in values.items():
                    (folder / key).write_text(str(value))
        except OSError:
            cls(made).remove()
            return None
        return cls(made)

    def enter_command(self) -> list[str]:
        """A shell prefix that moves itself into the cgroup, then runs the rest of the command."""
        script = (
            'for g in "$@"; do [ "$g" = -- ] && break; echo $$ > "$g/cgroup.procs"; done; '
            'while [ "$1" != -- ]; do shift; done; shift; exec "$@"'
        )
        return ["/bin/sh", "-c", script, "sh", *map(str, self.folders), "--"]

    def hit_memory_limit(self) -> bool:
        for folder in self.folders:
            if folder.parent.name == "memory":
                try:
                    return int((folder / "memory.failcnt").read_text()) > 0
                except (OSError, ValueError):
                    return False
        return False

    def remove(self) -> None:
        """Kill whatever is left in the cgroup and remove it."""
        for folder in self.folders:
            for _ in range(50):
                try:
                    pids = (folder / "cgroup.procs").read_text().split()
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(int(pid), 9)
                    except (ProcessLookupError, ValueError):
                        pass
                time.sleep(0.02)
            try:
                folder.rmdir()
            except OSError:
                pass


def cgroups_usable() -> bool:
    """Whether this process can make a per-submission cgroup (tried once)."""
    probe = Cgroup.create(f"rnnbook-probe-{os.getpid()}", 2**30, 64, 1.0)
    if probe is None:
        return False
    probe.remove()
    return True


@functools.lru_cache(maxsize=1)
def describe_isolation() -> str:
    """One line: how submissions are isolated and limited here."""
    limits = (
        "a cgroup per submission (memory, processes, CPU)"
        if cgroups_usable()
        else "per-process limits only (no writable cgroup here)"
    )
    who = "nobody, no capabilities" if os.geteuid() == 0 else "the same user, no capabilities"
    return (
        f"bubblewrap: own user, mount, PID, network and IPC namespaces, private /tmp; runs as {who}; {limits}"
    )


def library_folder() -> Path:
    import rnnbook

    return Path(rnnbook.__file__).resolve().parent


def stub_grading_folder(exercise_sets: list[str]) -> Path:
    """A folder to mount over ``rnnbook/grading`` inside the sandbox: the sandbox's own modules
    and, for each exercise set, a stub whose ``check`` only says that checks are not run here."""
    folder = Path(tempfile.mkdtemp(prefix="rnnbook-grading-view-"))
    folder.chmod(0o755)
    real = library_folder() / "grading"
    for name in SANDBOX_MODULES:
        shutil.copyfile(real / name, folder / name)
    shutil.copytree(real / "sandbox", folder / "sandbox", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "__init__.py").write_text('"""rnnbook.grading as a sandbox sees it: no tests."""\n')
    stub = (
        '"""Exercise set {id}: the public checks, the hidden tests and the reference answers are not\n'
        'available while a submission is graded."""\n\n\n'
        "def check(*args, **kwargs):\n"
        "    print('(checks are not run while grading)')\n"
    )
    for set_id in exercise_sets:
        (folder / f"ch{set_id}.py").write_text(stub.format(id=set_id))
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


@functools.lru_cache(maxsize=1)
def _import_paths() -> list[Path]:
    """The folders the sandbox's interpreter imports from (``python -I``: no current folder, no
    PYTHONPATH): the standard library, the environment's site-packages and what its ``.pth``
    files add. A ``.pth`` entry for the checkout's root (an editable install in "compat" mode) is
    left out: only the library folder itself is mounted, not the solutions beside it."""
    run = subprocess.run(
        [sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
        capture_output=True,
        text=True,
        check=True,
    )
    root = library_folder().parent
    paths = [Path(p).resolve() for p in json.loads(run.stdout) if p and Path(p).is_dir()]
    return [p for p in paths if p != root and root not in p.parents]


def sandbox_command(workdir: Path, grading_view: Path, python_argv: list[str]) -> list[str]:
    """The bwrap command line that runs ``python_argv`` with ``workdir`` as its only writable
    folder (mounted at the same path), and the read-only view described in the module docstring."""
    library = library_folder()
    argv = [_bwrap(), "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if os.geteuid() == 0:
        argv += ["--uid", "65534", "--gid", "65534"]
    argv += _system_binds()
    # Private /tmp, /dev/shm, /dev and /proc first: the folders bound next may lie under /tmp.
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/dev/shm"]
    seen: list[Path] = []
    for folder in sorted(
        {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), library, *_import_paths()}
    ):
        if not any(folder == s or s in folder.parents for s in seen):
            argv += ["--ro-bind", str(folder), str(folder)]
            seen.append(folder)
    argv += [
        "--ro-bind",
        str(grading_view),
        str(library / "grading"),
        "--bind",
        str(workdir),
        str(workdir),
        "--chdir",
        str(workdir),
        "--",
        *python_argv,
    ]
    return argv
