"""The text-set helpers (`nonrecours._text`) against pandas' own `isin` and `get_indexer` (issue 31, item 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nonrecours._text import index_text, isin_text, same_text


def _text(rng: np.random.Generator, n: int, missing: bool) -> pd.Series:
    s = pd.Series(rng.integers(0, 500, n).astype(str), dtype="str")
    if missing:
        s[rng.random(n) < 0.1] = np.nan
    return s


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_isin_text_is_pandas_isin(seed: int, missing: bool) -> None:
    rng = np.random.default_rng(seed)
    values, others = _text(rng, 2000, True), _text(rng, 300, missing)
    expected = values.isin(others).to_numpy()
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(isin_text(values, others), expected)
    np.testing.assert_array_equal(isin_text(values, []), np.zeros(len(values), dtype=bool))


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_index_text_is_get_indexer(seed: int, missing: bool) -> None:
    rng = np.random.default_rng(seed)
    values = _text(rng, 2000, True)
    others = _text(rng, 400, missing).drop_duplicates()
    expected = pd.Index(others).get_indexer(values)
    assert (expected >= 0).any() and (expected < 0).any()
    got = index_text(values, others)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)


def test_numbers_are_compared_as_text() -> None:
    np.testing.assert_array_equal(isin_text([1, 2, 3], ["2", "3"]), [False, True, True])
    np.testing.assert_array_equal(index_text(["3", "1"], [1, 2, 3]), [2, 0])


def test_release_arrow_trims_the_heap_where_there_is_glibc() -> None:
    """``release_arrow(heap=True)`` also trims the C library's free heap (glibc's ``malloc_trim``): the DuckDB
    results let go by the national phase stay resident otherwise (benchmarks/RESULTS.md, issue 31 item 5)."""
    import platform
    import sys

    from nonrecours._text import _trim_heap, release_arrow

    release_arrow()
    release_arrow(heap=True)
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert _trim_heap() is True


def test_text_lookups_take_columns_of_several_chunks() -> None:
    """A text column of several Arrow chunks (the recipients' ids read from several organisms' files and kept as
    they are) is looked up as one array."""
    chunked = pd.concat([pd.Series(["a", "b"], dtype="str"), pd.Series(["c", None], dtype="str")], ignore_index=True)
    assert index_text(["c", "a", "z"], chunked).tolist() == [2, 0, -1]
    assert isin_text(chunked, ["c"]).tolist() == [False, False, True, False]
    assert same_text(chunked, pd.Series(["a", "b", "c", None], dtype="str"))
    assert not same_text(chunked, pd.Series(["a", "b", "d", None], dtype="str"))


def test_same_text_of_chunked_columns():
    """A text column of several Arrow chunks (a concatenation) compares by its values, not its chunks (it raised
    a TypeError beside a column of one chunk)."""
    chunked = pd.concat([pd.Series(["x", "y"], dtype="str"), pd.Series(["z", None], dtype="str")], ignore_index=True)
    whole = pd.Series(["x", "y", "z", None], dtype="str")
    assert same_text(chunked, whole) and same_text(whole, chunked) and same_text(chunked, chunked)
    assert not same_text(chunked, whole.iloc[::-1]) and not same_text(chunked, whole.fillna("w"))


@pytest.mark.parametrize("missing_code", [False, True])
@pytest.mark.parametrize("repeated", [False, True])
def test_factorize_both_is_one_factorize_of_both_columns(repeated, missing_code):
    """The ids' codes and the others' (texts of no id repeated and out of order, missing texts) are those of one
    factorize of both columns, whether the ids are proved distinct (looked up) or not (the factorize itself), with
    missing texts coded or not; the labels are those of the ids' codes."""
    from nonrecours._text import factorize_both

    el = pd.Series(["r3", "r1", "r2", "r1" if repeated else "r0"], dtype="str")
    id_l = pd.Series(["r2", "x9", None, "r3", "x1", "x9", "r0", None, "x1"], dtype="str")
    ids, lk_ids, size, labels, distinct = factorize_both(el, id_l, missing_code=missing_code)
    want, want_labels = pd.factorize(pd.concat([el, id_l], ignore_index=True), use_na_sentinel=not missing_code)
    assert distinct is not repeated
    np.testing.assert_array_equal(ids, want[: len(el)])
    np.testing.assert_array_equal(lk_ids, want[len(el) :])
    assert size == len(want_labels)
    assert list(labels) == list(want_labels[: int(want[: len(el)].max()) + 1])
