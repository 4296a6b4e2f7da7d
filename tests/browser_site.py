"""Helpers for tests/test_browser.py: build the book, serve it on localhost, drive Chromium.

The browser is Debian's ``chromium`` (``make browser`` installs it), driven by pip's Playwright
with ``executable_path``; Playwright never downloads a browser here.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
INSTALL_HINT = "make browser   (runs: apt-get update && apt-get install -y chromium)"
# Flags that keep headless Chromium off the network and quiet (see the toolchain notes).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    """Path of the system Chromium, or a clear error naming the command that installs it."""
    for candidate in (os.environ.get("CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        "The browser tests need Debian's Chromium, which is not installed "
        f"(looked for {', '.join(CHROMIUM_CANDIDATES)} and $CHROMIUM). Install it with:\n    {INSTALL_HINT}"
    )


def toc_docnames(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every document of the table of contents, in reading order (root first)."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                names.append(str(node["file"]).removesuffix(".md").removesuffix(".ipynb"))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({k: v for k, v in toc.items() if k != "root"})
    return names


def source_of(docname: str) -> Path:
    """The source file (.ipynb or .md) of a document of the book."""
    for suffix in (".ipynb", ".md"):
        path = ROOT / f"{docname}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(f"no .ipynb or .md source for {docname!r} (named in _toc.yml)")


def config_with(overrides: dict, destination: Path) -> Path:
    """Write a copy of _config.yml with ``overrides`` merged in; local extension paths made absolute."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))

    def merge(base: dict, extra: dict) -> None:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value

    merge(config, overrides)
    local = config.get("sphinx", {}).get("local_extensions") or {}
    for name, path in local.items():
        local[name] = str((ROOT / path).resolve())
    destination.mkdir(parents=True, exist_ok=True)
    path = destination / "_config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def toc_with(docnames: list[str], destination: Path) -> Path:
    """Write a table of contents with the root and ``docnames`` only (a quicker partial build)."""
    toc = {
        "format": "jb-book",
        "root": toc_docnames()[0],
        "parts": [
            {"caption": "Chapters", "numbered": True, "chapters": [{"file": name} for name in docnames]}
        ],
    }
    destination.mkdir(parents=True, exist_ok=True)
    path = destination / "_toc.yml"
    path.write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    return path


def start_build(
    output: Path, config: Path | None = None, toc: Path | None = None, strict: bool = True
) -> subprocess.Popen:
    """Start ``jupyter-book build . -W --keep-going`` from scratch into ``output``/_build/html.

    ``config`` and ``toc`` replace ``_config.yml`` and ``_toc.yml``; ``strict=False`` drops ``-W``
    (a partial table of contents leaves links to the missing pages unresolved).
    """
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    command = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        ".",
        *(["-W", "--keep-going"] if strict else []),
        "--path-output",
        str(output),
    ]
    if config is not None:
        command += ["--config", str(config)]
    if toc is not None:
        command += ["--toc", str(toc)]
    log = open(output / "build.log", "w", encoding="utf-8")  # noqa: SIM115 (closed by finish_build)
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    process.log = log  # type: ignore[attr-defined]
    return process


def finish_build(process: subprocess.Popen, output: Path, timeout: float = 240) -> Path:
    """Wait for a build started by :func:`start_build`; return its HTML folder or fail with the log."""
    try:
        process.wait(timeout=timeout)
    finally:
        process.log.close()  # type: ignore[attr-defined]
    log = (output / "build.log").read_text(encoding="utf-8", errors="replace")
    if process.returncode != 0:
        problems = [
            line for line in log.splitlines() if "WARNING" in line or "ERROR" in line or "Error" in line
        ]
        raise AssertionError(
            f"`{' '.join(['jupyter-book', *process.args[1:]])}` failed (exit {process.returncode}):\n"
            + "\n".join(problems[:40] or log.splitlines()[-40:])
        )
    return output / "_build" / "html"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@functools.cache
def ids_in(path: Path) -> frozenset[str]:
    """The element ids (and anchor names) of an HTML file, for checking #fragment links."""
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)
