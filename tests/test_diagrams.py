"""The architecture diagrams (rnnbook.diagrams): every drawing builds, stays phone-sized, and the
shapes chapter's picture is drawn from the numbers ``rnnbook.describe`` reports."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import nn  # noqa: E402

import rnnbook  # noqa: E402
from rnnbook.diagrams import cells, stacks  # noqa: E402

DRAWINGS = [
    cells.unrolled_rnn,
    cells.bptt_graph,
    cells.gru_cell,
    cells.lstm_cell,
    cells.reset_gate_placements,
    cells.deep_grid,
    cells.inplace_mistake,
    stacks.bidirectional_layer,
    stacks.bidirectional_stacks,
]
PHONE_WIDTH_INCHES = 7.5  # wider figures shrink below legibility in a 360 px column


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _figure(drawn) -> Figure:
    return drawn[0] if isinstance(drawn, tuple) else drawn


def _texts(figure: Figure) -> dict[str, tuple[float, float]]:
    return {t.get_text(): t.get_position() for ax in figure.axes for t in ax.texts if t.get_text()}


@pytest.mark.parametrize("draw", DRAWINGS, ids=lambda f: f.__name__)
def test_every_diagram_draws_labelled_boxes_without_axes_at_phone_width(draw):
    figure = _figure(draw())
    width, height = figure.get_size_inches()
    assert 0 < width <= PHONE_WIDTH_INCHES and 0 < height <= 1.5 * PHONE_WIDTH_INCHES, (width, height)
    assert figure.axes and not any(ax.axison for ax in figure.axes), "diagrams have no axes"
    assert len(_texts(figure)) >= 3, "a diagram without labels"
    figure.canvas.draw()  # mathtext labels parse


def _slices(module: nn.Module, num_steps: int) -> dict[str, tuple[float, float]]:
    report = rnnbook.describe(module, torch.zeros(num_steps, 2, module.input_size))
    return _texts(stacks.state_slices(report)[0])


@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (3, False), (2, True)])
def test_state_slices_puts_each_slice_of_h_n_where_describe_says(num_layers, bidirectional):
    num_steps, directions = 4, 2 if bidirectional else 1
    texts = _slices(nn.GRU(3, 5, num_layers=num_layers, bidirectional=bidirectional), num_steps)
    assert {f"t={t}" for t in range(1, num_steps + 1)} <= texts.keys()
    first_x, last_x = texts["t=1"][0], texts[f"t={num_steps}"][0]
    boxes = sorted(k for k in texts if k.startswith("h_n["))
    assert boxes == [f"h_n[{i}]" for i in range(num_layers * directions)], boxes
    heights = []
    for index in range(num_layers * directions):
        x, y = texts[f"h_n[{index}]"]
        # h_n's first axis is layer-major: index = D * layer + direction; the forward direction
        # ends at the last step, the backward one at the first
        assert x == pytest.approx(last_x if index % directions == 0 else first_x), index
        heights.append(y)
    assert heights == sorted(heights), "layers are drawn bottom to top in h_n's order"
    (output,) = [k for k in texts if k.startswith("output ")]
    assert output.startswith(f"output ({num_steps}, 2, {5 * directions}): layer {num_layers} at every step")
    assert any(k.startswith("h_n (") for k in texts)


def test_state_slices_of_an_lstm_names_c_n_too():
    texts = _slices(nn.LSTM(3, 4, num_layers=2), 3)
    assert any(k.startswith("h_n, c_n (2, 2, 4)") for k in texts), sorted(texts)


def test_state_slices_needs_a_report_with_time_steps():
    report = rnnbook.describe(nn.GRU(3, 4), torch.zeros(2, 2, 3))
    output = next(row for row in report.rows if row.name == "output")
    broken = dataclasses.replace(output, axes=("steps", "batch", "features"))
    report.rows[report.rows.index(output)] = broken
    with pytest.raises(ValueError, match="no axis starting with 'L='"):
        stacks.state_slices(report)
