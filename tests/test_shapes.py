"""rnnbook.describe (Chapter 6): every reported shape is the shape of a real run, bad input is refused."""

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_sequence

import rnnbook
from rnnbook.shapes import ShapeReport, ShapeRow, Table, describe

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")

T, N, D_IN, H, P = 7, 3, 9, 8, 5
CLASSES = [nn.RNN, nn.GRU, nn.LSTM, rnnbook.RNN, rnnbook.GRU, rnnbook.LSTM]


def _run(module, x, hx=None):
    with torch.no_grad():
        output, state = module(x, hx)
    return output, state if isinstance(state, tuple) else (state,)


def _name(value):
    if isinstance(value, type):
        return f"{value.__module__.split('.')[0]}.{value.__name__}"
    return str(value)


@pytest.mark.parametrize(
    "module_class, num_layers, bidirectional, batch_first",
    list(itertools.product(CLASSES, (1, 2), (False, True), (False, True))),
    ids=_name,
)
def test_reported_shapes_are_those_of_a_real_run(module_class, num_layers, bidirectional, batch_first):
    torch.manual_seed(0)
    module = module_class(
        D_IN, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first
    )
    x = torch.randn(N, T, D_IN) if batch_first else torch.randn(T, N, D_IN)
    report = describe(module, x)
    output, states = _run(module, x)
    assert report["input"] == tuple(x.shape)
    assert report["output"] == tuple(output.shape)
    assert report["h_n"] == tuple(states[0].shape)
    is_lstm = len(states) == 2
    assert ("c_n" in report) == is_lstm
    if is_lstm:
        assert report["c_n"] == tuple(states[1].shape)
    parameters = dict(module.named_parameters())
    assert [name for name in report.names() if name in parameters] == list(parameters)
    for name, parameter in parameters.items():
        assert report[name] == tuple(parameter.shape)
    # every axis is explained, with the size it reports
    for row in report.rows:
        assert len(row.axes) == len(row.shape)
        for size, axis in zip(row.shape, row.axes):
            assert str(size) in axis, (row, axis)
    # batch_first never applies to the states
    num_directions = 2 if bidirectional else 1
    assert report["h_n"] == (num_directions * num_layers, N, H)


@pytest.mark.parametrize("module_class", CLASSES, ids=_name)
def test_unbatched_input(module_class):
    module = module_class(D_IN, H, num_layers=2, bidirectional=True)
    x = torch.randn(T, D_IN)
    report = describe(module, x, parameters=False)
    output, states = _run(module, x)
    assert report["output"] == tuple(output.shape) == (T, 2 * H)
    assert report["h_n"] == tuple(states[0].shape) == (4, H)
    assert not any(name.startswith("weight") for name in report.names())
    assert "unbatched" in report.title


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_projection(bidirectional):
    module = nn.LSTM(D_IN, H, num_layers=2, bidirectional=bidirectional, proj_size=P)
    x = torch.randn(T, N, D_IN)
    report = describe(module, x)
    output, (h_n, c_n) = _run(module, x)
    assert report["output"] == tuple(output.shape) and report["output"][-1] == (2 if bidirectional else 1) * P
    assert report["h_n"] == tuple(h_n.shape) and report["h_n"][-1] == P
    assert report["c_n"] == tuple(c_n.shape) and report["c_n"][-1] == H
    assert report["weight_hr_l1"] == tuple(module.weight_hr_l1.shape) == (P, H)
    assert report["weight_hh_l0"] == (4 * H, P)
    assert "proj_size=5" in report.title


def test_initial_state_is_reported():
    module = nn.LSTM(D_IN, H, num_layers=2)
    x = torch.randn(T, N, D_IN)
    hx = (torch.randn(2, N, H), torch.randn(2, N, H))
    report = describe(module, x, hx, parameters=False)
    assert report.names() == ["input", "h_0", "c_0", "output", "h_n", "c_n"]
    assert report["h_0"] == (2, N, H) == report["c_0"]


def test_packed_sequence():
    module = nn.GRU(D_IN, H, bidirectional=True)
    lengths = [5, 3, 2]
    packed = pack_sequence([torch.randn(length, D_IN) for length in lengths])
    report = describe(module, packed, parameters=False)
    with torch.no_grad():
        output, h_n = module(packed)
    assert report["input.data"] == (sum(lengths), D_IN)
    assert report["input.batch_sizes"] == (max(lengths),)
    assert report["output.data"] == tuple(output.data.shape) == (sum(lengths), 2 * H)
    assert report["h_n"] == tuple(h_n.shape) == (2, len(lengths), H)


