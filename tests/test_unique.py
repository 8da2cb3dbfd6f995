"""The proof of unique ids by sorted 64-bit fingerprints (issue 31): equal to a plain Python reference, never a wrong
verdict, and the exact check behind it when fingerprints repeat."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from nonrecours import _unique
from nonrecours._checks import check_unique_ids
from nonrecours._unique import surely_unique
from nonrecours.errors import InputError


def _reference(text: str) -> int:
    """FNV-1a a little-endian 8-byte word at a time, from the length times the golden-ratio constant (the Notes)."""
    b = text.encode()
    h = len(b) * 0x9E3779B97F4A7C15 % 2**64
    for j in range(0, len(b), 8):
        h = ((h ^ int.from_bytes(b[j : j + 8].ljust(8, b"\0"), "little")) * 0x100000001B3) % 2**64
    return h


def _arrow(strings, large=False, cut=2000, skip=3):
    """Arrow-backed pandas strings in two chunks, the first a slice (buffers shared with the rows before it)."""
    kind = pa.large_string() if large else pa.string()
    ca = pa.chunked_array([pa.array(strings[:cut], kind).slice(skip), pa.array(strings[cut:], kind)])
    return pd.Series(ca, dtype=pd.ArrowDtype(kind) if large else pd.StringDtype("pyarrow")).array


@pytest.mark.parametrize("lengths", [(0, 40), (10, 11), (1, 2), (8, 9), (16, 17), (3, 30)])
@pytest.mark.parametrize("large", [False, True])
def test_fingerprints_equal_python_reference(lengths, large):
    rng = np.random.default_rng(lengths[0] * 100 + lengths[1])
    alphabet = list("abcdefghij0123456789é")
    strings = ["".join(rng.choice(alphabet, rng.integers(*lengths))) for _ in range(3000)]
    got = _unique._fingerprints(_arrow(strings, large=large))
    assert got is not None and got.dtype == np.uint64
    assert got.tolist() == [_reference(s) for s in strings[3:]]


@pytest.mark.parametrize("width", [1, 3, 7, 8, 9, 10, 15, 16, 17, 24, 31])
@pytest.mark.parametrize("n", [1, 2, 5, 40])
@pytest.mark.parametrize("large", [False, True])
def test_equal_length_fingerprints_equal_python_reference(width, n, large):
    """Issue 31: ids of one byte length (most id files) are read a word at a time through strided views; the last
    strings' words, which could run past the data, from their own bytes: every width, slices, the data's end."""
    rng = np.random.default_rng(width * 1000 + n)
    alphabet = list("abcdefghijXYZ0123456789")
    strings = ["".join(rng.choice(alphabet, width)) for _ in range(n + 6)]
    kind = pa.large_string() if large else pa.string()
    whole = pa.array(strings, kind)
    for part, expected in ((whole, strings), (whole.slice(3, n), strings[3 : 3 + n]), (whole.slice(6), strings[6:])):
        got = _unique._string_fingerprints(part, large=large)
        assert got.tolist() == [_reference(s) for s in expected]
    assert _unique._fingerprints(_arrow(strings * 2, large=large, cut=n, skip=1)).tolist() == [
        _reference(s) for s in (strings * 2)[1:]
    ]


def test_verdicts():
    assert surely_unique(pd.array(["a", "b", "ab", "", "ba"], dtype="str"))
    assert not surely_unique(pd.array(["a", "b", "a"], dtype="str"))
    assert not surely_unique(pd.array(["", "x", ""], dtype="str"))
    assert surely_unique(pd.array([], dtype="str")) and surely_unique(pd.array(["only"], dtype="str"))
    assert surely_unique(np.array([3, 1, 2])) and not surely_unique(np.array([3, 1, 3]))
    assert surely_unique(pd.array([3, 1, 2], dtype="int64[pyarrow]"))
    assert not surely_unique(pd.array(["a", "b"], dtype=object))  # not proved here: the exact check decides
    assert not surely_unique(pd.Series(["a", "b"], dtype="category"))
    # repeated ids far apart, in different chunks, of every length
    strings = [f"R{i:0{w}d}" for w in (3, 9, 20) for i in range(700)]
    assert surely_unique(_arrow(strings, skip=0))
    assert not surely_unique(_arrow(strings + [strings[5]], skip=0))


def test_no_proof_falls_back_to_the_exact_check(monkeypatch):
    """Every fingerprint equal (as if all collided): unique ids still pass, repeated ones are still given by line."""
    monkeypatch.setattr(_unique, "_fingerprints", lambda arr: np.zeros(len(arr), dtype=np.uint64))
    ids = pd.Series([f"SECRET{i:04d}" for i in range(20)], dtype="str")
    check_unique_ids(pd.DataFrame({"id": ids}), "id")
    ids[[4, 11]] = ids[0]
    with pytest.raises(InputError, match="3 rows share an id, on lines 2, 6, 13") as err:
        check_unique_ids(pd.DataFrame({"id": ids}), "id")
    assert "SECRET" not in str(err.value)
