"""rnnbook.data: the offline corpus, the vocabulary, the two batch iterators and the synthetic tasks.

The batch iterators are fed a random permutation of 0..N-1, so every token value names its position:
the tests recover where each window came from and check it against the docstrings."""

import hashlib

import pytest
import torch

from rnnbook.data import (
    Corpus,
    Vocab,
    _normalize,
    adding_problem,
    copy_task,
    load_corpus,
    neighbour_sum_task,
    random_batches,
    sequential_batches,
)

# ----------------------------------------------------------------------------- corpus and vocabulary


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


def test_normalize_lowercases_and_maps_typography_to_ascii():
    assert (
        _normalize("It\u2019s \u201cQuoted\u201d \u2014 5\u00b0 Stra\u00dfe\u2026")
        == 'it\'s "quoted" - 5 degrees strasse...'
    )
    assert _normalize("caf\u00e9 \u00c4\tA\nB") == "caf    a\nb"  # other non-ASCII and tabs become spaces


def test_corpus_is_the_pydoc_topics_in_sorted_order(corpus):
    from pydoc_data.topics import topics

    assert isinstance(corpus, Corpus)
    # Topics that are plain ASCII come through only lower-cased, in the sorted order of their names.
    position = 0
    names = [name for name in sorted(topics) if all(32 <= ord(ch) < 127 or ch == "\n" for ch in topics[name])]
    assert len(names) >= 20
    for name in names:
        found = corpus.text.find(topics[name].lower(), position)
        assert found >= position, name
        position = found + len(topics[name])
    assert len(corpus.text) == sum(len(_normalize(t)) for t in topics.values()) + len(topics) - 1


def test_corpus_text_is_lower_case_ascii(corpus):
    assert set(corpus.text) <= {"\n"} | {chr(c) for c in range(32, 127)}
    assert corpus.text == corpus.text.lower()


def test_corpus_split_vocabulary_and_fingerprint(corpus):
    text = corpus.text
    assert corpus.vocab.idx_to_token == sorted(set(text))
    assert len(corpus.train) == int(len(text) * 0.9)
    assert len(corpus.train) + len(corpus.valid) == len(text)
    assert corpus.vocab.decode(torch.cat([corpus.train, corpus.valid])) == text  # the valid split is the end
    assert corpus.train.dtype == corpus.valid.dtype == torch.long
    assert corpus.fingerprint == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert f"vocabulary of {len(corpus.vocab)}" in repr(corpus) and corpus.fingerprint in repr(corpus)


def test_corpus_is_the_same_every_time_and_valid_fraction_moves_the_split(corpus):
    other = load_corpus(valid_fraction=0.5)
    assert other.text == corpus.text and other.fingerprint == corpus.fingerprint
    assert len(other.train) == int(len(corpus.text) * 0.5)
    assert torch.equal(other.train, corpus.train[: len(other.train)])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_corpus_refuses_a_valid_fraction_outside_0_1(fraction):
    with pytest.raises(ValueError, match="valid_fraction"):
        load_corpus(valid_fraction=fraction)


def test_vocab_indices_follow_sorted_characters():
    vocab = Vocab("hello world")
    assert vocab.idx_to_token == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert len(vocab) == 8 and repr(vocab) == "Vocab(size=8)"
    assert vocab.token_to_idx == {" ": 0, "d": 1, "e": 2, "h": 3, "l": 4, "o": 5, "r": 6, "w": 7}
    encoded = vocab.encode("hello")
    assert encoded.dtype == torch.long and encoded.tolist() == [3, 2, 4, 4, 5]
    assert Vocab("dlrow olleh").idx_to_token == vocab.idx_to_token  # the same characters in any order


def test_vocab_round_trips(corpus):
    vocab = Vocab("abc\n ")
    for text in ["", "a", "cab\n", "  abba c"]:
        assert vocab.decode(vocab.encode(text)) == text
        assert vocab.decode(vocab.encode(text).tolist()) == text  # a list works as well as a tensor
    assert vocab.idx_to_token == ["\n", " ", "a", "b", "c"]
    assert vocab.decode([4, 2, 3]) == "cab" and vocab.decode(torch.tensor([1, 0])) == " \n"
    assert vocab.encode("").shape == (0,)
    piece = corpus.text[5000:7000]
    assert corpus.vocab.decode(corpus.vocab.encode(piece)) == piece


def test_vocab_refuses_unknown_characters():
    with pytest.raises(ValueError, match=r"\['x', 'z'\]"):
        Vocab("abc").encode("azbxz")


# ----------------------------------------------------------------------------- batch iterators


def numbered(N, seed=0):
    """A sequence of N distinct token values, and where each value sits in it."""
    ids = torch.randperm(N, generator=torch.Generator().manual_seed(seed))
    where = torch.empty_like(ids)
    where[ids] = torch.arange(N)
    return ids, where


ITERATORS = [random_batches, sequential_batches]
# (N, batch_size, num_steps): includes one row, one step, and N = (batch_size + 1) * num_steps, the
# shortest sequence that gives a full batch whatever the offset.
SIZES = [(103, 3, 5), (50, 1, 7), (40, 4, 1), (64, 2, 8), (16, 3, 4)]


