"""Graded exercises: generation from the masters, public checks, and the grader (rnnbook.grade).

The hostile submissions are built here, in ``tmp_path``, from the committed notebooks, and graded
in one batch the way an instructor would grade a class.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnbook.grading import EXERCISE_SETS, load_exercise_set
from rnnbook.grading.judging import judge_case
from rnnbook.grading.learner import answer_request
from rnnbook.grading.model import Failure
from rnnbook.grading.sandbox import isolation
from rnnbook.grading.sandbox.protocol import CodecError, read_value, write_value
from tools import assign_exercises as assign

ROOT = Path(__file__).resolve().parent.parent
MASTERS = assign.masters()
SETS = [m.stem for m in MASTERS if m.stem[:2] in EXERCISE_SETS]


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


@dataclass
class Grader:
    """Who runs the grading command: which Python, as which user, and where its files live.

    ``folder`` holds the submissions, the private tests and the outputs, owned by the grader's
    user; ``library`` is the ``rnnbook`` package that Python imports."""

    python: str
    folder: Path
    library: Path = ROOT / "rnnbook"
    solutions: Path = ROOT / "solutions"
    prefix: list[str] = field(default_factory=list)  # e.g. setpriv ..., to run as another user
    env: dict[str, str] = field(default_factory=dict)  # set for the grading command
    uid: int | None = None

    def own(self, *paths: Path) -> None:
        """Give ``paths`` (and what is inside them) to the grader's user."""
        if self.uid is None:
            return
        for path in paths:
            for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
                os.chown(item, self.uid, self.uid, follow_symlinks=False)


THIS_USER = Grader(sys.executable, Path())


def _grade(
    chapter: str, submissions, tmp_path: Path, *extra: str, name: str = "grades", grader: Grader = THIS_USER
) -> tuple[dict, str, float]:
    """Run the grading command; return {submission file name: CSV row}, its output, and its time."""
    output = tmp_path / f"{name}.csv"
    start = time.perf_counter()
    command = [
        *grader.prefix,
        grader.python,
        "-m",
        "rnnbook.grade",
        chapter,
        *map(str, submissions),
        "-o",
        str(output),
        *extra,
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, timeout=600, env={**os.environ, **grader.env}
    )
    seconds = time.perf_counter() - start
    assert run.returncode == 0, f"grader exited with {run.returncode}:\n{run.stdout}\n{run.stderr}"
    with open(output, encoding="utf-8") as handle:
        rows = {Path(r["submission"]).name: r for r in csv.DictReader(handle)}
    return rows, run.stdout, seconds


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)  # instant, and no extra space; fails across file systems
    except OSError:
        shutil.copy2(source, target)


def _normal_user_grader(base: Path) -> Grader:
    """A grader that runs as a normal user (no passwd entry needed), set up by root in ``base``.

    The user cannot enter root's folders (the repository may sit in a 0700 folder, root's Python
    in /root), so it gets a Python of the same version from the system, a virtual environment
    whose packages are hard links to this environment's (the book's own library is a copy), and a
    working folder of its own. Skipped unless these tests run as root."""
    if os.geteuid() != 0:
        pytest.skip("the tests already run as a normal user: the other parameter is that case")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to run the grader as another user")
    uid = next(u for u in range(54321, 54421) if not _user_exists(u))
    prefix = [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    base.chmod(0o755)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [str(Path(folder, version)) for folder in ("/usr/bin", "/usr/local/bin", "/opt/python/bin")]
    runs = [
        c
        for c in candidates
        if os.path.exists(c)
        and subprocess.run([*prefix, c, "-c", "pass"], cwd="/", capture_output=True).returncode == 0
    ]
    if not runs:
        pytest.skip(f"no {version} outside root's folders for a normal user to run (tried {candidates})")
    environment = base / "environment"
    environment.mkdir()
    not_ours = shutil.ignore_patterns("__editable__*", "rnnbook*", "a1_coverage.pth")
    links = []
    for i, packages in enumerate(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()):
        links.append(environment / f"site-packages-{i}")
        shutil.copytree(packages, links[-1], symlinks=True, copy_function=_link_or_copy, ignore=not_ours)
    checkout = base / "checkout"
    shutil.copytree(ROOT / "rnnbook", checkout / "rnnbook", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "solutions", checkout / "solutions")
    python = _environment(runs[0], environment / "venv", [checkout, *links])
    folder = base / "work"
    folder.mkdir(mode=0o700)
    os.chown(folder, uid, uid)
    grader = Grader(
        str(python), folder, checkout / "rnnbook", checkout / "solutions", prefix, {"HOME": str(folder)}, uid
    )
    probe = subprocess.run(
        [*prefix, str(python), "-c", "import rnnbook, torch; print(rnnbook.__file__)"],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, **grader.env},
    )
    assert probe.returncode == 0 and probe.stdout.startswith(str(checkout)), probe
    return grader


