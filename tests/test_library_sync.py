"""The library modules generated from #@save cells must match the chapters exactly."""

from rnnbook.save import ROOT, render_module, saved_blocks


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
