"""The library modules generated from #@save cells must match the chapters exactly."""

import ast
import importlib
import inspect

import pytest

from tools.save_library import GENERATED, ROOT, orphans, render_module, saved_blocks


def test_every_saved_module_matches_its_chapters():
    modules = saved_blocks()
    assert modules, "no #@save cells found in book/"
    for name, blocks in modules.items():
        path = ROOT / "rnnbook" / f"{name}.py"
        assert path.exists(), f"{path} is missing: run `make library`"
        assert path.read_text(encoding="utf-8") == render_module(name, blocks), (
            f"{path.name} differs from the #@save cells of {sorted({b[0] for b in blocks})}: "
            "edit the chapter, then run `make library` (never edit the generated file)"
        )


def test_render_detects_a_change(tmp_path):
    modules = saved_blocks()
    name, blocks = next(iter(modules.items()))
    chapter, section, code = blocks[0]
    changed = [(chapter, section, code + "\nEXTRA = 1")] + blocks[1:]
    assert render_module(name, changed) != render_module(name, blocks)


def test_generated_modules_list_their_names_and_say_where_each_is_defined():
    for name in saved_blocks():
        module = importlib.import_module(f"rnnbook.{name}")
        assert module.__all__, f"rnnbook.{name} has no __all__"
        for public in module.__all__:
            obj = getattr(module, public)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert "Defined in book/" in (obj.__doc__ or ""), f"rnnbook.{name}.{public}: no provenance"


def test_a_module_whose_cells_were_all_deleted_is_noticed(tmp_path):
    (tmp_path / "gone.py").write_text(f'"""Code defined in book/09_x.ipynb."""\n\n{GENERATED}\n')
    (tmp_path / "hand_written.py").write_text('"""Written by hand."""\n')
    modules = saved_blocks()
    assert [p.name for p in orphans(modules, tmp_path)] == ["gone.py"]
    assert orphans(modules) == [], "a generated module in rnnbook/ has no #@save cells left"


def test_methods_added_in_later_cells_are_written_into_the_class():
    """A chapter may build a class over several cells with @add_to_class (d2l's idea); the
    generated module has one plain class, and the chapter's definitions behave the same."""
    blocks = [
        (
            "book/09_x.ipynb",
            "Counting",
            'import torch\n\n\nclass Counter:\n    """Counts."""\n\n'
            "    def __init__(self):\n        self.n = torch.tensor(0)\n",
        ),
        (
            "book/09_x.ipynb",
            "Adding",
            "from rnnbook.utils import add_to_class\n\n\n@add_to_class(Counter)\n"
            'def add(self, k: int) -> "Counter":\n    """Add k."""\n    self.n = self.n + k\n'
            "    return self\n\n\n"
            'def double(c):\n    """Twice."""\n    return 2 * c.n\n',
        ),
    ]
    text = render_module("counter", blocks)
    assert "add_to_class" not in text
    tree = ast.parse(text)
    counter = next(item for item in tree.body if getattr(item, "name", "") == "Counter")
    assert [f.name for f in counter.body if hasattr(f, "name")] == ["__init__", "add"]
    assert 'Defined in book/09_x.ipynb, section "Adding".' in text
    assert '__all__ = ["Counter", "double"]' in text
    namespace = {}
    exec(compile(text, "counter.py", "exec"), namespace)
    assert int(namespace["double"](namespace["Counter"]().add(3).add(4))) == 14
    with pytest.raises(SystemExit, match="names a class that no earlier"):
        render_module("counter", blocks[1:])