def _user_exists(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def test_there_is_an_exercise_set_per_available_chapter():
    assert "01_rnn_from_scratch" in SETS
    for stem in SETS:
        assert load_exercise_set(stem[:2]).notebook == f"{stem}.ipynb"
        assert len(load_exercise_set(stem[:2]).questions) >= 5, f"{stem}: fewer than five questions"


@pytest.mark.parametrize("master", MASTERS, ids=lambda m: m.stem)
def test_committed_notebooks_are_generated_from_their_master(master):
    problems = assign.stale(master)
    assert not problems, "; ".join(problems) + ": run `make exercises`"


@pytest.mark.parametrize("master", MASTERS, ids=lambda m: m.stem)
def test_learner_notebooks_show_no_cross_reference_markup(master):
    """In Jupyter or Colab a role such as {eq}`eq-gru-r` shows as raw markup: the learner's
    notebook has plain text instead ("equation (2) of Chapter 3")."""
    raw = [
        m.group(0)
        for c in _cells(ROOT / "exercises" / f"{master.stem}.ipynb")
        for m in assign.ROLE.finditer(_source(c))
    ]
    assert not raw, f"{master.stem}: {raw[:5]}"


@pytest.mark.parametrize("master", MASTERS, ids=lambda m: m.stem)
def test_exercise_notebooks_contain_no_solution_code(master):
    secret = assign.solution_lines(master.read_text(encoding="utf-8"))
    assert len(secret) >= 5, f"{master.name}: found almost no solution lines; are the markers right?"
    exercise = ROOT / "exercises" / f"{master.stem}.ipynb"
    lines = {ln.strip() for c in _cells(exercise) for ln in _source(c).splitlines()}
    leaked = sorted(secret & lines)
    assert not leaked, f"{exercise.name} contains solution code: {leaked[:3]}"


@pytest.mark.parametrize("master", MASTERS, ids=lambda m: m.stem)
def test_solution_pages_show_no_scaffolding(master):
    for folder in ("exercises", "solutions"):
        text = "\n".join(_source(c) for c in _cells(ROOT / folder / f"{master.stem}.ipynb"))
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "# SOLUTION", "# EXERCISE"):
            assert marker not in text, f"{folder}/{master.stem}: marker {marker!r} left in the notebook"
    solution = "\n".join(
        _source(c) for c in _cells(ROOT / "solutions" / f"{master.stem}.ipynb") if c["cell_type"] == "code"
    )
    assert "rnnbook.grading" not in solution and "check(" not in solution, "test scaffolding in the solution"
    assert "_cases" not in solution and "hidden test" not in solution.lower()
    exercise = "\n".join(_source(c) for c in _cells(ROOT / "exercises" / f"{master.stem}.ipynb"))
    assert "YOUR CODE HERE" in exercise and "check(" in exercise


def test_assign_uses_otter_solution_syntax():
    source = (
        "def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION\n"
        "answer = 42  # SOLUTION\nbuggy = 1  # EXERCISE\n"
        "# BEGIN SOLUTION NO PROMPT\nfixed = 2\n# END SOLUTION"
    )
    assert assign.exercise_code(source).splitlines() == [
        "def f(x):",
        "    ...  # YOUR CODE HERE",
        "answer = ...  # YOUR CODE HERE",
        "buggy = 1",
    ]
    assert assign.solution_code(source).splitlines() == [
        "def f(x):",
        "    return 2 * x",
        "answer = 42",
        "fixed = 2",
    ]


def test_public_check_messages_say_what_was_expected():
    chapter = load_exercise_set("01")

    def printed(**answers):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            chapter.check("q1", **answers)
        assert all(len(line) <= 88 for line in out.getvalue().splitlines()), "lines should be wrapped"
        return " ".join(out.getvalue().split())

    assert "not done yet" in printed(rnn_step=lambda *args: None)
    assert "expected shape (2, 4), got (2, 3)" in printed(rnn_step=lambda X, H, W_ih, W_hh, b: X)
    no_tanh = printed(rnn_step=lambda X, H, W_ih, W_hh, b: X @ W_ih.T + H @ W_hh.T + b)
    assert "1 of 1 public checks failed" in no_tanh and "max |error|" in no_tanh
    right = printed(rnn_step=lambda X, H, W_ih, W_hh, b: torch.tanh(X @ W_ih.T + H @ W_hh.T + b))
    assert "all 1 public checks passed" in right
    assert "ValueError" in printed(rnn_step=lambda *args: (_ for _ in ()).throw(ValueError("boom")))


