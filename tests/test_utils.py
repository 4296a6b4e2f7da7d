"""The notebook helpers of rnnbook.utils: each prints or returns what its docstring says, and raises
when the claim it prints is false."""

import math
import random

import numpy as np
import pytest
import torch

from rnnbook.utils import agree, below, magnitude, max_difference, set_seed, show_error


def draws():
    return random.random(), np.random.rand(), torch.rand(3).tolist()


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    yield
    torch.set_num_threads(threads)
    random.setstate(state[0])
    np.random.set_state(state[1])
    torch.set_rng_state(state[2])


def test_set_seed_seeds_python_numpy_and_torch(restore_threads):
    set_seed(3)
    first = draws()
    draws()  # move every generator on
    set_seed(3)
    assert draws() == first  # all three generators were reset, not just one of them
    set_seed(4)
    other = draws()
    for a, b in zip(other, first):
        assert a != b


@pytest.mark.parametrize("num_threads", [1, 2])
def test_set_seed_fixes_the_thread_count(restore_threads, num_threads):
    set_seed(0, num_threads=num_threads)
    assert torch.get_num_threads() == num_threads


def test_set_seed_defaults_to_one_thread(restore_threads):
    torch.set_num_threads(2)
    set_seed()
    assert torch.get_num_threads() == 1


def test_max_difference_of_two_tensors():
    a = torch.tensor([1.0, 2.0, 3.0])
    b = torch.tensor([1.0, 2.5, 1.0])
    assert max_difference(a, b) == 2.0  # |3 - 1|, the largest of 0, 0.5, 2
    assert max_difference(b, a) == 2.0
    assert max_difference(a, a.clone()) == 0.0
    assert isinstance(max_difference(a, b), float)


def test_max_difference_over_sequences_takes_the_worst_tensor():
    pairs = [(torch.zeros(2), torch.tensor([0.25, -0.5])), (torch.ones(2, 2), torch.full((2, 2), 4.0))]
    actual, expected = zip(*pairs)
    assert max_difference(list(actual), list(expected)) == 3.0  # from the second pair
    assert max_difference(list(actual)[::-1], list(expected)[::-1]) == 3.0  # from the first pair
    assert max_difference(iter(actual), tuple(expected)) == 3.0  # any iterable of tensors
    assert max_difference(list(actual)[:1], list(expected)[:1]) == 0.5


def test_max_difference_of_empty_tensors_is_zero_and_gradients_are_ignored():
    assert max_difference(torch.zeros(0, 3), torch.zeros(0, 3)) == 0.0
    w = torch.tensor([1.0, -1.0], requires_grad=True)
    assert max_difference(w * 2, torch.tensor([2.0, -2.5])) == 0.5


@pytest.mark.parametrize("shape_a, shape_b", [((3,), (4,)), ((3,), (1, 3)), ((2, 1), (2, 3)), ((), (1,))])
def test_max_difference_refuses_shapes_that_differ(shape_a, shape_b):
    """Broadcastable shapes such as (3,) and (1, 3) are refused too: no silent broadcasting."""
    with pytest.raises(ValueError, match="shapes differ"):
        max_difference(torch.zeros(shape_a), torch.zeros(shape_b))


def test_max_difference_refuses_sequences_of_different_lengths():
    with pytest.raises(ValueError, match="2 tensors compared with 1"):
        max_difference([torch.zeros(2), torch.zeros(2)], [torch.zeros(2)])
    with pytest.raises(ValueError, match="shapes differ"):  # a shape mismatch in the second pair
        max_difference([torch.zeros(2), torch.zeros(2)], [torch.zeros(2), torch.zeros(3)])


@pytest.mark.parametrize(
    "value, tolerance, text",
    [
        (1e-13, 1e-12, "below 1e-12"),
        (0.0, 1e-12, "below 1e-12"),
        (-5.0, 1e-12, "below 1e-12"),
        (5.9e-7, 6e-7, "below 6e-7"),
        (2.0, 1e3, "below 1e3"),
        (0.3, 1.0, "below 1e0"),
    ],
)
def test_below_prints_the_bound(value, tolerance, text):
    assert below(value, tolerance) == text


