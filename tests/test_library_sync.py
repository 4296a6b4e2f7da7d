"""The library modules generated from #@save cells must match the chapters exactly."""

import importlib
import inspect

from tools.save_library import GENERATED, ROOT, orphans, render_module, saved_blocks


def test_every_saved_module_matches_its_chapters():
    modules = saved_blocks()
    assert modules, "no #@save cells found in book/"
    for name, blocks in modules.items():
        path = ROOT / "rnnbook" / f"{name}.py"
        assert path.exists(), f"{path} is missing: run `make library`"
        assert path.read_text(encoding="utf-8") == render_module(name, blocks), (
            f"{path.name} differs from the #@save cells of {sorted({b[0] for b in blocks})}: "
            "edit the chapter, then run `make library` (never edit the generated file)")


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
                assert 'Defined in book/' in (obj.__doc__ or ""), f"rnnbook.{name}.{public}: no provenance"


def test_a_module_whose_cells_were_all_deleted_is_noticed(tmp_path):
    (tmp_path / "gone.py").write_text(f'"""Code defined in book/09_x.ipynb."""\n\n{GENERATED}\n')
    (tmp_path / "hand_written.py").write_text('"""Written by hand."""\n')
    modules = saved_blocks()
    assert [p.name for p in orphans(modules, tmp_path)] == ["gone.py"]
    assert orphans(modules) == [], "a generated module in rnnbook/ has no #@save cells left"
