"""The one definition of the file protocol between the grader and a sandbox.

In the sandbox's working folder the grader writes ``job.json`` (the code cells, the limits and
the requests) and ``reqN.json`` (+ ``reqN_k.npy``: each request's inputs); the sandbox writes
``cells.json`` (a record per code cell, rewritten after each), ``ansN.json`` (+ ``.npy``: each
answer) and, last, ``done.json``. Values travel as plain data:

Nothing is ever unpickled. A value is written as a small JSON tree whose leaves are numbers,
strings, ``None``/``...`` or references to tensors; every tensor goes to its own ``.npy`` file,
read back with ``numpy.load(allow_pickle=False)``. File names are made by the reader from the
position of the tensor (``STEM_0.npy``, ``STEM_1.npy``, ...), never taken from the JSON, and the
reader checks types, sizes and nesting before it builds anything.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import torch

from rnnbook.grading.model import (
    MAX_DEPTH,
    MAX_ELEMENTS,
    MAX_ITEMS,
    MAX_STRING,
    Failure,
    Request,
    Unsupported,
)

__all__ = [
    "write_job",
    "read_job",
    "write_cell_records",
    "read_cell_records",
    "write_answer",
    "read_answers",
    "mark_done",
    "is_done",
    "write_value",
    "read_value",
    "read_json",
    "read_plain_file",
    "Budget",
    "CodecError",
]

DTYPES = {"float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"}
MAX_JSON_BYTES = 1_000_000
MAX_NPY_BYTES = 8 * MAX_ELEMENTS + 4096
MAX_TOTAL_BYTES = 256 * 2**20  # all the answer files of one submission together


class CodecError(ValueError):
    """A file from the sandbox does not follow the format."""


def write_value(value, folder: Path, stem: str) -> None:
    """Write the plain ``value`` as ``folder/STEM.json`` (+ ``STEM_k.npy`` per tensor)."""
    tensors: list[torch.Tensor] = []

    def tree(v):
        if v is None:
            return {"t": "none"}
        if v is Ellipsis:
            return {"t": "ellipsis"}
        if type(v) is bool:
            return {"t": "bool", "v": v}
        if type(v) is int:
            return {"t": "int", "v": v} if abs(v) < 2**62 else {"t": "float", "v": float(v)}
        if type(v) is float:
            return {"t": "float", "v": v if math.isfinite(v) else repr(v)}
        if type(v) is str:
            return {"t": "str", "v": v[:MAX_STRING]}
        if isinstance(v, torch.Tensor):
            tensors.append(v)
            return {"t": "tensor"}
        if type(v) is tuple:
            return {"t": "tuple", "v": [tree(item) for item in v[:MAX_ITEMS]]}
        if isinstance(v, Failure):
            return {"t": "failure", "v": v.message[:MAX_STRING]}
        if isinstance(v, Unsupported):
            return {"t": "unsupported", "v": v.description[:MAX_STRING]}
        return {"t": "unsupported", "v": f"{type(v).__name__} {repr(v)[:200]}"}

    document = tree(value)
    for index, tensor in enumerate(tensors):
        if str(tensor.dtype).replace("torch.", "") not in DTYPES:
            tensor = tensor.to(torch.float64)
        array = tensor.detach().cpu().numpy()
        np.save(folder / f"{stem}_{index}.npy", np.ascontiguousarray(array), allow_pickle=False)
    (folder / f"{stem}.json").write_text(json.dumps(document), encoding="utf-8")


class Budget:
    """The bytes a grader still accepts from one submission's files (all answers together)."""

    def __init__(self, total: int = MAX_TOTAL_BYTES):
        self.left = total

    def take(self, size: int, name: str) -> None:
        if size > self.left:
            raise CodecError(f"{name}: the answers exceed {MAX_TOTAL_BYTES // 2**20} MB in all")
        self.left -= size