def test_codec_never_unpickles(tmp_path):
    write_value((torch.ones(2, 3), 4, "x", None, ..., Failure("f")), tmp_path, "a")
    value = read_value(tmp_path, "a")
    assert torch.equal(value[0], torch.ones(2, 3)) and value[1:5] == (4, "x", None, ...)
    np.save(tmp_path / "b_0.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "b.json").write_text(json.dumps({"t": "tensor"}))
    with pytest.raises(CodecError, match="not a plain array"):
        read_value(tmp_path, "b")
    (tmp_path / "c.json").write_text(json.dumps({"t": "tuple", "v": [{"t": "os.system"}]}))
    with pytest.raises(CodecError):
        read_value(tmp_path, "c")


def test_every_solution_scores_full_marks_and_every_exercise_zero(tmp_path):
    """Three copies of each reference solution, graded side by side (-j 2, so judges of two
    submissions run at the same time), each score full marks: judging is deterministic."""
    for stem in SETS:
        copies = []
        for folder in ("solutions", "solutions", "solutions", "exercises"):
            copy = tmp_path / f"{folder}_{stem}_{len(copies)}.ipynb"
            copy.write_bytes((ROOT / folder / f"{stem}.ipynb").read_bytes())
            copies.append(copy)
        rows, out, _ = _grade(stem[:2], copies, tmp_path, "--timeout", "60", "-j", "2", name=stem)
        for copy in copies[:3]:
            solution = rows[copy.name]
            assert solution["status"] == "ok" and solution["notes"] == "", solution
            assert float(solution["total"]) == float(solution["max"]) > 0, f"{stem}: {solution}"
        exercise = rows[copies[3].name]
        assert exercise["status"] == "ok", exercise
        assert float(exercise["total"]) == 0, f"{stem}: the untouched exercise scored {exercise}"


# --- hostile and broken submissions, built from the chapter 1 notebooks -------------------------


def _notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _code_cell(source: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}


def _index(nb: dict, prefix: str) -> int:
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and _source(cell).startswith(prefix):
            return i
    raise AssertionError(f"no code cell starts with {prefix!r}")


def _save(nb: dict, path: Path) -> Path:
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def _replace_in(nb: dict, prefix: str, old: str, new: str) -> dict:
    cell = nb["cells"][_index(nb, prefix)]
    assert old in _source(cell)
    cell["source"] = _source(cell).replace(old, new)
    return nb


PATCH_CHECKS = """
import torch, rnnbook.grading.judging as judging, rnnbook.grading.model as model
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
judging.judge_case = lambda case, result: model.Verdict(True, "patched")
judging.compare_tensor = lambda *args, **kwargs: model.Verdict(True, "patched")
"""

TAMPER = """
import glob, pathlib
import rnnbook.grading.ch01 as tests
attempts = {}
for target in [tests.__file__, PRIVATE, PRIVATE_DIR + "/extra.py"]:
    try:
        pathlib.Path(target).write_text("def cases(chapter, generator):\\n    return []\\n")
        attempts[target] = "wrote"
    except Exception as error:
        attempts[target] = type(error).__name__
    try:
        attempts[target + " read"] = len(pathlib.Path(target).read_text())
    except Exception as error:
        attempts[target + " read"] = type(error).__name__
for i in range(200):  # fake answers, in the format the sandbox uses
    pathlib.Path(f"ans{i}.json").write_text('{"t": "float", "v": 1.0}')
leaks = [k for k, v in attempts.items() if v == "wrote" or (k.startswith(PRIVATE_DIR) and isinstance(v, int))]
if leaks:
    raise RuntimeError(f"LEAK: {leaks}")
"""

DAEMON_COMMAND = "sleep 4321.5"
DAEMON = f"""
import subprocess
subprocess.Popen({DAEMON_COMMAND.split()!r}, start_new_session=True)  # leaves the process group
"""

# Attacks on other submissions, the machine and the grader itself (issue: a grader a class can be
# graded with). Each cell raises "LEAK: ..." if it reached something it must not; the row's notes
# would show it.
SNOOP = """
import glob, os, socket
found = []
for pattern in ["/tmp/rnnbook-grade-*/job.json", "/tmp/rnnbook-grade-*", "/tmp/pytest-of-*", "/dev/shm/*",
                SOLUTIONS + "/*.ipynb", GRADES_DIR + "/*.csv"]:
    found += glob.glob(pattern)
found = [f for f in found if not f.startswith(os.getcwd())]  # its own working folder is fine
for path in ["/etc/shadow", os.path.expanduser("~root/.bash_history"), *glob.glob("/proc/*/environ")]:
    try:
        if path.endswith("environ") and b"RNNBOOK_TEST_SECRET" not in open(path, "rb").read():
            continue
        open(path, "rb").read(10)
        found.append(path)
    except OSError:
        pass
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
    found.append("localhost:" + str(PORT))
except OSError:
    pass
if found:
    raise RuntimeError(f"LEAK: {found[:5]}")
"""

# Leaves files in the shared /tmp and /dev/shm, busy loops that leave the process group, and child
# interpreters that each hold memory: all of it must end with the submission, within its limits.
LITTER = """
import os, subprocess, sys
for folder in ("/tmp", "/dev/shm"):
    with open(os.path.join(folder, "rnnbook-litter-MARK"), "wb") as handle:
        handle.write(b"x" * 50_000_000)
for _ in range(2):
    subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
hogs = [subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(700_000_000); time.sleep(60)"])
        for _ in range(5)]
import time; time.sleep(3)
"""

# Corrupts what the sandbox sends back: the protocol's own writers patched in the learner's process.
CORRUPT_JSON = """
import json
json.dumps = lambda *args, **kwargs: "[" * 100_000 + "]" * 100_000
"""
HUGE_INT = """
import json
json.dumps = lambda *args, **kwargs: '{"t": "int", "v": ' + "9" * 5000 + "}"
"""
EMPTY_NPY = """
import numpy
numpy.save = lambda file, array, allow_pickle=False: open(file, "wb").close()
"""
BIG_ENDIAN_NPY = """
import numpy
_save = numpy.save
numpy.save = lambda file, array, allow_pickle=False: _save(file, array.astype(array.dtype.newbyteorder(">")))
"""
LINKED_NPY = """
import os, numpy
_save = numpy.save
def _linked(file, array, allow_pickle=False):
    big = "big.npy"
    if not os.path.exists(big):
        _save(big, numpy.zeros(2_000_000))
    os.link(big, file)
numpy.save = _linked
"""
SYMLINKED_ANSWERS = """
import os, numpy
numpy.save = lambda file, array, allow_pickle=False: os.symlink("/etc/passwd", file)
"""
REFERENCE_IMPORTS = """
from rnnbook.grading.ch01 import reference_gradient_norm as gradient_norm
"""
ESCAPES = """
raise RuntimeError("\\x1b[2J\\x1b[31mred alert\\x1b[0m\\x07")
"""

WRONG_RNN_STEP = "    return torch.tanh(X @ W_ih.T + H @ W_hh.T)  # forgot the bias"
WRONG_LOOP = "    return torch.stack(outputs), outputs[0]  # the first state, not the last"
WRONG_SHAPES = "    logits_shape = (num_steps, batch_size, q)  # time first: wrong"


@pytest.fixture(scope="module", params=["this user", "a normal user"])
def grader(request, tmp_path_factory):
    """Who grades the hostile batch: the user running the tests (root in CI), and a normal user,
    for whom bubblewrap makes the namespaces through a user namespace and no cgroup is writable."""
    if request.param == "this user":
        yield Grader(sys.executable, tmp_path_factory.mktemp("hostile"))
        return
    base = Path(tempfile.mkdtemp(prefix="rnnbook-normal-user-"))
    try:
        yield _normal_user_grader(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def hostile_batch(grader):
    tmp = grader.folder
    solution = _notebook(ROOT / "solutions" / "01_rnn_from_scratch.ipynb")
    exercise = _notebook(ROOT / "exercises" / "01_rnn_from_scratch.ipynb")
    private = tmp / "private_tests"
    private.mkdir(mode=0o700)
    private_file = private / "instructor.py"
    private_file.write_text(
        "from rnnbook.grading.ch01 import rnn_step_case\n\n\n"
        "def cases(chapter, generator):\n"
        "    if chapter != '01':\n        return []\n"
        "    return [rnn_step_case('instructor: n=3, d=2, h=9', generator, 3, 2, 9)]\n"
    )
    subs = {}

    def variant(name, nb):
        subs[name] = _save(nb, tmp / f"{name}.ipynb")

    variant("solution", json.loads(json.dumps(solution)))
    variant("exercise", json.loads(json.dumps(exercise)))

    nb = json.loads(json.dumps(solution))
    nb["cells"].insert(_index(nb, "def lm_shapes"), _code_cell("while True:\n    pass"))
    variant("infinite_loop", nb)

    nb = json.loads(json.dumps(solution))
    nb["cells"].append(
        _code_cell("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass")
    )
    variant("unstoppable_loop", nb)

    variant(
        "syntax_error",
        _replace_in(
            json.loads(json.dumps(solution)),
            "def lm_shapes",
            "q, h = vocab_size, hidden_size",
            "q, h = = vocab_size",
        ),
    )

    nb = json.loads(json.dumps(solution))
    del nb["cells"][_index(nb, "def project_inputs")]
    variant("deleted_cell", nb)

    nb = json.loads(json.dumps(solution))
    answers = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and _source(c).startswith(("def ", "class ", "q5_trends"))
    ]
    moved = [nb["cells"][i] for i in answers]
    for i, cell in zip(answers, reversed(moved)):
        nb["cells"][i] = cell
    variant("reordered_cells", nb)

    nb = json.loads(json.dumps(exercise))
    nb["cells"].insert(1, _code_cell(PATCH_CHECKS))
    nb["cells"].append(_code_cell(PATCH_CHECKS))
    variant("patched_checks", nb)

    nb = json.loads(json.dumps(solution))
    nb["cells"].append(_code_cell(DAEMON))
    variant("spawns_a_daemon", nb)

    # The sandbox sees the library read-only and no private tests at all (as root and as a normal
    # user alike), so tampering fails wherever bubblewrap isolates submissions.
    protected = isolation.available() == ""
    nb = json.loads(json.dumps(exercise))
    tamper = TAMPER.replace("PRIVATE_DIR", repr(str(private))).replace("PRIVATE", repr(str(private_file)))
    nb["cells"].append(_code_cell(tamper))
    if protected:
        variant("tampers_with_tests", nb)

    nb = json.loads(json.dumps(solution))
    nb["cells"].append(_code_cell("hog = torch.ones(2 ** 40, dtype=torch.uint8)"))
    nb["cells"].append(_code_cell("hog = bytearray(2 ** 33)  # 8 GB, above the 2 GB limit"))
    variant("memory_hog", nb)

    nb = json.loads(json.dumps(solution))
    nb["cells"].append(_code_cell("import os\nos._exit(3)"))
    variant("exits", nb)

    nb = json.loads(json.dumps(solution))
    _replace_in(nb, "def rnn_step", "    return torch.tanh(X @ W_ih.T + H @ W_hh.T + b_h)", WRONG_RNN_STEP)
    _replace_in(nb, "def project_inputs", "    return torch.stack(outputs), H", WRONG_LOOP)
    _replace_in(nb, "def lm_shapes", "    logits_shape = (batch_size, num_steps, q)", WRONG_SHAPES)
    variant("typical_mistakes", nb)

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    grades_dir = tmp / "earlier_grades"
    grades_dir.mkdir()
    (grades_dir / "grades.csv").write_text("submission,total\nsomeone,29\n")
    snoop = SNOOP.replace("SOLUTIONS", repr(str(grader.solutions)))
    snoop = snoop.replace("GRADES_DIR", repr(str(grades_dir))).replace("PORT", str(port))
    mark = secrets.token_hex(4)
    attacks = {
        "snoops": snoop,
        "litters": LITTER.replace("MARK", mark),
        "corrupt_json": CORRUPT_JSON,
        "huge_int": HUGE_INT,
        "empty_npy": EMPTY_NPY,
        "big_endian_npy": BIG_ENDIAN_NPY,
        "linked_npy": LINKED_NPY,
        "symlinked_answers": SYMLINKED_ANSWERS,
        "reference_imports": REFERENCE_IMPORTS,
        "escapes": ESCAPES,
    }
    for name, code in attacks.items():
        nb = json.loads(json.dumps(exercise if name == "reference_imports" else solution))
        nb["cells"].append(_code_cell(code))
        variant(name, nb)
    for index in range(2):  # honest copies graded beside the attackers
        variant(f"honest_{index}", json.loads(json.dumps(solution)))

    (tmp / "not_json.ipynb").write_bytes(b"\x89PNG this is not a notebook {")
    subs["not_json"] = tmp / "not_json.ipynb"
    (tmp / "empty.ipynb").write_text("{}")
    subs["empty"] = tmp / "empty.ipynb"

    grader.own(*subs.values(), private, grades_dir)
    watched = [*subs.values(), private_file, grader.library / "grading" / "ch01.py"]
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in watched}
    mtimes = {p: p.stat().st_mtime_ns for p in subs.values()}
    os.environ["RNNBOOK_TEST_SECRET"] = "the grader's environment, e.g. an API token"
    rows, out, seconds = _grade(
        "01",
        list(subs.values()),
        tmp,
        "--tests",
        str(private),
        "-j",
        "2",
        "--timeout",
        "25",
        "--cell-timeout",
        "3",
        "--feedback",
        str(tmp / "feedback"),
        grader=grader,
    )
    server.close()
    del os.environ["RNNBOOK_TEST_SECRET"]
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in watched}
    time.sleep(0.5)
    litter = [p for folder in ("/tmp", "/dev/shm") for p in Path(folder).glob(f"rnnbook-litter-{mark}")]
    busy = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p).endswith("True: pass")]
    daemons = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) == DAEMON_COMMAND]
    return {
        "grader": grader,
        "rows": rows,
        "out": out,
        "seconds": seconds,
        "before": before,
        "after": after,
        "mtimes": mtimes,
        "subs": subs,
        "feedback": tmp / "feedback",
        "protected": protected,
        "daemons": daemons,
        "litter": litter,
        "busy": busy,
    }


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _row(batch, name):
    return batch["rows"][f"{name}.ipynb"]


