r"""Diagrams of the recurrent cells: the unrolled RNN, the graph BPTT walks, GRU, LSTM, deep grid.

Hand-written (not generated from a chapter). Used by Chapter 1 (:func:`unrolled_rnn`), Chapter 2
(:func:`bptt_graph`), Chapter 3 (:func:`gru_cell`, :func:`lstm_cell`,
:func:`reset_gate_placements`) and Chapter 4 (:func:`deep_grid`, :func:`inplace_mistake`). Every
function returns a :class:`matplotlib.figure.Figure` drawn with the primitives of
:mod:`rnnbook.diagrams` (one style), at most 7 units wide, in the notation of the notation page.
Each docstring suggests a caption and an alt text for the chapter that shows the figure.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnnbook.diagrams import FONT_SIZE, KINDS, canvas, link, node, note, op, region

__all__ = [
    "unrolled_rnn",
    "bptt_graph",
    "gru_cell",
    "lstm_cell",
    "reset_gate_placements",
    "deep_grid",
    "inplace_mistake",
]

GRADIENT = KINDS["loss"][1]  # gradient paths: dashed, vermillion
SMALL = FONT_SIZE - 2


def _polyline(ax: Axes, points, *, head: bool = True, **kwargs) -> None:
    """Segments through ``points``, with an arrow head on the last one only (if ``head``)."""
    for a, b in zip(points[:-2], points[1:-1]):
        link(ax, a, b, head=False, **kwargs)
    link(ax, points[-2], points[-1], head=head, **kwargs)


def unrolled_rnn() -> Figure:
    r"""The RNN unrolled in time (Chapter 1).

    Inputs :math:`\mathbf{x}_1, \dots, \mathbf{x}_T` enter from below, the state passes from
    :math:`\mathbf{h}_0` on the left through :math:`\mathbf{W}_{hh}`, and every state produces an
    output :math:`\hat{\mathbf{y}}_t = \mathbf{W}_{hy}\mathbf{h}_t + \mathbf{b}_y`.

    Suggested caption: "The recurrent network unrolled in time: the same weights
    $\mathbf{W}_{ih}$, $\mathbf{W}_{hh}$ and $\mathbf{W}_{hy}$ are used at every step."
    Suggested alt text: "Three columns of boxes, inputs x_t at the bottom, hidden states h_t in
    the middle linked left to right from h_0, outputs y-hat_t on top, with the weight names on
    the arrows."
    """
    fig, ax = canvas(7.0, 4.9)
    y_x, y_h, y_y = 0.45, 2.05, 3.55
    h0 = node(ax, 0.55, y_h, r"$\mathbf{h}_0$", "state", width=0.7)
    previous = h0
    for column, t in zip((1.95, 3.55, 6.1), ("1", "2", "T")):
        x = node(ax, column, y_x, rf"$\mathbf{{x}}_{t}$", "input", width=0.7, height=0.5)
        h = node(ax, column, y_h, rf"$\mathbf{{h}}_{t}$", "state", width=0.7)
        y = node(ax, column, y_y, rf"$\hat{{\mathbf{{y}}}}_{t}$", "output", width=0.7, height=0.5)
        link(ax, x.side("top"), h.side("bottom"), label=r"$\mathbf{W}_{ih}$", label_offset=(0.33, -0.12))
        link(ax, h.side("top"), y.side("bottom"), label=r"$\mathbf{W}_{hy}$", label_offset=(0.33, -0.12))
        if t == "T":
            link(ax, previous.side("right"), (4.45, y_h), label=r"$\mathbf{W}_{hh}$", label_offset=(0, 0.02))
            note(ax, 4.8, y_h + 0.05, r"$\cdots$", fontsize=FONT_SIZE + 2)
            link(ax, (5.15, y_h), h.side("left"), label=r"$\mathbf{W}_{hh}$", label_offset=(0, 0.02))
        else:
            link(
                ax,
                previous.side("right"),
                h.side("left"),
                label=r"$\mathbf{W}_{hh}$",
                label_offset=(0.0, 0.02),
            )
        previous = h
    note(
        ax,
        3.5,
        4.15,
        r"$\hat{\mathbf{y}}_t = \mathbf{W}_{hy}\mathbf{h}_t + \mathbf{b}_y$, "
        r"$\mathbf{h}_t = \tanh(\mathbf{W}_{ih}\mathbf{x}_t + \mathbf{W}_{hh}\mathbf{h}_{t-1}"
        r" + \mathbf{b}_h)$",
        fontsize=SMALL,
    )
    note(ax, 3.5, 4.6, "the same weights at every step", fontsize=SMALL, color="#555555")
    return fig


def bptt_graph() -> Figure:
    r"""The computational graph that backpropagation through time walks backwards (Chapter 2).

    Solid arrows are the forward pass; dashed vermillion arrows the gradient: from each loss
    :math:`\ell_t` down to :math:`\mathbf{h}_t`, back through the Jacobians
    :math:`\partial\mathbf{h}_t/\partial\mathbf{h}_{t-1}` to earlier steps, and from every step
    into :math:`\mathbf{W}_{hh}`, whose gradient is a sum over the steps.

    Suggested caption: "Backpropagation through time: the gradient flows from every loss
    $\ell_t$ back through the Jacobians $\partial\mathbf{h}_t/\partial\mathbf{h}_{t-1}$, and
    $\mathbf{W}_{hh}$ collects a contribution from every step."
    Suggested alt text: "A chain of hidden states h_0 to h_3 with a loss above each; dashed
    arrows run from each loss down to its state, leftwards from state to state, and down from
    every state into one box for W_hh."
    """
    fig, ax = canvas(6.6, 4.6)
    y_w, y_h, y_l = 0.45, 2.4, 3.9
    states = [node(ax, 0.55, y_h, r"$\mathbf{h}_0$", "state", width=0.7)]
    for t, column in zip((1, 2, 3), (2.25, 3.95, 5.65)):
        h = node(ax, column, y_h, rf"$\mathbf{{h}}_{t}$", "state", width=0.7)
        loss = node(ax, column, y_l, rf"$\ell_{t}$", "loss", width=0.7, height=0.5)
        link(ax, (column - 0.15, y_h + 0.3), (column - 0.15, y_l - 0.25))
        link(ax, (column + 0.15, y_l - 0.25), (column + 0.15, y_h + 0.3), color=GRADIENT, dashed=True)
        previous = states[-1]
        link(ax, (previous.x + 0.35, y_h + 0.12), (h.x - 0.35, y_h + 0.12))
        link(ax, (h.x - 0.35, y_h - 0.12), (previous.x + 0.35, y_h - 0.12), color=GRADIENT, dashed=True)
        note(
            ax,
            (previous.x + h.x) / 2 + 0.1,
            y_h - 0.5,
            rf"$\partial\mathbf{{h}}_{t}/\partial\mathbf{{h}}_{t - 1}$",
            fontsize=SMALL,
            color=GRADIENT,
        )
        link(ax, (column, y_h - 0.3), (column - 0.4, y_w + 0.3), color=GRADIENT, dashed=True)
        states.append(h)
        del loss
    node(
        ax,
        3.95,
        y_w,
        r"$\partial\mathcal{L}/\partial\mathbf{W}_{hh}$: a sum over the steps $t = 1, 2, 3$",
        "highlight",
        width=5.0,
        height=0.6,
        fontsize=SMALL,
    )
    note(ax, 3.3, 4.4, "forward: solid;  gradient: dashed", fontsize=SMALL, color="#555555")
    return fig


def _bus(ax: Axes, h_prev, x_t, y_bus: float, x_end: float) -> None:
    """The line that carries h_{t-1} and x_t to the gates, from ``h_prev`` to ``x_end``."""
    _polyline(ax, [h_prev.side("bottom"), (h_prev.x, y_bus), (x_end, y_bus)], head=False)
    link(ax, x_t.side("top"), (x_t.x, y_bus), head=False)


def gru_cell() -> Figure:
    r"""One GRU step in PyTorch's form (Chapter 3).

    :math:`\mathbf{r}_t, \mathbf{z}_t = \sigma(\dots)`,
    :math:`\mathbf{n}_t = \tanh(\mathbf{W}_{in}\mathbf{x}_t + \mathbf{b}_{in} + \mathbf{r}_t
    \odot (\mathbf{W}_{hn}\mathbf{h}_{t-1} + \mathbf{b}_{hn}))` and
    :math:`\mathbf{h}_t = (1 - \mathbf{z}_t) \odot \mathbf{n}_t + \mathbf{z}_t \odot \mathbf{h}_{t-1}`.
    Each σ box is an affine map of :math:`\mathbf{x}_t` and :math:`\mathbf{h}_{t-1}` followed by σ.

    Suggested caption: "A GRU step as PyTorch computes it: the reset gate scales
    $\mathbf{W}_{hn}\mathbf{h}_{t-1} + \mathbf{b}_{hn}$, and the update gate mixes the old state
    with the candidate $\mathbf{n}_t$."
    Suggested alt text: "GRU cell diagram: x_t and h_{t-1} feed two sigmoid gates r and z; r
    multiplies W_hn h_{t-1} before a tanh gives n_t; z and 1 minus z mix h_{t-1} and n_t into
    h_t."
    """
    fig, ax = canvas(7.0, 6.4)
    y_bus, y_gate, y_n, y_mix, y_top = 1.45, 2.5, 3.4, 4.2, 5.0
    h_prev = node(ax, 0.5, y_top, r"$\mathbf{h}_{t-1}$", "state", width=0.8)
    x_t = node(ax, 1.0, 0.45, r"$\mathbf{x}_t$", "input", width=0.7, height=0.5)
    _bus(ax, h_prev, x_t, y_bus, 5.0)
    z = node(ax, 1.5, y_gate, r"$\sigma$", "gate", width=0.5, height=0.5)
    r = node(ax, 2.5, y_gate, r"$\sigma$", "gate", width=0.5, height=0.5)
    hn = node(
        ax,
        3.65,
        y_gate,
        r"$\mathbf{W}_{hn}\mathbf{h}_{t-1}\!+\!\mathbf{b}_{hn}$",
        "cell",
        width=1.35,
        height=0.5,
        fontsize=SMALL - 1,
    )
    xn = node(
        ax,
        5.0,
        y_gate,
        r"$\mathbf{W}_{in}\mathbf{x}_t\!+\!\mathbf{b}_{in}$",
        "cell",
        width=1.1,
        height=0.5,
        fontsize=SMALL - 1,
    )
    for box in (z, r, hn, xn):
        link(ax, (box.x, y_bus), box.side("bottom"))
    times_r, plus_n = op(ax, 3.65, y_n, "×"), op(ax, 5.0, y_n, "+")
    tanh, times_n = op(ax, 6.1, y_n, "tanh"), op(ax, 6.1, y_mix, "×")
    link(
        ax, r.side("top"), times_r.side("left"), curve=-0.3, label=r"$\mathbf{r}_t$", label_offset=(-0.3, 0.1)
    )
    link(ax, hn.side("top"), times_r.side("bottom"))
    link(ax, times_r.side("right"), plus_n.side("left"))
    link(ax, xn.side("top"), plus_n.side("bottom"))
    link(ax, plus_n.side("right"), tanh.side("left"))
    link(ax, tanh.side("top"), times_n.side("bottom"), label=r"$\mathbf{n}_t$", label_offset=(0.3, -0.1))
    times_z, minus, plus = op(ax, 4.4, y_top, "×"), op(ax, 5.25, y_mix, "1−"), op(ax, 6.1, y_top, "+")
    _polyline(ax, [z.side("top"), (z.x, y_mix), (times_z.x, y_mix), times_z.side("bottom")])
    link(ax, (times_z.x, y_mix), minus.side("left"))
    link(ax, minus.side("right"), times_n.side("left"))
    note(ax, z.x - 0.25, y_mix - 0.45, r"$\mathbf{z}_t$", fontsize=SMALL)
    link(ax, h_prev.side("right"), times_z.side("left"))
    link(ax, times_z.side("right"), plus.side("left"))
    link(ax, times_n.side("top"), plus.side("bottom"))
    h_t = node(ax, 6.1, 5.9, r"$\mathbf{h}_t$", "state", width=0.7, height=0.5)
    link(ax, plus.side("top"), h_t.side("bottom"))
    return fig


def lstm_cell() -> Figure:
    r"""One LSTM step in PyTorch's form (Chapter 3).

    Gates :math:`\mathbf{i}_t, \mathbf{f}_t, \mathbf{o}_t = \sigma(\dots)`, candidate
    :math:`\mathbf{g}_t = \tanh(\dots)`, cell
    :math:`\mathbf{c}_t = \mathbf{f}_t \odot \mathbf{c}_{t-1} + \mathbf{i}_t \odot \mathbf{g}_t`,
    state :math:`\mathbf{h}_t = \mathbf{o}_t \odot \tanh(\mathbf{c}_t)`. Each σ and tanh box is
    an affine map of :math:`\mathbf{x}_t` and :math:`\mathbf{h}_{t-1}` followed by the function.

    Suggested caption: "An LSTM step: the forget gate scales the old cell state, the input gate
    adds the candidate $\mathbf{g}_t$, and the output gate reads $\tanh(\mathbf{c}_t)$."
    Suggested alt text: "LSTM cell diagram: the cell state c runs along the top through a
    multiplication by f_t and an addition of i_t times g_t; x_t and h_{t-1} feed the four gates
    from below; o_t times tanh of c_t gives h_t."
    """
    fig, ax = canvas(7.0, 5.6)
    y_bus, y_gate, y_ig, y_top = 1.5, 2.6, 3.75, 4.9
    c_prev = node(ax, 0.5, y_top, r"$\mathbf{c}_{t-1}$", "state", width=0.8)
    h_prev = node(ax, 0.5, y_bus + 0.8, r"$\mathbf{h}_{t-1}$", "state", width=0.8)
    x_t = node(ax, 1.2, 0.45, r"$\mathbf{x}_t$", "input", width=0.7, height=0.5)
    _bus(ax, h_prev, x_t, y_bus, 4.6)
    gates = {}
    for name, column, fn in (
        ("f", 1.8, r"$\sigma$"),
        ("i", 2.7, r"$\sigma$"),
        ("g", 3.6, "tanh"),
        ("o", 4.6, r"$\sigma$"),
    ):
        gates[name] = node(ax, column, y_gate, fn, "gate", width=0.6, height=0.5, fontsize=SMALL)
        link(ax, (column, y_bus), gates[name].side("bottom"))
    times_f, plus = op(ax, 1.8, y_top, "×"), op(ax, 3.2, y_top, "+")
    times_ig = op(ax, 3.2, y_ig, "×")
    link(
        ax,
        gates["f"].side("top"),
        times_f.side("bottom"),
        label=r"$\mathbf{f}_t$",
        label_offset=(-0.25, -0.1),
    )
    link(
        ax,
        gates["i"].side("top"),
        (times_ig.x - 0.15, times_ig.y - 0.15),
        label=r"$\mathbf{i}_t$",
        label_offset=(-0.3, -0.15),
    )
    link(
        ax,
        gates["g"].side("top"),
        (times_ig.x + 0.15, times_ig.y - 0.15),
        label=r"$\mathbf{g}_t$",
        label_offset=(0.3, -0.15),
    )
    link(ax, times_ig.side("top"), plus.side("bottom"))
    link(ax, c_prev.side("right"), times_f.side("left"))
    link(ax, times_f.side("right"), plus.side("left"))
    c_t = node(ax, 6.5, y_top, r"$\mathbf{c}_t$", "state", width=0.6, height=0.5)
    link(ax, plus.side("right"), c_t.side("left"))
    tanh_c, times_o = op(ax, 5.5, 4.0, "tanh"), op(ax, 5.5, 3.1, "×")
    link(ax, (tanh_c.x, y_top), tanh_c.side("top"))
    link(ax, tanh_c.side("bottom"), times_o.side("top"))
    link(
        ax,
        gates["o"].side("top"),
        times_o.side("left"),
        curve=-0.4,
        label=r"$\mathbf{o}_t$",
        label_offset=(-0.3, 0.25),
    )
    h_t = node(ax, 6.5, 3.1, r"$\mathbf{h}_t$", "state", width=0.6, height=0.5)
    link(ax, times_o.side("right"), h_t.side("left"))
    return fig


def _reset_panel(ax: Axes, x0: float, after: bool) -> None:
    """One placement of the reset gate in a panel 3.3 units wide starting at ``x0``."""
    column, y_first, y_second = x0 + 1.55, 1.5, 2.4
    affine = r"$\mathbf{W}_{hn}(\cdot)\!+\!\mathbf{b}_{hn}$" if after else r"$\mathbf{W}_{hn}(\cdot)$"
    title = "PyTorch, cuDNN: after" if after else "Cho et al. 2014, d2l: before"
    formula = (
        r"$\mathbf{r}_t \odot (\mathbf{W}_{hn}\mathbf{h}_{t-1} + \mathbf{b}_{hn})$"
        if after
        else r"$\mathbf{W}_{hn}(\mathbf{r}_t \odot \mathbf{h}_{t-1})$"
    )
    note(ax, x0 + 1.65, 5.75, title)
    note(ax, x0 + 1.65, 5.3, formula, fontsize=SMALL)
    h = node(ax, column, 0.45, r"$\mathbf{h}_{t-1}$", "state", width=0.8, height=0.5)
    y_times, y_affine = (y_second, y_first) if after else (y_first, y_second)
    times = op(ax, column, y_times, "×")
    box = node(ax, column, y_affine, affine, "cell", width=1.3, height=0.5, fontsize=SMALL - 1)
    r = node(ax, x0 + 0.35, y_times, r"$\mathbf{r}_t$", "gate", width=0.5, height=0.45)
    link(ax, r.side("right"), times.side("left"))
    first, second = (box, times) if after else (times, box)
    link(ax, h.side("top"), first.side("bottom"))
    link(ax, first.side("top"), second.side("bottom"))
    plus, tanh = op(ax, column, 3.3, "+"), op(ax, column, 4.05, "tanh")
    link(ax, second.side("top"), plus.side("bottom"))
    x_term = node(
        ax,
        x0 + 2.75,
        3.3,
        r"$\mathbf{W}_{in}\mathbf{x}_t\!+\!\mathbf{b}_{in}$",
        "cell",
        width=1.05,
        height=0.45,
        fontsize=SMALL - 1,
    )
    link(ax, x_term.side("left"), plus.side("right"))
    n = node(ax, column, 4.75, r"$\mathbf{n}_t$", "gate", width=0.5, height=0.45)
    link(ax, plus.side("top"), tanh.side("bottom"))
    link(ax, tanh.side("top"), n.side("bottom"))


def reset_gate_placements() -> Figure:
    r"""The GRU's reset gate in its two placements, side by side (Chapter 3).

    Left, PyTorch and cuDNN: :math:`\mathbf{r}_t \odot (\mathbf{W}_{hn}\mathbf{h}_{t-1} +
    \mathbf{b}_{hn})`, the gate applied after the matrix product. Right, Cho et al. (2014) and
    d2l: :math:`\mathbf{W}_{hn}(\mathbf{r}_t \odot \mathbf{h}_{t-1})`, the gate applied before it.

    Suggested caption: "Two placements of the reset gate: PyTorch and cuDNN multiply by
    $\mathbf{r}_t$ after the product with $\mathbf{W}_{hn}$, Cho et al. (2014) and d2l before it;
    the two give different networks from the same weights."
    Suggested alt text: "Two panels: on the left h_{t-1} goes through W_hn and then is multiplied
    by r_t; on the right it is multiplied by r_t first and then goes through W_hn; both then add
    the input term and apply tanh to give n_t."
    """
    fig, ax = canvas(7.0, 6.1)
    _reset_panel(ax, 0.0, after=True)
    _reset_panel(ax, 3.6, after=False)
    ax.plot([3.45, 3.45], [0.2, 5.95], color="#bbbbbb", linewidth=1.0)
    return fig


def deep_grid(num_layers: int = 3, num_steps: int = 3) -> Figure:
    r"""The layers x time grid of a stacked RNN (Chapter 4).

    Layer :math:`l` at step :math:`t` reads :math:`\mathbf{h}^{(l-1)}_t` from below and
    :math:`\mathbf{h}^{(l)}_{t-1}` from the left; ``output`` is the top row (layer :math:`L` at
    every step) and ``h_n`` the right column (the last step of every layer).

    Suggested caption: "A stacked RNN as a grid of layers and steps: each state reads the state
    below it at the same step and its own layer's previous state; `output` is the top row and
    `h_n` the right column."
    Suggested alt text: "A grid of hidden-state boxes, three layers high and three steps wide,
    with inputs x_t below, arrows upwards and to the right, the top row shaded as output and the
    right column shaded as h_n."
    """
    left, spacing, row, y0 = 1.75, 1.6, 1.05, 1.45
    width = left + spacing * (num_steps - 1) + 1.45
    top = y0 + row * (num_layers - 1)
    fig, ax = canvas(width, top + 1.35)
    last = left + spacing * (num_steps - 1)
    region(ax, 0.95, top - 0.42, last + 0.6, top + 0.42, color=KINDS["output"][0])
    region(ax, last - 0.6, y0 - 0.45, last + 0.6, top + 0.42, color=KINDS["highlight"][0])
    note(
        ax,
        (left + last) / 2 - 0.5,
        top + 0.7,
        "output: the top row",
        fontsize=SMALL,
        color=KINDS["output"][1],
    )
    note(ax, last + 0.1, top + 0.7, "h_n: the right column", fontsize=SMALL, color=KINDS["highlight"][1])
    for step in range(num_steps):
        x = left + spacing * step
        below = node(ax, x, 0.45, rf"$\mathbf{{x}}_{step + 1}$", "input", width=0.6, height=0.45)
        for layer in range(1, num_layers + 1):
            y = y0 + row * (layer - 1)
            h = node(ax, x, y, rf"$\mathbf{{h}}^{{({layer})}}_{step + 1}$", "state", width=0.75)
            link(ax, below.side("top"), h.side("bottom"))
            start = (x - spacing + 0.375, y) if step else (0.75, y)
            link(ax, start, h.side("left"))
            if step == 0:
                note(ax, 0.4, y, rf"$\mathbf{{h}}^{{({layer})}}_0$", fontsize=SMALL)
            below = h
    return fig


def inplace_mistake() -> Figure:
    r"""The in-place-write mistake of Chapter 4: a state overwritten while autograd needs it.

    At step :math:`t` the matrix product reads row ``h_t[0]`` of a preallocated tensor and saves
    it for the backward pass (version 67); the loop then writes the new state into the same row
    (version 68), and ``backward()`` finds the saved value changed and refuses.

    Suggested caption: "Writing states in place: the product saves `h_t[0]` for the backward
    pass, the next write overwrites it, and `backward()` refuses because the version counter
    moved."
    Suggested alt text: "Three stages left to right: a state row saved at version 67 by a matrix
    product, the same row overwritten in red at version 68, and backward raising a RuntimeError
    because the versions differ."
    """
    fig, ax = canvas(7.0, 3.9)
    y_stage, y_box, y_note = 3.45, 2.1, 0.75
    for column, title in ((1.1, "1. product reads"), (3.5, "2. loop writes"), (5.9, "3. backward()")):
        note(ax, column, y_stage, title, fontsize=FONT_SIZE - 1)
    saved = node(ax, 1.1, y_box, "h_t[0]\nversion 67", "state", width=1.6, height=0.9, fontsize=SMALL)
    written = node(ax, 3.5, y_box, "h_t[0]\nversion 68", "error", width=1.6, height=0.9, fontsize=SMALL)
    note(ax, written.x, y_box + 0.7, "overwritten in place", fontsize=SMALL, color=KINDS["error"][1])
    check = node(
        ax, 5.9, y_box, "saved: 67\nnow: 68", "error", width=1.5, height=0.9, fontsize=SMALL, dashed=True
    )
    link(ax, saved.side("right"), written.side("left"))
    note(ax, 3.5, y_note, "h_t[0] = tanh(...)\nwrites the same row", fontsize=SMALL)
    link(ax, written.side("right"), check.side("left"))
    note(ax, 1.1, y_note, "saved for backward:\nh_t[0] @ W_hh.T", fontsize=SMALL)
    note(
        ax,
        5.9,
        y_note,
        "RuntimeError: modified\nby an inplace operation",
        fontsize=SMALL,
        color=KINDS["error"][1],
    )
    note(ax, 3.5, 0.2, "fix: keep the states in a list, stack at the end", fontsize=SMALL, color="#555555")
    return fig
