"""``python -m rnnbook.grade SET SUBMISSION... -o grades.csv``: the command that grades a class.

The same command as ``python -m rnnbook.grading``; it lives in :mod:`rnnbook.grading.cli`, whose
docstring (and ``--help``) explains what it does and how submissions are isolated.
"""

import sys

from rnnbook.grading.cli import main

if __name__ == "__main__":
    sys.exit(main())