@pytest.mark.parametrize("batches", ITERATORS)
@pytest.mark.parametrize("N, batch_size, num_steps", SIZES)
def test_windows_are_contiguous_and_targets_are_the_next_tokens(batches, N, batch_size, num_steps):
    ids, where = numbered(N)
    count = 0
    for X, Y in batches(ids, batch_size, num_steps, generator=torch.Generator().manual_seed(N)):
        assert X.shape == Y.shape == (batch_size, num_steps) and X.dtype == Y.dtype == torch.long
        pos = where[X]
        assert torch.equal(pos, pos[:, :1] + torch.arange(num_steps))  # each row is a window of the text
        assert torch.equal(Y, ids[pos + 1])  # the target is the token that follows
        count += 1
    assert count >= 1


def epoch_positions(batches, ids, where, batch_size, num_steps, seed):
    """Positions of the inputs of one epoch, shape (num_batches, batch_size, num_steps)."""
    g = torch.Generator().manual_seed(seed)
    return torch.stack([where[X] for X, _ in batches(ids, batch_size, num_steps, generator=g)])


@pytest.mark.parametrize("N, batch_size, num_steps", SIZES)
@pytest.mark.parametrize("seed", range(4))
def test_random_batches_cover_whole_pieces_once(N, batch_size, num_steps, seed):
    """Cut at an offset below num_steps into (N - offset - 1) // num_steps pieces; every full batch of
    pieces is used once, the leftover pieces (fewer than batch_size) not at all."""
    ids, where = numbered(N, seed)
    pos = epoch_positions(random_batches, ids, where, batch_size, num_steps, seed)
    starts = pos[:, :, 0].flatten()
    offset = int(starts[0]) % num_steps  # the grid must then be the one the first window sits on
    num_pieces = (N - offset - 1) // num_steps
    assert len(pos) == num_pieces // batch_size
    assert torch.all(starts % num_steps == offset)  # every window starts on the same grid
    assert len(set(starts.tolist())) == len(starts)  # no piece twice
    assert int(starts.max()) + num_steps <= offset + num_pieces * num_steps
    counts = torch.bincount(pos.flatten(), minlength=N)
    assert int(counts.max()) == 1 and int(counts.sum()) == len(pos) * batch_size * num_steps


def test_random_batches_shuffle_the_pieces():
    """With the pieces in text order, the starts of an epoch would increase."""
    ids, where = numbered(400)
    for seed in range(3):
        starts = epoch_positions(random_batches, ids, where, 4, 5, seed)[:, :, 0].flatten()
        assert not torch.equal(starts, starts.sort().values)


@pytest.mark.parametrize("N, batch_size, num_steps", SIZES)
@pytest.mark.parametrize("seed", range(4))
def test_sequential_batches_cover_each_stream_in_order(N, batch_size, num_steps, seed):
    """From an offset below num_steps, the text is split into batch_size streams of
    (N - offset - 1) // batch_size tokens; batch k holds steps k*num_steps ... of every stream."""
    ids, where = numbered(N, seed)
    pos = epoch_positions(sequential_batches, ids, where, batch_size, num_steps, seed)
    offset = int(pos[0, 0, 0])
    assert offset < num_steps
    stream_len = (N - offset - 1) // batch_size
    num_batches = stream_len // num_steps
    assert len(pos) == num_batches
    # row i of batch k starts at offset + i * stream_len + k * num_steps
    k, i = torch.meshgrid(torch.arange(num_batches), torch.arange(batch_size), indexing="ij")
    assert torch.equal(pos[:, :, 0], offset + i * stream_len + k * num_steps)
    # so row i of batch k + 1 continues row i of batch k
    assert torch.equal(pos[1:, :, 0], pos[:-1, :, -1] + 1)
    # every token is read once, except the ends of streams that do not fill a whole window
    p = torch.arange(N)
    read = (
        (p >= offset)
        & (p < offset + batch_size * stream_len)
        & ((p - offset) % stream_len < num_batches * num_steps)
    )
    assert torch.equal(torch.bincount(pos.flatten(), minlength=N), read.long())


@pytest.mark.parametrize("batches", ITERATORS)
def test_the_offset_is_random_over_every_value_below_num_steps(batches):
    """Without the random offset, every epoch would start at position 0 and the text would always be
    cut at the same places."""
    num_steps = 4
    ids, where = numbered(200)
    first_starts = set()
    for seed in range(40):
        pos = epoch_positions(batches, ids, where, 3, num_steps, seed)
        first_starts.add(int(pos[:, :, 0].min()) % num_steps)
    assert first_starts == set(range(num_steps))


@pytest.mark.parametrize("batches", ITERATORS)
def test_one_generator_gives_different_epochs_and_a_seed_repeats_them(batches):
    ids, where = numbered(200)
    g = torch.Generator().manual_seed(5)
    epochs = [torch.cat([X for X, _ in batches(ids, 3, 4, generator=g)]) for _ in range(6)]
    assert all(e.shape == (48, 4) for e in epochs)  # 16 batches of 3 rows whatever the offset
    assert any(not torch.equal(epochs[0], e) for e in epochs[1:])  # the generator moves on
    again = torch.cat([X for X, _ in batches(ids, 3, 4, generator=torch.Generator().manual_seed(5))])
    assert torch.equal(again, epochs[0])


