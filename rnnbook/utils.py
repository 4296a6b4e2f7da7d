"""Small helpers every notebook uses: fixed seeds and thread count, so strict nbval holds."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["set_seed"]


def set_seed(seed: int = 0, num_threads: int = 1) -> None:
    """Seed Python, NumPy and PyTorch, and fix PyTorch's CPU thread count.

    Results of floating-point reductions depend on how work is split between threads (1 and 2
    threads differ around the 7th significant digit), so every notebook fixes the count. One
    thread also keeps notebooks that run side by side under ``pytest -n 2`` from competing.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(num_threads)