@pytest.mark.parametrize("value", [1e-12, 2e-12, 1.0, math.inf, math.nan])
def test_below_raises_when_the_value_is_not_below(value):
    """Equal to the bound is not below it, and NaN is below nothing."""
    with pytest.raises(AssertionError, match="is not below 1e-12"):
        below(value, 1e-12)


def test_below_names_the_real_value():
    with pytest.raises(AssertionError, match=r"^0\.00025 is not below 1e-4$"):
        below(2.5e-4, 1e-4)


def test_agree_on_equal_and_nearly_equal_tensors():
    a = torch.linspace(0, 1, 7, dtype=torch.float64)
    assert agree(a, a.clone()) == "max |difference| below 1e-12"
    assert agree(a, a + 1e-14) == "max |difference| below 1e-12"
    assert agree([a, 2 * a], [a, 2 * a + 1e-6], tolerance=1e-5) == "max |difference| below 1e-5"


def test_agree_raises_on_tensors_that_differ():
    a = torch.zeros(4, dtype=torch.float64)
    b = a.clone()
    b[2] = 1e-3
    with pytest.raises(AssertionError, match="0.001 is not below 1e-5"):
        agree(a, b, tolerance=1e-5)
    with pytest.raises(AssertionError):  # the default tolerance is 1e-12, so 1e-11 is too much
        agree(a, a + 1e-11)
    with pytest.raises(AssertionError):  # a difference in the second tensor of a sequence counts
        agree([a, a], [a, b])


def test_agree_raises_when_a_tensor_holds_nan():
    actual = torch.tensor([math.nan, 5.0], dtype=torch.float64)
    expected = torch.zeros(2, dtype=torch.float64)
    assert math.isnan(max_difference(actual, expected))
    with pytest.raises(AssertionError):
        agree(actual, expected)


def test_agree_raises_on_shapes_that_differ():
    with pytest.raises(ValueError, match="shapes differ"):
        agree(torch.zeros(3), torch.zeros(1, 3))


def test_show_error_prints_type_and_message(capsys):
    with show_error(ValueError):
        raise ValueError("  expected 3 features, got 4\n")
    assert capsys.readouterr().out == "ValueError: expected 3 features, got 4\n"


def test_show_error_prints_the_type_alone_without_a_message(capsys):
    with show_error(KeyError, ZeroDivisionError):
        raise ZeroDivisionError()
    assert capsys.readouterr().out == "ZeroDivisionError\n"


def test_show_error_prints_the_actual_subclass(capsys):
    with show_error(LookupError):
        [][1]  # noqa: B018
    assert capsys.readouterr().out == "IndexError: list index out of range\n"


def test_show_error_catches_any_exception_by_default(capsys):
    with show_error():
        raise RuntimeError("in-place write")
    assert capsys.readouterr().out == "RuntimeError: in-place write\n"


def test_show_error_fails_when_the_block_does_not_raise(capsys):
    with pytest.raises(AssertionError, match="expected the block to raise ValueError or TypeError"):
        with show_error(ValueError, TypeError):
            pass
    with pytest.raises(AssertionError, match="expected the block to raise Exception"):
        with show_error():
            pass
    assert capsys.readouterr().out == ""


def test_show_error_lets_other_errors_through(capsys):
    with pytest.raises(TypeError, match="not this one"):
        with show_error(ValueError):
            raise TypeError("not this one")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "value, text",
    [
        (2.345, "2.3e+00"),
        (1e-4, "1.0e-04"),
        (3.2e-8, "below 1e-7"),
        (1e-8, "below 1e-7"),
        (9.9e-5, "below 1e-4"),
        (0.0, "0"),
    ],
)
def test_magnitude_prints_digits_only_where_they_are_not_round_off(value, text):
    assert magnitude(value) == text


def test_magnitude_refuses_negative_and_nan():
    for bad in (-1e-9, math.nan):
        with pytest.raises(ValueError, match="value >= 0"):
            magnitude(bad)
