"""Diagrams of bidirectional layers and stacks, and of where ``output``, ``h_n`` and ``c_n`` come from.

Hand-written (not generated from a chapter). Used by Chapter 5 (:func:`bidirectional_layer`,
:func:`bidirectional_stacks`) and Chapter 6 (:func:`state_slices`, drawn from the numbers a
:class:`rnnbook.shapes.ShapeReport` holds). Built from the primitives of :mod:`rnnbook.diagrams`.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnnbook.diagrams import FONT_SIZE, canvas, link, node, note, op, region

__all__ = ["bidirectional_layer", "bidirectional_stacks", "state_slices"]

FORWARD_ROW = "#eef5fb"  # shading behind forward chains
BACKWARD_ROW = "#fbf1e6"  # shading behind backward chains
OUTPUT_ROW = "#e3f4ec"  # shading behind what ``output`` holds


def _h(direction: int, layer: int | None = None, step: str | None = "t") -> str:
    """The mathtext label of a state: an arrow for the direction (0 forward, 1 backward)."""
    arrow = r"\overrightarrow" if direction == 0 else r"\overleftarrow"
    upper = f"^{{({layer})}}" if layer is not None else ""
    lower = f"_{{{step}}}" if step is not None else ""
    return rf"${arrow}{{\mathbf{{h}}}}{upper}{lower}$"


def bidirectional_layer(num_steps: int = 4) -> tuple[Figure, Axes]:
    """One bidirectional layer unrolled over ``num_steps`` steps (Chapter 5).

    Both chains read the same inputs; the forward chain passes its state to the right, the
    backward chain to the left, and the output at each step stacks the two states.
    """
    spacing, left = 1.5, 1.55
    width = left + spacing * (num_steps - 1) + 0.85
    y_in, y_fwd, y_bwd, y_out = 0.5, 1.75, 3.0, 4.25
    fig, ax = canvas(width, 5.2)
    region(ax, 0.0, y_fwd - 0.5, width, y_fwd + 0.5, color=FORWARD_ROW)
    region(ax, 0.0, y_bwd - 0.5, width, y_bwd + 0.5, color=BACKWARD_ROW)
    note(ax, 0.08, y_fwd, "forward", ha="left", fontsize=FONT_SIZE - 2)
    note(ax, 0.08, y_bwd, "backward", ha="left", fontsize=FONT_SIZE - 2)
    forward, backward = [], []
    for i in range(num_steps):
        c = left + spacing * i
        t = str(i + 1)
        node(ax, c, y_in, rf"$\mathbf{{x}}_{t}$", "input", width=0.8, height=0.55)
        f = node(ax, c - 0.25, y_fwd, _h(0, step=t), "state", width=0.8, height=0.6)
        b = node(ax, c + 0.25, y_bwd, _h(1, step=t), "state", width=0.8, height=0.6)
        node(ax, c, y_out, rf"$\mathbf{{o}}_{t}$", "output", width=0.8, height=0.55)
        link(ax, (c - 0.25, y_in + 0.275), f.side("bottom"))
        link(ax, (c + 0.4, y_in + 0.275), (c + 0.4, y_bwd - 0.3))
        link(ax, (c - 0.4, y_fwd + 0.3), (c - 0.2, y_out - 0.275))
        link(ax, b.side("top"), (c + 0.2, y_out - 0.275))
        forward.append(f)
        backward.append(b)
    for i in range(num_steps - 1):
        link(ax, forward[i].side("right"), forward[i + 1].side("left"), color="#0072b2", width=1.8)
        link(ax, backward[i + 1].side("left"), backward[i].side("right"), color="#d55e00", width=1.8)
    note(
        ax,
        width / 2,
        y_out + 0.6,
        r"$\mathbf{o}_t = [\overrightarrow{\mathbf{h}}_t;\ \overleftarrow{\mathbf{h}}_t]$: "
        "the two states stacked",
        fontsize=FONT_SIZE - 1,
    )
    return fig, ax


def _stack_panel(ax: Axes, x0: float, joined: bool) -> None:
    """One two-layer bidirectional stack in a panel 3.2 units wide starting at ``x0``."""
    cf, cb = x0 + 0.85, x0 + 2.35  # forward and backward columns
    y_in, y1, y2, y_out = 0.5, 1.85, 3.35, 4.6
    title = "joined (PyTorch)" if joined else "separate"
    note(ax, x0 + 1.6, 5.3, title, fontsize=FONT_SIZE)
    node(ax, x0 + 1.6, y_in, r"$\mathbf{x}_1, \dots, \mathbf{x}_T$", "input", width=2.6, height=0.55)
    layers = []
    for layer, y in ((1, y1), (2, y2)):
        region(ax, x0, y - 0.45, x0 + 1.6, y + 0.45, color=FORWARD_ROW)
        region(ax, x0 + 1.6, y - 0.45, x0 + 3.2, y + 0.45, color=BACKWARD_ROW)
        f = node(ax, cf, y, _h(0, layer, None), "state", width=1.0, height=0.6)
        b = node(ax, cb, y, _h(1, layer, None), "state", width=1.0, height=0.6)
        layers.append((f, b))
    o = node(ax, x0 + 1.6, y_out, r"$\mathbf{o}_t$", "output", width=1.0, height=0.55)
    (f1, b1), (f2, b2) = layers
    link(ax, (cf, y_in + 0.275), f1.side("bottom"))
    link(ax, (cb, y_in + 0.275), b1.side("bottom"))
    if joined:
        cat = op(ax, x0 + 1.6, (y1 + y2) / 2, "[;]", radius=0.27, fontsize=FONT_SIZE + 2)
        link(ax, f1.side("top"), (cat.x - 0.2, cat.y - 0.15))
        link(ax, b1.side("top"), (cat.x + 0.2, cat.y - 0.15))
        link(ax, (cat.x - 0.2, cat.y + 0.15), f2.side("bottom"))
        link(ax, (cat.x + 0.2, cat.y + 0.15), b2.side("bottom"))
    else:
        link(ax, f1.side("top"), f2.side("bottom"))
        link(ax, b1.side("top"), b2.side("bottom"))
    link(ax, f2.side("top"), (o.x - 0.3, o.y - 0.275))
    link(ax, b2.side("top"), (o.x + 0.3, o.y - 0.275))


def bidirectional_stacks() -> tuple[Figure, Axes]:
    """The two ways to stack two bidirectional layers, side by side (Chapter 5).

    Joined: both cells of layer 2 read the concatenated states of layer 1. Separate: a forward
    stack and a backward stack that meet only at the readout.
    """
    fig, ax = canvas(6.9, 5.7)
    _stack_panel(ax, 0.1, joined=True)
    _stack_panel(ax, 3.6, joined=False)
    ax.plot([3.45, 3.45], [0.2, 5.5], color="#bbbbbb", linewidth=1.0)
    return fig, ax


def _axis_size(row, prefix: str) -> tuple[int, int]:
    """(index, size) of the first axis of a ShapeRow whose meaning starts with ``prefix``."""
    for index, (size, text) in enumerate(zip(row.shape, row.axes)):
        if text.startswith(prefix):
            return index, size
    raise ValueError(f"state_slices: {row.name} has no axis starting with {prefix!r}: {row.axes}")


def state_slices(report) -> tuple[Figure, Axes]:
    """The layers x time grid of one run, with what ``output``, ``h_n`` (and ``c_n``) hold (Chapter 6).

    Every number comes from ``report``, a :class:`rnnbook.shapes.ShapeReport` of a batched,
    unpacked run (``rnnbook.describe(module, input)``): the number of steps, layers and
    directions, and the index of each slice of ``h_n``, so the picture cannot disagree with the
    table.
    """
    rows = {row.name: row for row in report.rows}
    output, h_n = rows["output"], rows["h_n"]
    _, num_steps = _axis_size(output, "L=")
    hidden_out = h_n.shape[-1]
    num_directions = output.shape[-1] // hidden_out
    num_layers = h_n.shape[0] // num_directions
    has_cell = "c_n" in rows

    col_left, col_step, row_step = 1.55, 1.0, 0.62 * num_directions + 0.35
    width = col_left + col_step * (num_steps - 1) + 0.75
    y_base = 0.9
    top = y_base + row_step * num_layers
    fig, ax = canvas(width, top + 1.25)
    # output: the top layer at every step, both directions
    region(ax, 0.0, top - row_step + 0.08, width, top - 0.05, color=OUTPUT_ROW)
    both = num_directions == 2
    holds_output = f"output {output.shape}: layer {num_layers} at every step"
    holds_final = f"{'h_n, c_n' if has_cell else 'h_n'} {h_n.shape}: the last step of every layer"
    if both:
        holds_output, holds_final = holds_output + ", forward then backward", holds_final + " and direction"
    for height, text, color in [(0.25, holds_output, "#007a5a"), (0.65, holds_final, "#8a6500")]:
        note(ax, width / 2, top + height, text, fontsize=FONT_SIZE - 2, color=color)
    for layer in range(num_layers):
        for direction in range(num_directions):
            y = y_base + row_step * layer + 0.62 * direction + 0.2
            note(ax, 0.08, y, _h(direction, layer + 1, None), ha="left", fontsize=FONT_SIZE - 1)
            last = num_steps - 1 if direction == 0 else 0  # the backward direction ends at t = 1
            index = num_directions * layer + direction  # h_n's first axis: layer-major
            cells = []
            for step in range(num_steps):
                x = col_left + col_step * step
                if step == last:
                    cells.append(
                        node(
                            ax,
                            x,
                            y,
                            f"h_n[{index}]",
                            "highlight",
                            width=0.8,
                            height=0.42,
                            fontsize=FONT_SIZE - 3,
                        )
                    )
                else:
                    cells.append(node(ax, x, y, "", "state", width=0.5, height=0.42))
            color = "#0072b2" if direction == 0 else "#d55e00"
            for step in range(num_steps - 1):
                a, b = cells[step], cells[step + 1]
                if direction == 0:
                    link(ax, a.side("right"), b.side("left"), color=color, width=1.2)
                else:
                    link(ax, b.side("left"), a.side("right"), color=color, width=1.2)
    for step in range(num_steps):
        note(ax, col_left + col_step * step, 0.45, f"t={step + 1}", fontsize=FONT_SIZE - 2)
    return fig, ax
