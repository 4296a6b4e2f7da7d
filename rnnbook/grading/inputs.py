"""The inputs of the grader's test cases: random tensors and layers drawn from a generator, and
recurrent modules holding given weights.

Public cases draw from :func:`public_generator` (a fixed seed, so that a learner's check prints the
same thing every time); hidden cases from a generator the grader seeds.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

__all__ = [
    "PUBLIC_SEED",
    "public_generator",
    "random_tensor",
    "random_layer",
    "seeded_module",
    "loaded_module",
]

PUBLIC_SEED = 0


def public_generator() -> torch.Generator:
    """The generator that draws the public cases' inputs: a fixed seed, so that the checks in the
    exercise notebooks print the same thing every time."""
    return torch.Generator().manual_seed(PUBLIC_SEED)


def random_tensor(generator: torch.Generator, *shape: int, scale: float = 1.0) -> Tensor:
    """A float64 tensor with entries uniform in [-scale, scale), drawn from ``generator``."""
    return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) * scale


# The parameters of one layer (one direction) of PyTorch's recurrent modules and cells, in order.
_WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def random_layer(
    generator: torch.Generator, gates: int, d: int, h: int, *, scale: float = 1.0
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Random ``(weight_ih, weight_hh, bias_ih, bias_hh)`` of a layer with ``gates`` gates (1 for a
    tanh RNN, 3 for a GRU, 4 for an LSTM), input size ``d`` and hidden size ``h``."""
    return (
        random_tensor(generator, gates * h, d, scale=scale),
        random_tensor(generator, gates * h, h, scale=scale),
        random_tensor(generator, gates * h, scale=scale),
        random_tensor(generator, gates * h, scale=scale),
    )


def _layer_state(layers, suffix: str = "") -> dict[str, Tensor]:
    """The state dict of a recurrent module's ``layers``, one ``(weight_ih, weight_hh, bias_ih,
    bias_hh)`` per layer; ``suffix="_reverse"`` names the backward direction's."""
    return {
        f"{name}_l{k}{suffix}": w for k, layer in enumerate(layers) for name, w in zip(_WEIGHT_NAMES, layer)
    }


def seeded_module(generator: torch.Generator, cls, *args, **kwargs):
    """``cls(*args, dtype=torch.float64, **kwargs)`` initialized from a seed drawn from
    ``generator``; the global random state is left as it was."""
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        torch.manual_seed(seed)
        return cls(*args, dtype=torch.float64, **kwargs)


def loaded_module(cls, layers, *args, reverse=(), **kwargs):
    """The recurrent module ``cls(*args, dtype=torch.float64, **kwargs)`` holding ``layers`` (and
    ``reverse``, the backward direction's), one ``(weight_ih, weight_hh, bias_ih, bias_hh)`` per
    layer, for reference runs: its parameters need no gradient, and the global random state is left
    as it was."""
    with torch.random.fork_rng():
        module = cls(*args, dtype=torch.float64, **kwargs)
    module.load_state_dict(_layer_state(layers) | _layer_state(reverse, "_reverse"))
    return module.requires_grad_(False)
