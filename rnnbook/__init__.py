"""rnnbook: the library of the book *Deep Recurrent Networks, from Scratch*.

Code a chapter defines in a ``#@save`` cell lives in a generated module named in that cell
(``rnnbook.scratch`` holds Chapter 1's); later chapters and the exercises import it from here.
Hand-written modules: :mod:`rnnbook.data` (corpus and synthetic tasks), :mod:`rnnbook.timing`,
:mod:`rnnbook.utils`, :mod:`rnnbook.diagrams`, :mod:`rnnbook.grading`. The repository's
``tools/save_library.py`` (``make library``) regenerates the chapter modules.
"""

from rnnbook.modules import GRU, LSTM, RNN
from rnnbook.shapes import describe
from rnnbook.utils import add_to_class, agree, below, magnitude, max_difference, set_seed, show_error

__all__ = [
    "set_seed",
    "agree",
    "below",
    "magnitude",
    "max_difference",
    "show_error",
    "add_to_class",
    "RNN",
    "GRU",
    "LSTM",
    "describe",
]
__version__ = "0.2.0"
