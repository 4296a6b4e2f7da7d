"""Data for the book, generated or shipped with Python: nothing is downloaded.

* :func:`load_corpus` returns the book's real English corpus, the text of
  :mod:`pydoc_data.topics` (the topics of the Python language reference that ship with every
  CPython), tokenized into characters, with a vocabulary and a fixed train/validation split.
* :func:`random_batches` and :func:`sequential_batches` cut a token sequence into minibatches
  of subsequences (Chapter 1 uses the first; truncated BPTT with a carried state needs the second).
* :func:`adding_problem`, :func:`copy_task` and :func:`neighbour_sum_task` are synthetic sequence
  tasks for the later chapters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "Vocab",
    "Corpus",
    "load_corpus",
    "random_batches",
    "sequential_batches",
    "adding_problem",
    "copy_task",
    "neighbour_sum_task",
]

# Typographic characters mapped to ASCII before tokenization.
_TYPOGRAPHY = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "\u00b0": " degrees",
    "\u00df": "ss",
}


def _normalize(text: str) -> str:
    """Lower-case the text, map typography to ASCII and anything else outside ASCII to a space."""
    text = text.lower()
    for old, new in _TYPOGRAPHY.items():
        text = text.replace(old, new)
    return "".join(ch if (32 <= ord(ch) < 127 or ch == "\n") else " " for ch in text)


class Vocab:
    """A character vocabulary: maps each character to an index and back.

    Indices follow the sorted order of the characters, so the same text always gives the
    same vocabulary.
    """

    def __init__(self, text: str):
        self.idx_to_token: list[str] = sorted(set(text))
        self.token_to_idx: dict[str, int] = {ch: i for i, ch in enumerate(self.idx_to_token)}

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def encode(self, text: str) -> Tensor:
        """Return the indices of the characters of ``text`` as a 1-D ``torch.long`` tensor."""
        unknown = sorted(set(text) - self.token_to_idx.keys())
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {unknown!r}")
        return torch.tensor([self.token_to_idx[ch] for ch in text], dtype=torch.long)

    def decode(self, indices) -> str:
        """Return the text whose character indices are ``indices`` (a tensor or a list)."""
        if isinstance(indices, Tensor):
            indices = indices.tolist()
        return "".join(self.idx_to_token[i] for i in indices)

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"


@dataclass(frozen=True)
class Corpus:
    """The book's corpus: its text, vocabulary, and the train/validation token indices."""

    text: str
    vocab: Vocab
    train: Tensor
    valid: Tensor
    fingerprint: str

    def __repr__(self) -> str:
        return (
            f"Corpus({len(self.text):,} characters, vocabulary of {len(self.vocab)}, "
            f"train {len(self.train):,} / valid {len(self.valid):,} tokens, "
            f"fingerprint {self.fingerprint})"
        )


def load_corpus(valid_fraction: float = 0.1) -> Corpus:
    """Load the text of :mod:`pydoc_data.topics` as a character-level corpus.

    The topics are joined in sorted order of their names and normalized (lower case, ASCII).
    The last ``valid_fraction`` of the characters is the validation split. ``fingerprint`` is the
    first 16 hex digits of the SHA-256 of the normalized text: two readers with the same
    fingerprint trained on the same text (it can change between Python releases).
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be between 0 and 1, got {valid_fraction}")
    from pydoc_data.topics import topics

    text = _normalize("\n".join(topics[name] for name in sorted(topics)))
    vocab = Vocab(text)
    ids = vocab.encode(text)
    split = int(len(ids) * (1.0 - valid_fraction))
    fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]
    return Corpus(text, vocab, ids[:split], ids[split:], fingerprint)


def _check_batch_args(ids: Tensor, batch_size: int, num_steps: int) -> None:
    if ids.dim() != 1:
        raise ValueError(f"expected a 1-D tensor of token indices, got shape {tuple(ids.shape)}")
    if batch_size < 1 or num_steps < 1:
        raise ValueError(
            f"batch_size and num_steps must be positive, got batch_size={batch_size}, num_steps={num_steps}"
        )
    if len(ids) < batch_size * num_steps + 1:
        raise ValueError(
            f"a sequence of {len(ids)} tokens is too short for batch_size={batch_size} "
            f"x num_steps={num_steps} (needs at least {batch_size * num_steps + 1})"
        )


def random_batches(
    ids: Tensor, batch_size: int, num_steps: int, generator: torch.Generator | None = None
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(X, Y)`` minibatches of random, non-overlapping subsequences.

    ``X`` and ``Y`` have shape ``(batch_size, num_steps)``; ``Y`` is ``X`` shifted by one token.
    The sequence is cut at a random offset into pieces of ``num_steps`` tokens, which are shuffled:
    neighbouring rows of consecutive batches are *not* adjacent in the text, so each batch starts
    from a fresh state.
    """
    _check_batch_args(ids, batch_size, num_steps)
    offset = int(torch.randint(num_steps, (1,), generator=generator))
    num_pieces = (len(ids) - offset - 1) // num_steps
    starts = offset + num_steps * torch.randperm(num_pieces, generator=generator)
    for i in range(0, num_pieces - batch_size + 1, batch_size):
        rows = starts[i : i + batch_size, None] + torch.arange(num_steps)
        yield ids[rows], ids[rows + 1]