def read_plain_file(path: Path, limit: int, budget: Budget | None = None) -> bytes:
    """The bytes of ``path``, read as untrusted: never through a link (symbolic or hard), never from
    a FIFO or device, at most ``limit`` bytes; checks are made on the open descriptor, so the file
    cannot be swapped between the check and the read. Raises :class:`CodecError`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CodecError(f"{path.name} is missing") from None
    except OSError as error:
        raise CodecError(f"{path.name} cannot be opened as a plain file ({error.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CodecError(f"{path.name} is not a regular file")
        if info.st_nlink != 1:
            raise CodecError(f"{path.name} has {info.st_nlink} links: answers must be plain files")
        if info.st_size > limit:
            raise CodecError(f"{path.name} is larger than {limit} bytes")
        if budget is not None:
            budget.take(info.st_size, path.name)
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise CodecError(f"{path.name} is larger than {limit} bytes")
        return data
    finally:
        os.close(fd)


def read_json(path: Path, limit: int = MAX_JSON_BYTES, budget: Budget | None = None):
    """A JSON document from an untrusted file; any problem is a :class:`CodecError`."""
    data = read_plain_file(path, limit, budget)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:  # ValueError: bad JSON, huge ints
        raise CodecError(f"{path.name} is not valid JSON ({type(error).__name__})") from None


def read_value(folder: Path, stem: str, budget: Budget | None = None):
    """Read what :func:`write_value` wrote, checking everything; raise :class:`CodecError`."""
    document = read_json(folder / f"{stem}.json", MAX_JSON_BYTES, budget)
    counter = iter(range(MAX_ITEMS * MAX_ITEMS))

    def tensor():
        npy = folder / f"{stem}_{next(counter)}.npy"
        data = read_plain_file(npy, MAX_NPY_BYTES, budget)
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as error:  # noqa: BLE001 - empty, truncated or malformed files
            raise CodecError(f"{npy.name} is not a plain array ({type(error).__name__})") from None
        if not isinstance(array, np.ndarray) or array.dtype.name not in DTYPES:
            raise CodecError(f"{npy.name} has an unsupported dtype {getattr(array, 'dtype', '?')}")
        if array.size > MAX_ELEMENTS:
            raise CodecError(f"{npy.name} has more than {MAX_ELEMENTS} elements")
        return torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))

    def build(node, depth):
        if depth > MAX_DEPTH + 1 or not isinstance(node, dict):
            raise CodecError("malformed answer tree")
        kind, v = node.get("t"), node.get("v")
        if kind == "none":
            return None
        if kind == "ellipsis":
            return Ellipsis
        if kind == "bool" and type(v) is bool:
            return v
        if kind == "int" and type(v) is int:
            return v
        if kind == "float" and type(v) in (int, float):
            return float(v)
        if kind == "float" and v in ("nan", "inf", "-inf"):
            return float(v)
        if kind == "str" and type(v) is str:
            return v[:MAX_STRING]
        if kind == "tensor":
            return tensor()
        if kind == "tuple" and type(v) is list and len(v) <= MAX_ITEMS:
            return tuple(build(item, depth + 1) for item in v)
        if kind == "failure" and type(v) is str:
            return Failure(v[:MAX_STRING])
        if kind == "unsupported" and type(v) is str:
            return Unsupported(v[:MAX_STRING])
        raise CodecError(f"malformed answer node of type {kind!r}")

    return build(document, 0)


# --- the files of one sandbox run ---------------------------------------------------------------

JOB, CELLS, DONE = "job.json", "cells.json", "done.json"
CELL_STATUSES = ("ok", "error", "timeout", "memory")


def write_job(
    folder: Path, cells: list[str], requests: list[Request], cell_timeout: float, limits: dict
) -> None:
    """The grader's side: what the sandbox must run and answer."""
    job = {
        "cells": cells,
        "cell_timeout": cell_timeout,
        "limits": limits,
        "requests": [
            {"kind": r.kind, "name": r.name, "wrt": list(r.wrt), "unavailable": list(r.unavailable)}
            for r in requests
        ],
    }
    (folder / JOB).write_text(json.dumps(job), encoding="utf-8")
    for index, request in enumerate(requests):
        inputs = (request.args, request.init_args, request.state, request.cotangents)
        write_value(inputs, folder, f"req{index}")


def read_job(folder: Path) -> tuple[list[str], float, dict, list[Request]]:
    """The sandbox's side: the cells, the per-cell time limit, the limits and the requests."""
    job = json.loads((folder / JOB).read_text(encoding="utf-8"))
    requests = []
    for index, spec in enumerate(job["requests"]):
        args, init_args, state, cotangents = read_value(folder, f"req{index}")
        requests.append(
            Request(
                spec["kind"],
                spec["name"],
                args,
                init_args,
                state,
                tuple(int(i) for i in spec.get("wrt", [])),
                cotangents,
                tuple(str(name) for name in spec.get("unavailable", [])),
            )
        )
    return job["cells"], float(job["cell_timeout"]), job["limits"], requests


def write_cell_records(folder: Path, records: list[dict]) -> None:
    (folder / CELLS).write_text(json.dumps(records), encoding="utf-8")


def read_cell_records(folder: Path) -> list[dict]:
    """The sandbox's per-cell records, read as untrusted data (anything malformed: no records)."""
    try:
        data = read_json(folder / CELLS, MAX_JSON_BYTES)
    except Exception:  # noqa: BLE001 - missing, a link, too large, not JSON
        return []
    records = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and type(item.get("cell")) is int and item.get("status") in CELL_STATUSES:
            records.append(
                {"cell": item["cell"], "status": item["status"], "error": str(item.get("error", ""))[:200]}
            )
    return records


def write_answer(folder: Path, index: int, value) -> None:
    write_value(value, folder, f"ans{index}")


def read_answers(folder: Path, count: int) -> list:
    """The ``count`` answers, read as untrusted data: an unreadable one becomes a :class:`Failure`."""
    answers, budget = [], Budget()
    for index in range(count):
        try:
            answers.append(read_value(folder, f"ans{index}", budget))
        except CodecError as error:
            why = (
                "the notebook's code stopped before this test ran"
                if "missing" in str(error)
                else f"the answer file is unreadable: {error}"
            )
            answers.append(Failure(f"no answer: {why}"))
        except Exception as error:  # noqa: BLE001 - nothing a submission writes may stop the grader
            answers.append(Failure(f"no answer: the answer file is unreadable ({type(error).__name__})"))
    return answers


def mark_done(folder: Path, cell_count: int) -> None:
    (folder / DONE).write_text(json.dumps({"cells": cell_count}), encoding="utf-8")


def is_done(folder: Path) -> bool:
    return os.path.lexists(folder / DONE)
