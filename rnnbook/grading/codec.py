"""Safe exchange of plain data between the grader and the sandbox: JSON plus NumPy ``.npy`` files.

Nothing is ever unpickled. A value is written as a small JSON tree whose leaves are numbers,
strings, ``None``/``...`` or references to tensors; every tensor goes to its own ``.npy`` file,
read back with ``numpy.load(allow_pickle=False)``. File names are made by the reader from the
position of the tensor (``STEM_0.npy``, ``STEM_1.npy``, ...), never taken from the JSON, and the
reader checks types, sizes and nesting before it builds anything.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from rnnbook.grading.core import MAX_DEPTH, MAX_ELEMENTS, MAX_ITEMS, MAX_STRING, Failure, Unsupported

__all__ = ["write_value", "read_value", "CodecError"]

DTYPES = {"float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"}
MAX_JSON_BYTES = 1_000_000
MAX_NPY_BYTES = 8 * MAX_ELEMENTS + 4096


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
            return {"t": "int", "v": v} if abs(v) < 2 ** 62 else {"t": "float", "v": float(v)}
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
            return {"t": "unsupported", "type": v.type_name[:100], "v": v.text[:MAX_STRING]}
        return {"t": "unsupported", "type": type(v).__name__, "v": repr(v)[:200]}

    document = tree(value)
    for index, tensor in enumerate(tensors):
        if str(tensor.dtype).replace("torch.", "") not in DTYPES:
            tensor = tensor.to(torch.float64)
        array = tensor.detach().cpu().numpy()
        np.save(folder / f"{stem}_{index}.npy", np.ascontiguousarray(array), allow_pickle=False)
    (folder / f"{stem}.json").write_text(json.dumps(document), encoding="utf-8")


def read_value(folder: Path, stem: str):
    """Read what :func:`write_value` wrote, checking everything; raise :class:`CodecError`."""
    path = folder / f"{stem}.json"
    if path.is_symlink() or not path.is_file():
        raise CodecError(f"{path.name} is missing")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise CodecError(f"{path.name} is larger than {MAX_JSON_BYTES} bytes")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CodecError(f"{path.name} is not valid JSON: {error}") from None
    counter = iter(range(MAX_ITEMS * MAX_ITEMS))

    def tensor():
        npy = folder / f"{stem}_{next(counter)}.npy"
        if npy.is_symlink() or not npy.is_file():
            raise CodecError(f"{npy.name} is missing")
        if npy.stat().st_size > MAX_NPY_BYTES:
            raise CodecError(f"{npy.name} is too large")
        try:
            array = np.load(npy, allow_pickle=False)
        except ValueError as error:
            raise CodecError(f"{npy.name} is not a plain array: {error}") from None
        if not isinstance(array, np.ndarray) or array.dtype.name not in DTYPES:
            raise CodecError(f"{npy.name} has an unsupported dtype {getattr(array, 'dtype', '?')}")
        return torch.from_numpy(np.array(array))

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
            return Unsupported(str(node.get("type", "?"))[:100], v[:MAX_STRING])
        raise CodecError(f"malformed answer node of type {kind!r}")

    return build(document, 0)