def _points(row):
    return {q: float(row[q]) for q in ("q1", "q2", "q3", "q4", "q5")}


def test_private_tests_count_and_the_maximum_comes_from_the_grader(hostile_batch):
    row = _row(hostile_batch, "solution")
    assert row["status"] == "ok" and float(row["max"]) == 30  # 29 in the book + 1 private test
    assert float(row["total"]) == 30
    assert "seed" in hostile_batch["out"] and "maximum" in hostile_batch["out"]


def test_untouched_and_patched_exercises_score_zero(hostile_batch):
    for name in ("exercise", "patched_checks", "tampers_with_tests"):
        if name == "tampers_with_tests" and not hostile_batch["protected"]:
            continue
        row = _row(hostile_batch, name)
        assert float(row["total"]) == 0, f"{name}: {row}"
        assert row["status"] == "ok", row


def test_learner_code_cannot_read_private_tests_or_write_any_test(hostile_batch):
    if not hostile_batch["protected"]:
        pytest.skip("the sandbox runs as the same user here (not root): files are not protected")
    row = _row(hostile_batch, "tampers_with_tests")
    assert "LEAK" not in row["notes"] and row["notes"] == "", row


def test_learner_code_cannot_change_tests_or_submissions(hostile_batch):
    assert hostile_batch["before"] == hostile_batch["after"], "a test file or a submission changed"
    for path, mtime in hostile_batch["mtimes"].items():
        assert path.stat().st_mtime_ns == mtime, f"{path.name} was touched"