def sequential_batches(
    ids: Tensor, batch_size: int, num_steps: int, generator: torch.Generator | None = None
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(X, Y)`` minibatches in which row ``i`` continues row ``i`` of the previous batch.

    The sequence (from a random offset) is split into ``batch_size`` long streams; batch ``k``
    holds steps ``k*num_steps ... (k+1)*num_steps - 1`` of every stream. A model may therefore
    carry its state from one batch to the next (detached, for truncated BPTT).
    """
    _check_batch_args(ids, batch_size, num_steps)
    offset = int(torch.randint(num_steps, (1,), generator=generator))
    stream_len = (len(ids) - offset - 1) // batch_size
    xs = ids[offset : offset + batch_size * stream_len].reshape(batch_size, stream_len)
    ys = ids[offset + 1 : offset + 1 + batch_size * stream_len].reshape(batch_size, stream_len)
    for start in range(0, stream_len - num_steps + 1, num_steps):
        yield xs[:, start : start + num_steps], ys[:, start : start + num_steps]


def adding_problem(
    num_examples: int, num_steps: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997).

    Returns ``X`` of shape ``(num_examples, num_steps, 2)`` and ``y`` of shape ``(num_examples,)``.
    Channel 0 holds random numbers in [0, 1); channel 1 marks exactly two positions, one in each
    half of the sequence. The target is the sum of the two marked numbers, so a model must carry
    information across up to ``num_steps`` steps.
    """
    if num_examples < 1 or num_steps < 2:
        raise ValueError(f"need num_examples >= 1 and num_steps >= 2, got {num_examples}, {num_steps}")
    values = torch.rand(num_examples, num_steps, generator=generator)
    half = num_steps // 2
    first = torch.randint(half, (num_examples,), generator=generator)
    second = half + torch.randint(num_steps - half, (num_examples,), generator=generator)
    marks = torch.zeros(num_examples, num_steps)
    rows = torch.arange(num_examples)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    return torch.stack([values, marks], dim=-1), (values * marks).sum(dim=1)


def copy_task(
    num_examples: int,
    num_symbols: int = 8,
    length: int = 5,
    delay: int = 10,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """The copy (memory) task: read ``length`` symbols, wait ``delay`` steps, repeat them.

    Inputs and targets are integer sequences of length ``length + delay + length``. Symbols are
    ``1 .. num_symbols``; ``0`` is the blank and ``num_symbols + 1`` the "go" marker placed at the
    last step of the delay. The target is blank everywhere except the last ``length`` steps,
    which hold the symbols read at the start. Inputs have ``num_symbols + 2`` possible values.
    """
    if num_examples < 1 or num_symbols < 1 or length < 1 or delay < 1:
        raise ValueError("num_examples, num_symbols, length and delay must all be positive")
    total = 2 * length + delay
    symbols = torch.randint(1, num_symbols + 1, (num_examples, length), generator=generator)
    X = torch.zeros(num_examples, total, dtype=torch.long)
    Y = torch.zeros(num_examples, total, dtype=torch.long)
    X[:, :length] = symbols
    X[:, length + delay - 1] = num_symbols + 1
    Y[:, length + delay :] = symbols
    return X, Y


def neighbour_sum_task(
    num_examples: int, num_steps: int, num_symbols: int = 4, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """A tagging task whose label at step ``t`` needs the input at step ``t + 1``.

    Inputs ``X`` are random symbols in ``0 .. num_symbols-1``, shape ``(num_examples, num_steps)``.
    The label is ``Y[:, t] = (X[:, t-1] + X[:, t+1]) % num_symbols``, with the missing neighbours at
    the two ends taken as 0. A model that reads left to right cannot know ``X[:, t+1]`` when it
    labels step ``t``, so its accuracy stays near ``1 / num_symbols``. A bidirectional stack whose
    directions are joined after every layer (PyTorch's kind, two layers or more) can reach 100%;
    one bidirectional layer whose two directions meet only in a linear output layer cannot, since
    the label (for two symbols, an exclusive-or) needs both neighbours together (Chapter 5).
    """
    if num_examples < 1 or num_steps < 1 or num_symbols < 2:
        raise ValueError("need num_examples >= 1, num_steps >= 1 and num_symbols >= 2")
    X = torch.randint(num_symbols, (num_examples, num_steps), generator=generator)
    padded = torch.nn.functional.pad(X, (1, 1))
    return X, (padded[:, :-2] + padded[:, 2:]) % num_symbols
