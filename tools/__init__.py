"""Repository tooling, not part of the installed library: regenerate the library from the
chapters (``save_library``), generate the exercise and solution notebooks (``assign_exercises``),
keep every notebook's install cell in step with the version (``install_cell``). Run them from the
repository's root, through ``make`` (see the README)."""
