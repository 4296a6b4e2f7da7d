"""Sphinx glue for the book's website (loaded from ``_config.yml``, ``sphinx.local_extensions``).

Two things the stock Jupyter Book 1 configuration cannot do:

* **Launch buttons follow ``repository.url``.** The theme crashes on Binder/Colab launch buttons,
  and Jupyter Book refuses the repository button, when no repository URL is set. So
  ``_config.yml`` names the launch services once, and this extension keeps them, and turns on
  the repository and issue buttons, only when ``repository.url`` is filled in. Left empty, the
  site has no launch or repository button at all (and no broken one).
* **The library index** (``book/api.md``): the ``rnnbook-library`` directive documents every
  module of :mod:`rnnbook` with autosummary (a table: name and one-line description) and autodoc
  (the full docstrings), discovering the modules itself, so a chapter that adds a ``#@save``
  module appears without editing the page. For code generated from a chapter, each entry says
  which chapter and section defined it, with a link there.
"""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil
import re
from pathlib import Path

from docutils import nodes
from docutils.core import publish_doctree
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

LAUNCH_SERVICES = ("binderhub_url", "jupyterhub_url", "thebe", "colab_url", "jupyterlite_url", "deepnote_url")
# The line tools/save_library.py adds to the docstring of each function and class it generates.
DEFINED_IN = re.compile(
    r'^Defined in book/(?P<file>(?P<num>\d+)_\w+)\.ipynb, section "(?P<section>[^"]+)"\.$'
)
GENERATED_FROM = re.compile(r"^Code defined in (?P<files>book/\S+\.ipynb(?:, book/\S+\.ipynb)*)")


def _buttons_follow_repository(app: Sphinx, config) -> None:
    options = config.html_theme_options
    if options.get("repository_url", "").strip():
        options["use_repository_button"] = True
        options["use_issues_button"] = True
        return
    options["repository_url"] = ""
    launch = dict(options.get("launch_buttons") or {})
    for key in LAUNCH_SERVICES:
        launch.pop(key, None)
    options["launch_buttons"] = launch
    for key in ("use_repository_button", "use_issues_button", "use_edit_page_button", "use_source_button"):
        options[key] = False


def library_modules(package: str = "rnnbook") -> list[str]:
    """Public modules of ``package``: chapter modules in chapter order, then hand-written ones."""
    root = importlib.import_module(package)
    names = [
        f"{package}.{info.name}"
        for info in pkgutil.iter_modules(root.__path__)
        if not info.name.startswith("_")
    ]

    def order(name: str) -> tuple[int, str, str]:
        doc = importlib.import_module(name).__doc__ or ""
        match = GENERATED_FROM.match(doc)
        if match:  # generated from chapters: by the first chapter that defines it
            return 0, match["files"].split(", ")[0], name
        return 1, "", name

    return sorted(names, key=order)


def _public_members(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and getattr(value, "__module__", None) == module_name
            and (inspect.isfunction(value) or inspect.isclass(value))
        ]
    return list(names)


class LibraryDirective(SphinxDirective):
    """``rnnbook-library``: a summary table and the full reference of every rnnbook module."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        for module_name in library_modules():
            module = importlib.import_module(module_name)
            self.env.note_dependency(module.__file__)
            lines += [
                f"``{module_name}``",
                "-" * (len(module_name) + 4),
                "",
                f".. automodule:: {module_name}",
                "   :no-members:",
                "",
                ".. autosummary::",
                "",
            ]
            lines += [f"   {name}" for name in _public_members(module_name)]
            lines += [""]
            for name in _public_members(module_name):
                value = getattr(module, name)
                kind = (
                    "autoclass"
                    if inspect.isclass(value)
                    else "autofunction"
                    if callable(value)
                    else "autodata"
                )
                lines += [f".. {kind}:: {name}"]
                if kind == "autoclass":
                    lines += ["   :members:"]
                lines += [""]
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="rnnbook-library"), container)
        return container.children


ROLE = re.compile(r":[\w:.+-]+:`~?([^`]*)`")
LITERAL = re.compile(r"(``.+?``)")


def rst_problems(text: str) -> list[str]:
    """Warnings and errors docutils reports for a docstring (Sphinx roles count as literals)."""
    stream = io.StringIO()
    document = publish_doctree(
        ROLE.sub(r"``\1``", text),
        settings_overrides={
            "report_level": 2,
            "halt_level": 5,
            "warning_stream": stream,
            "file_insertion_enabled": False,
            "raw_enabled": False,
        },
    )
    problems = [line for line in stream.getvalue().splitlines() if line.strip()]
    return problems + [node.astext() for node in document.findall(nodes.problematic)]


def _escape(line: str) -> str:
    parts = LITERAL.split(ROLE.sub(r"``\1``", line))
    return "".join(
        part if part.startswith("``") else re.sub(r"([\\*`|_\[\]])", r"\\\1", part) for part in parts
    )


def _process_docstring(app: Sphinx, what: str, name: str, obj, options, lines: list[str]) -> None:
    """Keep the page buildable, and say where generated code comes from.

    A docstring that is not valid reStructuredText (``|x|`` is a substitution there, ``**`` starts
    bold text) would stop the ``-W`` build; it is shown as written instead: its first line
    escaped (the summary tables use it), the rest as preformatted text.
    """
    if lines and rst_problems("\n".join(lines)):
        logger.info(
            f"rnnbook_site: the docstring of {name} is not valid reStructuredText; shown as preformatted text"
        )
        first, rest = lines[0], lines[1:]
        while rest and not rest[0].strip():
            rest = rest[1:]
        lines[:] = [_escape(first), ""] + (
            ["::", ""] + [f"    {line}" for line in rest] + [""] if rest else []
        )
    if what in ("function", "class"):
        _add_defined_in(app, obj, lines)


def _add_defined_in(app: Sphinx, obj, lines: list[str]) -> None:
    """Turn the docstring's 'Defined in book/NN_name.ipynb, section "..."' line (written by
    tools/save_library.py into code generated from a chapter) into a link to that section."""
    found = [(i, m) for i, m in enumerate(DEFINED_IN.match(line.strip()) for line in lines) if m]
    if not found:
        return
    index, match = found[-1]
    del lines[index]
    while lines and not lines[-1].strip():
        lines.pop()
    docname = f"book/{match['file']}"
    section = match["section"]
    if docname in app.env.found_docs:
        anchor = nodes.make_id(section)
        lines += [
            "",
            f"*Defined in* section `{section} <{match['file']}.html#{anchor}>`__ of :doc:`/{docname}`.",
        ]
    else:  # a chapter that is not (yet) in the table of contents: name it, link nothing
        lines += ["", f"*Defined in* section “{section}” of ``{docname}.ipynb``."]


def _drop_duplicate_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Include each script once.

    With this Jupyter Book 1 stack, the inline settings of sphinx-thebe and sphinx-togglebutton
    are added twice to every page; the second ``const THEBE_JS_URL`` throws a SyntaxError in the
    browser ("Identifier 'THEBE_JS_URL' has already been declared").
    """
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for script in scripts:
        key = (
            str(getattr(script, "filename", script) or ""),
            tuple(sorted((getattr(script, "attributes", None) or {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def _add_static_path(app: Sphinx) -> None:
    app.config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.autodoc")
    app.setup_extension("sphinx.ext.autosummary")
    app.connect("config-inited", _buttons_follow_repository, priority=100)
    app.connect("autodoc-process-docstring", _process_docstring)
    app.add_directive("rnnbook-library", LibraryDirective)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("builder-inited", _add_static_path)
    app.add_css_file("rnnbook.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