def test_infinite_loop_in_a_cell_is_stopped_and_the_rest_graded(hostile_batch):
    row = _row(hostile_batch, "infinite_loop")
    assert row["status"] == "timeout" and "ran longer than 3 s" in row["notes"], row
    assert float(row["total"]) == float(row["max"]), row


def test_loop_that_ignores_the_alarm_is_killed(hostile_batch):
    row = _row(hostile_batch, "unstoppable_loop")
    assert row["status"] == "timeout" and "wall-clock limit" in row["notes"], row
    assert float(row["seconds"]) < 40


def test_syntax_error_and_deleted_cell_cost_only_their_question(hostile_batch):
    row = _row(hostile_batch, "syntax_error")
    assert row["status"] == "ok" and "SyntaxError" in row["notes"], row
    assert _points(row) == {"q1": 7, "q2": 7, "q3": 0, "q4": 4, "q5": 6}
    row = _row(hostile_batch, "deleted_cell")
    assert _points(row) == {"q1": 7, "q2": 0, "q3": 6, "q4": 4, "q5": 6}, row
    assert "is not defined" in (hostile_batch["feedback"] / "deleted_cell.txt").read_text()


def test_processes_started_by_a_submission_do_not_survive_it(hostile_batch):
    row = _row(hostile_batch, "spawns_a_daemon")
    assert row["status"] == "ok" and float(row["total"]) == float(row["max"]), row
    assert not hostile_batch["daemons"], "a process started by a submission outlived the grading"


def test_reordered_cells_still_score(hostile_batch):
    row = _row(hostile_batch, "reordered_cells")
    assert float(row["total"]) == float(row["max"]), row


def test_memory_hog_is_reported_and_the_rest_graded(hostile_batch):
    row = _row(hostile_batch, "memory_hog")
    assert row["status"] == "out of memory", row
    assert float(row["total"]) == float(row["max"]), row


def test_crash_and_non_notebooks_get_a_status(hostile_batch):
    row = _row(hostile_batch, "exits")
    assert row["status"] == "crashed" and float(row["total"]) == 0, row
    for name in ("not_json", "empty"):
        row = _row(hostile_batch, name)
        assert row["status"] == "not a notebook" and float(row["total"]) == 0, row


def test_typical_mistakes_get_partial_credit_and_helpful_feedback(hostile_batch):
    row = _row(hostile_batch, "typical_mistakes")
    points = _points(row)
    assert 0 < points["q1"] < 7 and 0 < points["q2"] < 7 and 0 < points["q3"] < 6, row
    assert points["q4"] == 4 and points["q5"] == 6
    feedback = (hostile_batch["feedback"] / "typical_mistakes.txt").read_text()
    assert "max |error|" in feedback
    assert "logits shape: expected (4, 10, 28), got (10, 4, 28)" in feedback
    assert "final state: shape (3, 7) is right, but max |error|" in feedback


def test_honest_solutions_beside_attackers_score_full_marks(hostile_batch):
    for name in ("solution", "honest_0", "honest_1"):
        row = _row(hostile_batch, name)
        assert row["status"] == "ok" and float(row["total"]) == float(row["max"]) and row["notes"] == "", row


def test_a_submission_sees_no_other_submission_no_repository_and_no_network(hostile_batch):
    row = _row(hostile_batch, "snoops")
    assert "LEAK" not in row["notes"] and row["notes"] == "", row
    assert float(row["total"]) == float(row["max"]), row


def test_nothing_a_submission_starts_or_writes_outlives_it(hostile_batch):
    row = _row(hostile_batch, "litters")
    assert float(row["total"]) == float(row["max"]), row
    assert not hostile_batch["litter"], f"files left in /tmp or /dev/shm: {hostile_batch['litter']}"
    assert not hostile_batch["busy"], "busy loops started with setsid outlived the grading"
    assert not hostile_batch["daemons"], "a process started by a submission outlived the grading"


