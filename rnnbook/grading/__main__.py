"""``python -m rnnbook.grading SET SUBMISSION... -o grades.csv``: see :mod:`rnnbook.grading.cli`."""

import sys

from rnnbook.grading.cli import main

sys.exit(main())