@pytest.mark.parametrize(
    "bad_module, bad_input, error, expected_words",
    [
        (
            nn.Linear(D_IN, H),
            torch.randn(T, N, D_IN),
            TypeError,
            ["recurrent module", "got Linear", "weight_ih_l0"],
        ),
        ("GRU", torch.randn(T, N, D_IN), TypeError, ["recurrent module", "got str"]),
        (nn.GRU(D_IN, H), torch.randn(T, N, 4), ValueError, ["H_in = 9", "got 4", "(7, 3, 4)"]),
        (nn.GRU(D_IN, H), torch.randn(T * N * D_IN), ValueError, ["3-D", "2-D", "got a 1-D"]),
        (
            nn.GRU(D_IN, H, batch_first=True),
            torch.randn(2, N, T, D_IN),
            ValueError,
            ["(N, L, H_in)", "got a 4-D"],
        ),
        (nn.GRU(D_IN, H), [[0.0] * D_IN], TypeError, ["Tensor or a PackedSequence", "got list"]),
        (rnnbook.GRU(D_IN, H), torch.randn(T, N, D_IN + 1), ValueError, ["H_in = 9", "got 10"]),
    ],
)
def test_bad_input_gets_a_clear_error(bad_module, bad_input, error, expected_words):
    with pytest.raises(error) as info:
        describe(bad_module, bad_input)
    for words in expected_words:
        assert words in str(info.value), str(info.value)


class _TransposedState(nn.GRU):
    """A module that breaks the contract: it returns h_n batch first."""

    def forward(self, input, hx=None):
        output, h_n = super().forward(input, hx)
        return output, h_n.transpose(0, 1)


def test_a_module_breaking_the_contract_is_caught():
    module = _TransposedState(D_IN, H, num_layers=2)
    with pytest.raises(RuntimeError, match=r"h_n of shape \(3, 2, 8\).*expects \(2, 3, 8\)"):
        describe(module, torch.randn(T, N, D_IN))


def test_report_rendering_and_lookup():
    report = describe(
        nn.GRU(D_IN, H, num_layers=2, bidirectional=True, batch_first=True), torch.randn(N, T, D_IN)
    )
    text = str(report)
    assert text == repr(report)
    assert text.splitlines()[0] == report.title
    assert len(text.splitlines()) == len(report.rows) + 2  # title, header, one line per tensor
    assert all(name in text for name in report.names())
    markdown = report._repr_markdown_()
    table_lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table_lines) == len(report.rows) + 2
    assert "| `h_n` | `(4, 3, 8)` |" in markdown
    assert "D\\*num_layers=2\\*2=4" in markdown  # no stray emphasis in Markdown
    page = report._repr_html_()
    assert page.count("<tr>") == len(report.rows) + 1
    assert '<code>h_n</code></td><td style="white-space: nowrap"><code>(4, 3, 8)</code></td>' in page
    assert "batch_first does not apply" in page
    with pytest.raises(KeyError, match="no tensor named 'c_n'"):
        report["c_n"]
    assert "c_n" not in report


def test_shape_report_is_built_from_rows():
    report = ShapeReport("title", [ShapeRow("a", (2, 3), ("two", "three"))])
    assert report["a"] == (2, 3) and report.names() == ["a"]
    assert "two; three" in str(report)


def test_table():
    table = Table(("a", "bb"), [(1, 2), ("xyz", "<&>")], code_columns=(0,))
    assert str(table).splitlines() == ["  a    bb", "  1    2", "  xyz  <&>"]
    assert table._repr_markdown_().splitlines() == [
        "| a | bb |",
        "|:--|:--|",
        "| `1` | 2 |",
        "| `xyz` | <&> |",
    ]
    page = table._repr_html_()
    assert "<td>&lt;&amp;&gt;</td>" in page and "<code>xyz</code></td>" in page
    assert str(Table(("a",), [(1,)], title="T")).splitlines()[0] == "T"
    with pytest.raises(ValueError, match="expected rows of 2 values .* got 3"):
        Table(("a", "b"), [(1, 2, 3)])


def test_describe_is_exported_and_leaves_gradients_alone():
    assert rnnbook.describe is describe
    module = nn.GRU(D_IN, H)
    describe(module, torch.randn(T, N, D_IN))
    assert all(p.grad is None for p in module.parameters())