@pytest.mark.parametrize("name", ["corrupt_json", "huge_int", "empty_npy", "linked_npy", "symlinked_answers"])
def test_corrupt_answer_files_cost_only_their_submission(hostile_batch, name):
    row = _row(hostile_batch, name)
    assert row["status"] in ("ok", "crashed"), row
    assert float(row["total"]) < float(row["max"]), f"{name} scored with corrupt answers: {row}"


def test_big_endian_answers_are_read_correctly(hostile_batch):
    row = _row(hostile_batch, "big_endian_npy")  # valid data in the other byte order: full marks
    assert row["status"] == "ok" and float(row["total"]) == float(row["max"]), row


def test_grading_modules_cannot_be_imported_by_a_submission(hostile_batch):
    row = _row(hostile_batch, "reference_imports")
    assert float(row["total"]) == 0, row
    assert "ImportError" in row["notes"], row


def test_control_characters_never_reach_the_csv_or_the_terminal(hostile_batch):
    row = _row(hostile_batch, "escapes")
    assert "red alert" in row["notes"], row
    assert not any(ch in row["notes"] for ch in "\x1b\x07"), row
    assert "\x1b" not in hostile_batch["out"]


def test_the_grader_says_who_runs_submissions_and_how_they_are_limited(hostile_batch):
    (line,) = [line for line in hostile_batch["out"].splitlines() if line.startswith("sandbox: ")]
    assert "bubblewrap: own user, mount, PID, network and IPC namespaces" in line, line
    if hostile_batch["grader"].uid is not None:  # a normal user: no cgroup, so per-process limits
        assert "runs as the same user" in line and "per-process limits only" in line, line
    elif os.geteuid() == 0:
        assert "runs as nobody" in line, line


def test_grading_is_fast_enough(hostile_batch):
    slow = {
        name: float(r["seconds"])
        for name, r in hostile_batch["rows"].items()
        if name not in ("unstoppable_loop.ipynb", "litters.ipynb") and float(r["seconds"]) >= 15
    }
    assert not slow, f"submissions slower than 15 s: {slow}"


# --- partial credit in every set, judged in-process (the same judges the grader uses) -----------


def _solution_namespace(stem: str) -> dict:
    namespace = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in _cells(ROOT / "solutions" / f"{stem}.ipynb"):
            if cell["cell_type"] == "code" and "skip-execution" not in cell["metadata"].get("tags", []):
                exec(compile(_source(cell), f"<{stem}>", "exec"), namespace)  # not the install cell
    torch.set_default_dtype(torch.float32)  # the BPTT solution sets float64
    return namespace


def _scores(chapter, namespace) -> tuple[dict, dict]:
    points, maxima = {}, {}
    for case in chapter.cases(seed=3):
        verdict = judge_case(case, answer_request(namespace, case.request))
        maxima[case.question] = maxima.get(case.question, 0) + case.points
        points[case.question] = points.get(case.question, 0) + (case.points if verdict.passed else 0)
    return points, maxima


def _bptt_without_the_recurrent_path(ns):
    def bptt(grad_hiddens, inputs, state, hiddens, W_ih, W_hh):
        parts = [
            ns["rnn_step_backward"](
                grad_hiddens[t], hiddens[t], inputs[t], state if t == 0 else hiddens[t - 1], W_ih, W_hh
            )
            for t in range(len(inputs))
        ]
        return (
            torch.stack([p[0] for p in parts]),
            parts[0][1],
            sum(p[2] for p in parts),
            sum(p[3] for p in parts),
            sum(p[4] for p in parts),
        )

    return bptt


def _flops_with_upper_layers_reading_h(ns):
    """count_flops that forgets that layers above the first read D h features, not h."""

    def count_flops(mode, T, n, d, h, num_layers, bidirectional):
        G, D = {"RNN": 1, "GRU": 3, "LSTM": 4}[mode], 2 if bidirectional else 1
        return 2 * n * G * h * (d + h), sum(
            D * T * 2 * n * G * h * ((d if layer == 0 else h) + h) for layer in range(num_layers)
        )

    return count_flops


MISTAKES = {  # set: (question, name, a typical wrong answer built from the solution's namespace)
    "01_rnn_from_scratch": (
        "q1",
        "rnn_step",
        lambda ns: lambda X, H, W_ih, W_hh, b_h: torch.tanh(X @ W_ih.T + H @ W_hh.T),
    ),
    "02_bptt": ("q2", "bptt", _bptt_without_the_recurrent_path),
    "03_gru_lstm": (
        "q1",
        "gru_step",
        lambda ns: (
            lambda x, h, w_ih, w_hh, b_ih, b_hh: ns["gru_step"](
                x, h, w_ih, w_hh, b_ih, torch.zeros_like(b_hh)
            )
        ),
    ),
    # layers above the first read h features, forgetting the second direction of the layer below
    "04_deep_rnns": (
        "q4",
        "stack_parameter_count",
        lambda ns: (
            lambda kind, d, h, L, bidirectional: (
                ns["stack_parameter_count"](kind, d, h, 1, bidirectional)
                + (L - 1)
                * (2 if bidirectional else 1)
                * {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
                * h
                * (2 * h + 2)
            )
        ),
    ),
    "05_bidirectional": ("q2", "split_h_n", lambda ns: lambda h_n, L: (h_n[:L], h_n[L:])),
    # seed 002's index fixed, but the backward state still read from the last step's forward half
    "06_shapes": (
        "q4",
        "seed_final_states",
        lambda ns: (
            lambda output, H, bidirectional: (output[:, -1, :H], output[:, -1, :H] if bidirectional else None)
        ),
    ),
    "07_performance": ("q3", "count_flops", _flops_with_upper_layers_reading_h),
    "08_language_models": (
        "q2",
        "perplexity_from_losses",
        lambda ns: lambda mean_losses, counts: math.exp(float(mean_losses.mean())),
    ),  # unweighted: ignores the counts
}


@pytest.mark.parametrize("stem", SETS)
def test_a_typical_mistake_gets_partial_credit(stem):
    chapter = load_exercise_set(stem[:2])
    namespace = _solution_namespace(stem)
    points, maxima = _scores(chapter, namespace)
    assert points == maxima, f"{stem}: the solution, judged in-process, scored {points} of {maxima}"
    question, name, mistake = MISTAKES[stem]
    namespace[name] = mistake(dict(namespace))
    points, _ = _scores(chapter, namespace)
    got, most = points[question], maxima[question]
    assert 0 < got < most, f"{stem} {question}: the typical mistake scored {got} of {most}"
    assert all(points[q] == maxima[q] for q in maxima if q != question)


def _environment(base_python: str, folder: Path, paths: list) -> Path:
    """A virtual environment in ``folder`` made by ``base_python``, whose packages are ``paths``
    (a .pth file, read before anything else is imported); returns its python."""
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = subprocess.run([str(python), "-c", where], capture_output=True, text=True, check=True)
    Path(site.stdout.strip(), "rnnbook_test.pth").write_text(
        "".join(f"{p}\n" for p in paths), encoding="utf-8"
    )
    return python


def _checkout_with_environment(folder: Path) -> Path:
    """A copy of the library in ``folder`` with a virtual environment of its own inside it (the
    other packages, torch and numpy, come from the project's environment); returns its python."""
    shutil.copytree(ROOT / "rnnbook", folder / "rnnbook", ignore=shutil.ignore_patterns("__pycache__"))
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    return _environment(sys.executable, folder / ".venv", [folder, *ours])


def _grade_with(python: Path, submissions: Path, output: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "rnnbook.grade", "01", str(submissions), "-o", str(output), "-j", "1"],
        capture_output=True,
        text=True,
        cwd=output.parent,
        timeout=300,
    )


