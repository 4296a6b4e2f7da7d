"""Drawing the book's architecture diagrams with matplotlib: one style for every chapter.

Hand-written (not generated from a chapter). The chapters call the functions of
:mod:`rnnbook.diagrams.cells` (Chapters 1-4: the unrolled RNN, the graph BPTT walks, the GRU and
LSTM cells, the deep grid and the in-place mistake) and :mod:`rnnbook.diagrams.stacks`
(Chapters 5-6: bidirectional layers and stacks, where ``output``, ``h_n`` and ``c_n`` come from),
which are built from the primitives here:

* :func:`canvas` makes a figure in data units (1 unit = one box), with no axes, on a white card,
  so that it reads the same in the book's light and dark modes;
* :func:`node` draws a labelled box whose colour says what it is (:data:`KINDS`: an input, a
  hidden state, an output, a cell, a gate, an operation, a loss);
* :func:`op` draws a small circle for an elementwise operation (``"+"``, ``"×"``, ``"σ"``,
  ``"tanh"``, ``"1−"``);
* :func:`link` draws an arrow between two points or nodes (straight or curved, solid or dashed,
  with an optional label);
* :func:`note` writes text; :func:`region` shades a group of nodes (a layer, a direction).

Labels use the notation page's symbols in matplotlib's mathtext (``r"$\\mathbf{h}^{(1)}_t$"``).
Sizes are chosen so that a figure 6-7 units wide stays legible at phone width (about 360 px).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

__all__ = ["KINDS", "Node", "canvas", "node", "op", "link", "note", "region"]

# Fill and edge colours per kind of node: the Okabe-Ito colour-blind-safe palette, light fills.
KINDS = {
    "input": ("#dceefb", "#0072b2"),  # x_t: blue
    "state": ("#fdebd3", "#e69f00"),  # h_t, c_t: orange
    "output": ("#dff3ea", "#009e73"),  # y_t, logits: green
    "cell": ("#f1f1f1", "#555555"),  # a recurrent cell: grey
    "gate": ("#f9e0ef", "#cc79a7"),  # r, z, i, f, o: pink
    "op": ("#ffffff", "#333333"),  # elementwise operations
    "loss": ("#fbe3d9", "#d55e00"),  # the loss: vermillion
    "highlight": ("#fff7bf", "#b8860b"),  # what a figure points at
    "error": ("#fde0dd", "#c0392b"),  # a mistake
}
FONT_SIZE = 11
INK = "#222222"


@dataclass(frozen=True)
class Node:
    """A drawn box or circle: its centre and half sizes, so that links can meet its border."""

    x: float
    y: float
    half_width: float
    half_height: float

    def side(self, where: str) -> tuple[float, float]:
        """A point on the border: ``"top"``, ``"bottom"``, ``"left"``, ``"right"`` or ``"center"``."""
        dx = {"left": -self.half_width, "right": self.half_width}.get(where, 0.0)
        dy = {"bottom": -self.half_height, "top": self.half_height}.get(where, 0.0)
        return self.x + dx, self.y + dy


def canvas(width: float, height: float, *, scale: float = 0.9) -> tuple[Figure, Axes]:
    """A figure ``width`` x ``height`` data units (``scale`` inches per unit), no axes, white card."""
    fig = plt.figure(figsize=(width * scale, height * scale), facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def node(
    ax: Axes,
    x: float,
    y: float,
    text: str,
    kind: str = "cell",
    *,
    width: float = 1.0,
    height: float = 0.6,
    fontsize: float = FONT_SIZE,
    dashed: bool = False,
) -> Node:
    """A rounded box centred at ``(x, y)`` with ``text``, coloured by ``kind`` (see :data:`KINDS`)."""
    fill, edge = KINDS[kind]
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=fill,
            edgecolor=edge,
            linewidth=1.6,
            linestyle="--" if dashed else "-",
            zorder=2,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=INK, zorder=3)
    return Node(x, y, width / 2, height / 2)


def op(
    ax: Axes,
    x: float,
    y: float,
    symbol: str,
    *,
    radius: float = 0.2,
    fontsize: float = FONT_SIZE - 1,
    kind: str = "op",
) -> Node:
    """A small circle with an elementwise operation (``"+"``, ``"×"``, ``"σ"``, ``"tanh"``)."""
    fill, edge = KINDS[kind]
    ax.add_patch(Circle((x, y), radius, facecolor=fill, edgecolor=edge, linewidth=1.4, zorder=2))
    ax.text(
        x,
        y,
        symbol,
        ha="center",
        va="center",
        fontsize=fontsize if len(symbol) < 3 else fontsize - 3,
        color=INK,
        zorder=3,
    )
    return Node(x, y, radius, radius)


def _point(where) -> tuple[float, float]:
    return where.side("center") if isinstance(where, Node) else where


def link(
    ax: Axes,
    start,
    end,
    *,
    label: str | None = None,
    color: str = INK,
    dashed: bool = False,
    curve: float = 0.0,
    width: float = 1.4,
    head: bool = True,
    label_offset=(0.0, 0.15),
    fontsize: float = FONT_SIZE - 2,
) -> None:
    """An arrow from ``start`` to ``end`` (points, or :class:`Node` borders via ``node.side(...)``).

    ``curve`` bends it (a positive value bends to the left of the direction of travel); ``label``
    is written near its middle.
    """
    (x0, y0), (x1, y1) = _point(start), _point(end)
    ax.add_patch(
        FancyArrowPatch(
            (x0, y0),
            (x1, y1),
            arrowstyle="-|>" if head else "-",
            mutation_scale=12,
            color=color,
            linewidth=width,
            linestyle=(0, (4, 3)) if dashed else "-",
            connectionstyle=f"arc3,rad={curve}",
            shrinkA=0,
            shrinkB=0,
            zorder=1,
        )
    )
    if label:
        ax.text(
            (x0 + x1) / 2 + label_offset[0],
            (y0 + y1) / 2 + label_offset[1],
            label,
            ha="center",
            va="bottom",
            fontsize=fontsize,
            color=color,
            zorder=3,
        )


def note(
    ax: Axes,
    x: float,
    y: float,
    text: str,
    *,
    fontsize: float = FONT_SIZE - 1,
    color: str = INK,
    ha: str = "center",
    va: str = "center",
    **kwargs,
) -> None:
    """Text at ``(x, y)``."""
    ax.text(x, y, text, ha=ha, va=va, fontsize=fontsize, color=color, zorder=3, **kwargs)


def region(
    ax: Axes,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    *,
    color: str = "#eeeeee",
    label: str | None = None,
    label_side: str = "left",
) -> None:
    """A shaded rectangle behind a group of nodes, with an optional label on its ``label_side``."""
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=color, edgecolor="none", zorder=0))
    if label:
        x = x0 + 0.1 if label_side == "left" else x1 - 0.1
        ax.text(
            x, y1 - 0.1, label, ha=label_side, va="top", fontsize=FONT_SIZE - 2, color="#555555", zorder=3
        )