@pytest.mark.parametrize("batches", ITERATORS)
def test_batch_iterators_check_their_arguments(batches):
    ids = torch.arange(20)
    with pytest.raises(ValueError, match="1-D"):
        next(batches(ids.reshape(4, 5), 1, 2))
    with pytest.raises(ValueError, match="positive"):
        next(batches(ids, 0, 2))
    with pytest.raises(ValueError, match="positive"):
        next(batches(ids, 2, 0))
    with pytest.raises(ValueError, match="needs at least 21"):
        next(batches(ids, 4, 5))  # 4 x 5 windows need 21 tokens: 20 inputs and one more target
    for seed in range(8):  # (4 + 1) * 5 tokens: a full batch whatever the offset (0 to 4)
        X, Y = next(batches(torch.arange(25), 4, 5, generator=torch.Generator().manual_seed(seed)))
        assert X.shape == (4, 5)


# ----------------------------------------------------------------------------- synthetic tasks


@pytest.mark.parametrize("num_steps", [2, 3, 7, 50])
def test_adding_problem_follows_its_definition(num_steps):
    n = 300
    X, y = adding_problem(n, num_steps, generator=torch.Generator().manual_seed(num_steps))
    assert X.shape == (n, num_steps, 2) and y.shape == (n,)
    values, marks = X[..., 0], X[..., 1]
    assert torch.all((values >= 0) & (values < 1))
    assert torch.all((marks == 0) | (marks == 1)) and torch.all(marks.sum(dim=1) == 2)
    half = num_steps // 2
    firsts, seconds = [], []
    for row in range(n):
        first, second = torch.nonzero(marks[row]).flatten().tolist()
        assert first < half <= second  # one mark in each half
        firsts.append(first)
        seconds.append(second)
        assert abs(float(y[row]) - (float(values[row, first]) + float(values[row, second]))) < 1e-6
    # the marks are drawn over the whole of each half
    assert set(firsts) == set(range(half)) and set(seconds) == set(range(half, num_steps))


def test_adding_problem_is_reproducible_and_checks_arguments():
    a = adding_problem(5, 8, generator=torch.Generator().manual_seed(1))
    b = adding_problem(5, 8, generator=torch.Generator().manual_seed(1))
    c = adding_problem(5, 8, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])
    with pytest.raises(ValueError):
        adding_problem(0, 8)
    with pytest.raises(ValueError):
        adding_problem(5, 1)


@pytest.mark.parametrize("num_symbols, length, delay", [(8, 5, 10), (1, 1, 1), (3, 4, 2), (5, 2, 1)])
def test_copy_task_follows_its_definition(num_symbols, length, delay):
    n = 200
    X, Y = copy_task(n, num_symbols, length, delay, generator=torch.Generator().manual_seed(length))
    total = length + delay + length
    assert X.shape == Y.shape == (n, total) and X.dtype == Y.dtype == torch.long
    symbols = X[:, :length]
    assert torch.all((symbols >= 1) & (symbols <= num_symbols))
    assert set(symbols.flatten().tolist()) == set(range(1, num_symbols + 1))
    go = num_symbols + 1
    for row in range(n):
        read = symbols[row].tolist()
        expected_x = read + [0] * (delay - 1) + [go] + [0] * length  # "go" at the last step of the delay
        expected_y = [0] * (length + delay) + read
        assert X[row].tolist() == expected_x and Y[row].tolist() == expected_y
    assert int(X.max()) == num_symbols + 1  # inputs take num_symbols + 2 values, 0 .. num_symbols + 1


@pytest.mark.parametrize("bad", [dict(num_examples=0), dict(num_symbols=0), dict(length=0), dict(delay=0)])
def test_copy_task_checks_arguments(bad):
    args = dict(num_examples=2, num_symbols=3, length=2, delay=2) | bad
    with pytest.raises(ValueError):
        copy_task(**args)


@pytest.mark.parametrize("num_steps, num_symbols", [(1, 2), (2, 3), (9, 2), (12, 4), (6, 7)])
def test_neighbour_sum_labels_follow_their_definition(num_steps, num_symbols):
    n = 100
    X, Y = neighbour_sum_task(n, num_steps, num_symbols, generator=torch.Generator().manual_seed(num_steps))
    assert X.shape == Y.shape == (n, num_steps)
    assert set(X.flatten().tolist()) == set(range(num_symbols))
    for x, y in zip(X.tolist(), Y.tolist()):
        left = [0] + x[:-1]  # the missing neighbours at the two ends count as 0
        right = x[1:] + [0]
        assert y == [(a + b) % num_symbols for a, b in zip(left, right)]


def test_neighbour_sum_checks_arguments():
    for bad in [(0, 5, 4), (5, 0, 4), (5, 5, 1)]:
        with pytest.raises(ValueError):
            neighbour_sum_task(*bad)