def test_grading_works_from_a_checkout_in_a_private_folder(tmp_path):
    """A checkout under a folder only its owner can enter (``mktemp -d`` gives mode 0700, as do
    many home folders) still grades: the sandbox gets the folders it needs mounted in, and the
    owner's folders keep their modes."""
    private = tmp_path / "private"
    private.mkdir()
    private.chmod(0o700)
    python = _checkout_with_environment(private / "repo")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(ROOT / "solutions" / "01_rnn_from_scratch.ipynb", submissions / "solution.ipynb")
    run = _grade_with(python, submissions, tmp_path / "grades.csv")
    assert run.returncode == 0, f"grader exited with {run.returncode}:\n{run.stdout}\n{run.stderr}"
    with open(tmp_path / "grades.csv", encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["status"] == "ok" and row["total"] == row["max"], row
    assert private.stat().st_mode & 0o777 == 0o700, "the grader loosened the private folder"


def test_a_sandbox_that_cannot_start_stops_the_grader_before_grading(tmp_path):
    """If the sandbox cannot import the library, the grader says why at once and writes no CSV
    (rather than giving every learner zero points with the status ``crashed``)."""
    python = _checkout_with_environment(tmp_path / "repo")
    broken = tmp_path / "repo" / "rnnbook" / "grading" / "sandbox" / "child.py"
    broken.write_text("raise ImportError('on purpose')\n")
    run = _grade_with(python, ROOT / "solutions", tmp_path / "grades.csv")
    assert run.returncode != 0
    assert "the grading sandbox cannot start here, so nothing was graded" in run.stderr, run.stderr
    assert "ImportError: on purpose" in run.stderr, run.stderr
    assert not (tmp_path / "grades.csv").exists()


# --- feedback that teaches: the classic mistakes, each planted in a solution ----------------------


def _swap_blocks(w: torch.Tensor, gates: int, i: int, j: int) -> torch.Tensor:
    blocks = list(w.chunk(gates))
    blocks[i], blocks[j] = blocks[j], blocks[i]
    return torch.cat(blocks)


def _lstm_gates_ifog(ns):
    """lstm_step reading PyTorch's gate blocks (i, f, g, o) as i, f, o, g."""

    def lstm_step(x, state, w_ih, w_hh, b_ih, b_hh):
        return ns["lstm_step"](x, state, *(_swap_blocks(w, 4, 2, 3) for w in (w_ih, w_hh, b_ih, b_hh)))

    return lstm_step


def _gru_gates_zrn(ns):
    """gru_step reading PyTorch's gate blocks (r, z, n) as z, r, n."""

    def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
        return ns["gru_step"](x, h, *(_swap_blocks(w, 3, 0, 1) for w in (w_ih, w_hh, b_ih, b_hh)))

    return gru_step


def _gru_reset_before_w_hn(ns):
    """gru_step with the reset gate on the wrong side of W_hn (Cho et al.'s form)."""

    def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
        x_r, x_z, x_n = (x @ w_ih.T + b_ih).chunk(3, dim=-1)
        (W_hr, W_hz, W_hn), (b_hr, b_hz, b_hn) = w_hh.chunk(3), b_hh.chunk(3)
        r, z = torch.sigmoid(x_r + h @ W_hr.T + b_hr), torch.sigmoid(x_z + h @ W_hz.T + b_hz)
        return (1 - z) * torch.tanh(x_n + (r * h) @ W_hn.T + b_hn) + z * h

    return gru_step


def _stack_feeding_the_input_to_every_layer(ns):
    from rnnbook.cells import gru_cell

    def stacked_gru(inputs, h_0, layers):
        finals = []
        for layer, weights in enumerate(layers):
            state, outputs = h_0[layer], []
            for x in inputs:  # every layer reads the input sequence
                state = gru_cell(x, state, *weights)
                outputs.append(state)
            finals.append(state)
        return torch.stack(outputs), torch.stack(finals)

    return stacked_gru


def _stacked_forward_in_place(ns):
    """Seed 000's pattern: each layer's new state written into one tensor in place."""

    def stacked_forward(x, h_0, weight_ih, weight_hh, bias_ih, bias_hh):
        h_t, outputs = h_0.clone(), []
        for x_t in x:
            below = x_t
            for k in range(len(weight_ih)):
                h_t[k] = torch.tanh(
                    below @ weight_ih[k].T + bias_ih[k] + h_t[k] @ weight_hh[k].T + bias_hh[k]
                )
                below = h_t[k]
            outputs.append(below)
        return torch.stack(outputs), h_t

    return stacked_forward


def _tbptt_without_detach(ns):
    from rnnbook.grading.ch08 import reference_tbptt_losses

    return lambda ids, batch_size, num_steps: reference_tbptt_losses(ids, batch_size, num_steps, detach=False)


CLASSIC_MISTAKES = {  # id: (set, question, name, the mistake built from the solution's namespace, hint)
    "gates in the wrong order (LSTM)": (
        "03_gru_lstm",
        "q2",
        "lstm_step",
        _lstm_gates_ifog,
        "matches reading them as i, f, o, g",
    ),
    "gates in the wrong order (GRU)": (
        "03_gru_lstm",
        "q1",
        "gru_step",
        _gru_gates_zrn,
        "the other way round (z, r)",
    ),
    "a transposed weight": (
        "01_rnn_from_scratch",
        "q1",
        "rnn_step",
        lambda ns: lambda X, H, W_ih, W_hh, b_h: torch.tanh(X @ W_ih.T + H @ W_hh + b_h),
        "your result matches H @ W_hh, the transposed weight",
    ),
    "a weight that does not fit": (
        "01_rnn_from_scratch",
        "q1",
        "rnn_step",
        lambda ns: lambda X, H, W_ih, W_hh, b_h: torch.tanh(X @ W_ih + H @ W_hh.T + b_h),
        "check each product against the weights' shapes",
    ),
    "the reset gate on the wrong side of W_hn": (
        "03_gru_lstm",
        "q1",
        "gru_step",
        _gru_reset_before_w_hn,
        "after the product with W_hn",
    ),
    "h_n read from the wrong index": (
        "05_bidirectional",
        "q2",
        "split_h_n",
        lambda ns: lambda h_n, L: (h_n[:L], h_n[L:]),
        "reading it as (2, num_layers, n, h)",
    ),
    "the directions of h_n swapped": (
        "05_bidirectional",
        "q2",
        "split_h_n",
        lambda ns: lambda h_n, L: (h_n[1::2], h_n[0::2]),
        "the two directions swapped",
    ),
    "the input fed to every layer": (
        "04_deep_rnns",
        "q3",
        "stacked_gru",
        _stack_feeding_the_input_to_every_layer,
        "feed each layer the output of the layer below",
    ),
    "an in-place write": (
        "02_bptt",
        "q4",
        "stacked_forward",
        _stacked_forward_in_place,
        "was overwritten in place",
    ),
    "no detach between truncated segments": (
        "08_language_models",
        "q4",
        "tbptt_losses",
        _tbptt_without_detach,
        "detach it before the next forward pass",
    ),
}


@pytest.mark.parametrize("mistake", CLASSIC_MISTAKES)
def test_a_classic_mistake_gets_its_hint_in_the_check_and_in_the_grade(mistake):
    stem, question, name, build, hint = CLASSIC_MISTAKES[mistake]
    chapter = load_exercise_set(stem[:2])
    namespace = _solution_namespace(stem)
    wrong = build(dict(namespace))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        chapter.check(question, **{name: wrong})
    check = " ".join(printed.getvalue().split())  # the check wraps its lines
    assert "failed" in check and hint in check, check
    namespace[name] = wrong
    hidden = [case for case in chapter.cases(seed=3) if case.question == question and case.hidden]
    verdicts = [judge_case(case, answer_request(namespace, case.request)) for case in hidden]
    assert not all(v.passed for v in verdicts)
    assert any(hint in v.message for v in verdicts if not v.passed), [v.message for v in verdicts]
    assert not any("Hint:" in v.message for v in verdicts if v.passed)


def test_an_honest_wrong_answer_gets_no_hint():
    """A hint is given only when the answer matches the mistake, not for any wrong answer."""
    chapter = load_exercise_set("03")
    namespace = _solution_namespace("03_gru_lstm")
    namespace["gru_step"] = lambda x, h, *weights: h + 0.5
    verdicts = [
        judge_case(case, answer_request(namespace, case.request))
        for case in chapter.cases(seed=3)
        if case.question == "q1"
    ]
    assert verdicts and not any(v.passed for v in verdicts)
    assert not any("Hint:" in v.message for v in verdicts)


def test_the_grader_writes_the_hints_into_the_feedback(tmp_path):
    nb = _notebook(ROOT / "solutions" / "03_gru_lstm.ipynb")
    plant = (
        "import torch as _torch\n_right_lstm_step = lstm_step\n\n\n"
        "def lstm_step(x, state, w_ih, w_hh, b_ih, b_hh):  # gates read as i, f, o, g\n"
        "    def swap(w):\n"
        "        i, f, g, o = w.chunk(4)\n"
        "        return _torch.cat([i, f, o, g])\n"
        "    return _right_lstm_step(x, state, *(swap(w) for w in (w_ih, w_hh, b_ih, b_hh)))\n"
    )
    nb["cells"].append(_code_cell(plant))  # after the solution's own lstm_step
    submission = _save(nb, tmp_path / "gate_order.ipynb")
    rows, _, _ = _grade("03", [submission], tmp_path, "--feedback", str(tmp_path / "feedback"))
    points = _points(rows["gate_order.ipynb"])
    assert points["q2"] == 0 and points["q1"] > 0
    feedback = " ".join((tmp_path / "feedback" / "gate_order.txt").read_text().split())
    assert "Hint: the gate blocks are stacked i, f, g, o" in feedback
