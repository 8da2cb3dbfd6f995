"""Synthetic identities and the identifier errors of administrative files.

Internal module of :mod:`nonrecours.simulate.sources`. Names are drawn from
pools with Zipf-like frequencies (a few very common surnames, a long tail),
so that a linkage model has to use term frequencies; errors are applied to
each file's copy of an identity independently, at the rates of
:class:`~nonrecours.simulate.sources.SourceParams`.

Identities are held as fixed-width byte arrays (names are upper-case ASCII)
so that drawing and damaging them is array arithmetic, with no per-row Python;
an empty value stands for a missing field. :func:`text_column` turns such an
array into a text column of a table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["draw_identities", "apply_errors", "text_column", "fixed_ids", "REFERENCE_DATE"]

#: Date at which ages are computed (end of the reference year of the sources).
REFERENCE_DATE = np.datetime64("2015-12-31")

_SURNAMES = [
    "MARTIN",
    "BERNARD",
    "THOMAS",
    "PETIT",
    "ROBERT",
    "RICHARD",
    "DURAND",
    "DUBOIS",
    "MOREAU",
    "LAURENT",
    "SIMON",
    "MICHEL",
    "LEFEBVRE",
    "LEROY",
    "ROUX",
    "DAVID",
    "BERTRAND",
    "MOREL",
    "FOURNIER",
    "GIRARD",
    "BONNET",
    "DUPONT",
    "LAMBERT",
    "FONTAINE",
    "ROUSSEAU",
    "VINCENT",
    "MULLER",
    "LEFEVRE",
    "FAURE",
    "ANDRE",
    "MERCIER",
    "BLANC",
    "GUERIN",
    "BOYER",
    "GARNIER",
    "CHEVALIER",
    "FRANCOIS",
    "LEGRAND",
    "GAUTHIER",
    "GARCIA",
    "PERRIN",
    "ROBIN",
    "CLEMENT",
    "MORIN",
    "NICOLAS",
    "HENRY",
    "ROUSSEL",
    "MATHIEU",
    "GAUTIER",
    "MASSON",
    "MARCHAND",
    "DUVAL",
    "DENIS",
    "DUMONT",
    "MARIE",
    "LEMAIRE",
    "NOEL",
    "MEYER",
    "DUFOUR",
    "MEUNIER",
    "BRUN",
    "BLANCHARD",
    "GIRAUD",
    "JOLY",
    "RIVIERE",
    "LUCAS",
    "BRUNET",
    "GAILLARD",
    "BARBIER",
    "ARNAUD",
    "MARTINEZ",
    "GERARD",
    "ROCHE",
    "RENARD",
    "SCHMITT",
    "ROY",
    "LEROUX",
    "COLIN",
    "VIDAL",
    "CARON",
    "PICARD",
    "ROGER",
    "FABRE",
    "AUBERT",
    "LEMOINE",
    "RENAUD",
    "DUMAS",
    "LACROIX",
    "OLIVIER",
    "PHILIPPE",
    "BOURGEOIS",
    "PIERRE",
    "BENOIT",
    "REY",
    "LECLERC",
    "PAYET",
    "ROLLAND",
    "LECLERCQ",
    "GUILLAUME",
    "LECOMTE",
    "LOPEZ",
    "JEAN",
    "DUPUY",
    "GUILLOT",
    "HUBERT",
    "BERGER",
    "CARPENTIER",
    "SANCHEZ",
]
_SYLLABLES = [
    "BER",
    "NAR",
    "DU",
    "MO",
    "LE",
    "FON",
    "TAI",
    "GIR",
    "ROU",
    "SEL",
    "CHA",
    "PEN",
    "TIER",
    "VIL",
    "LAR",
    "DIN",
    "BOU",
    "CHER",
    "MAR",
    "TEL",
    "GRAN",
    "JE",
    "AN",
    "COU",
    "LOT",
    "RI",
    "VAU",
    "DE",
    "MON",
    "PAS",
    "QUI",
    "GNON",
    "BRI",
    "SAU",
    "LIN",
    "GOT",
    "TRE",
    "MAS",
    "ZEL",
    "HOU",
]
_FIRST = {
    "F": [
        "MARIE",
        "NATHALIE",
        "ISABELLE",
        "SYLVIE",
        "CATHERINE",
        "FRANCOISE",
        "VALERIE",
        "CHRISTINE",
        "SANDRINE",
        "MONIQUE",
        "NICOLE",
        "STEPHANIE",
        "SOPHIE",
        "CELINE",
        "VERONIQUE",
        "CHANTAL",
        "PATRICIA",
        "AURELIE",
        "JULIE",
        "NADINE",
        "EMILIE",
        "CAROLINE",
        "LAURENCE",
        "SAMIA",
        "FATIMA",
        "CHRISTELLE",
        "JACQUELINE",
        "SEVERINE",
        "ANNE",
        "CORINNE",
        "MARTINE",
        "BRIGITTE",
        "AMANDINE",
        "MELANIE",
        "LAETITIA",
        "KARINE",
        "AICHA",
        "JEANNE",
        "SABRINA",
        "LUCIE",
        "VIRGINIE",
        "AUDREY",
        "PASCALE",
        "MAGALI",
        "HELENE",
        "SOLANGE",
        "YVETTE",
        "DENISE",
        "GISELE",
        "ODETTE",
    ],
    "M": [
        "JEAN",
        "PIERRE",
        "MICHEL",
        "PHILIPPE",
        "ALAIN",
        "NICOLAS",
        "CHRISTOPHE",
        "PATRICK",
        "DANIEL",
        "BERNARD",
        "FREDERIC",
        "LAURENT",
        "STEPHANE",
        "DAVID",
        "ERIC",
        "PASCAL",
        "THIERRY",
        "SEBASTIEN",
        "JULIEN",
        "OLIVIER",
        "CHRISTIAN",
        "FRANCOIS",
        "DIDIER",
        "ANDRE",
        "MOHAMED",
        "THOMAS",
        "GERARD",
        "BRUNO",
        "VINCENT",
        "JACQUES",
        "SYLVAIN",
        "DOMINIQUE",
        "GILLES",
        "YANNICK",
        "RACHID",
        "KARIM",
        "PAUL",
        "FRANCK",
        "LUDOVIC",
        "CEDRIC",
        "ANTOINE",
        "GUY",
        "ROGER",
        "MARCEL",
        "RENE",
        "HENRI",
        "LOUIS",
        "ROBERT",
        "MAURICE",
        "ABDEL",
    ],
}


def _surname_pool() -> np.ndarray:
    s = np.array(_SYLLABLES)
    two = np.char.add(s[:, None], s[None, :]).ravel()
    three = np.char.add(two[:, None], s[None, ::3]).ravel()
    pool = np.concatenate([np.array(_SURNAMES), two, three])
    _, first = np.unique(pool, return_index=True)
    return pool[np.sort(first)].astype("S")


_POOL: dict[str, np.ndarray] = {}


def _pool(name: str) -> np.ndarray:
    """The name pools as byte arrays (built once per process)."""
    if name not in _POOL:
        _POOL[name] = _surname_pool() if name == "surname" else np.array(_FIRST[name], dtype="S")
    return _POOL[name]


def _zipf_draw(rng: np.random.Generator, pool: np.ndarray, n: int, exponent: float, offset: float) -> np.ndarray:
    w = 1.0 / (np.arange(1, len(pool) + 1) + offset) ** exponent
    return pool[rng.choice(len(pool), size=n, p=w / w.sum())]


#: Zipf-Mandelbrot laws ``w_k = (k + offset) ** -exponent`` of surnames and first names: the most
#: common surname about 0.7 % of people (MARTIN: about 0.4 % in France), the most common first name 5 %.
_SURNAME_LAW = (1.1, 30.0)
_FIRST_LAW = (1.0, 10.0)

#: Age bands (simulator's AGE_BANDS) as (low, high) ages at the reference date.
_AGE_LIMITS = np.array([(18, 25), (25, 35), (35, 50), (50, 65), (65, 75), (75, 95)], dtype=float)
#: Width of the name fields (the longest pooled name has 12 letters).
_WIDTH = 16
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)


#: The numbers 0000 to 9999 as four ASCII digits each (a row per number).
_QUADS = _DIGITS[(np.arange(10_000)[:, None] // np.array([1000, 100, 10, 1])) % 10]


def fixed_ids(prefix: str, n: int, width: int = 8) -> np.ndarray:
    """``prefix`` followed by 1..n zero-padded to ``width`` digits, as a byte array (no per-row formatting).

    The digits are taken four at a time from :data:`_QUADS` (two divisions per id at ``width`` 8, not sixteen).
    """
    k = np.arange(1, n + 1, dtype=np.int64)
    p = len(prefix)
    out = np.empty((n, p + width), dtype=np.uint8)
    out[:, :p] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    end = p + width
    while end > p:  # the last four digits first
        w = min(4, end - p)
        out[:, end - w : end] = _QUADS[k % 10_000, 4 - w :]
        k //= 10_000
        end -= w
    return out.view(f"S{p + width}").ravel()


#: The two lower-case hexadecimal digits of each byte, as one 16-bit item (the first digit first in memory).
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype=np.uint16)


def _hex15(values: np.ndarray) -> np.ndarray:
    """60-bit integers written as 15 lower-case hexadecimal digits (byte array).

    Shifted left by 4 bits and stored big-endian, a number's 8 bytes are its 16 hexadecimal digits in pairs (the
    last one 0): two digits per table lookup.
    """
    be = (values.astype(np.uint64) << np.uint64(4)).astype(">u8").view(np.uint8)
    pairs = _HEX_PAIRS[be].view(np.uint8).reshape(len(values), 16)
    return np.ascontiguousarray(pairs[:, :15]).view("S15").ravel()


def text_column(values: np.ndarray) -> pd.Series:
    """A text column from a byte array; empty values are missing.

    A column whose values all fill the array's width or are empty (record ids, hashed numbers, dates, sex) is
    given to Arrow as it lies in memory: the offsets are multiples of the width and a missing value's slot keeps
    its zero bytes, as Arrow's format allows under a null (no scan of the values for their lengths, no copy).
    Others (names, communes) are converted by Arrow value by value.
    """
    missing = values == b""
    try:
        import pyarrow as pa
    except ImportError:  # without pyarrow: through numpy's unicode arrays
        return pd.Series(values.astype("U"), dtype="str").where(~missing)
    n, w = len(values), values.dtype.itemsize
    ascii_ = False
    if n and w and values.flags.c_contiguous:
        raw = values.view(np.uint8)
        ascii_ = bool(raw.max() < 128)  # hence valid UTF-8: no check of the text by Arrow
        # every value fills the width (its last byte is not zero) or is missing
        if ascii_ and (missing | (raw[w - 1 :: w] != 0)).all():
            some = bool(missing.any())
            validity = pa.py_buffer(np.packbits(~missing, bitorder="little")) if some else None
            offsets = pa.py_buffer(np.arange(0, (n + 1) * w, w, dtype=np.int64))
            arr = pa.Array.from_buffers(
                pa.large_string(), n, [validity, offsets, pa.py_buffer(values)], null_count=int(missing.sum())
            )
            return arr.to_pandas()
    # large strings, as pandas holds them (a string array would be copied into one)
    arr = pa.array(values, type=pa.large_binary(), mask=missing)
    return (arr.view(pa.large_string()) if ascii_ else arr.cast(pa.large_string())).to_pandas()


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` of integers by one sort (numpy 2.4's hash-based unique is 20 times slower here)."""
    s = np.sort(values)
    return s[np.concatenate(([True], s[1:] != s[:-1]))] if s.size else s


def draw_identities(rng: np.random.Generator, age_band: np.ndarray, n: int | None = None) -> dict:
    """True identities: ``nir`` (a pseudonymised number), ``surname``, ``first_name``, ``sex``, ``birth_date``.

    Parameters
    ----------
    rng : numpy.random.Generator
    age_band : numpy.ndarray of int
        Age-band code of each person (index in the simulator's ``AGE_BANDS``).
    n : int, optional
        Number of people (default ``len(age_band)``).

    Returns
    -------
    dict of str to numpy.ndarray
        Byte arrays for the text fields, ``birth_date`` as ``datetime64[D]``.

    Notes
    -----
    Surnames follow a Zipf–Mandelbrot law ``(k + 30) ** -1.1`` over about
    24,000 names (100 real common surnames first, then syllable compounds);
    first names ``(k + 10) ** -1`` over 50 names per sex. The number stands for the
    keyed hash of the social-security number that organisms exchange (a
    random 60-bit integer written in hexadecimal, unique).
    """
    n = len(age_band) if n is None else n
    female = rng.random(n) < 0.52
    surname = _zipf_draw(rng, _pool("surname"), n, *_SURNAME_LAW).astype(f"S{_WIDTH}")
    first = np.empty(n, dtype=f"S{_WIDTH}")
    for s, m in (("F", female), ("M", ~female)):  # two sexes, not a per-row loop
        first[m] = _zipf_draw(rng, _pool(s), int(m.sum()), *_FIRST_LAW)
    low, high = _AGE_LIMITS[age_band, 0], _AGE_LIMITS[age_band, 1]
    days = ((low + (high - low) * rng.random(n)) * 365.25).astype(np.int64)
    birth = REFERENCE_DATE - days.astype("timedelta64[D]")
    nir = _sorted_unique(rng.integers(1 << 40, 1 << 60, size=int(n * 1.01) + 16))
    nir = rng.permutation(nir)[:n]
    return {
        "nir": _hex15(nir),
        "surname": surname,
        "first_name": first,
        "sex": np.where(female, b"F", b"M").astype("S1"),
        "birth_date": birth,
    }


_LETTERS = np.frombuffer(b"ABCDEFGHIJKLMNOPRSTUVY", dtype=np.uint8)


def _typo(rng: np.random.Generator, names: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One substitution, deletion or transposition of adjacent letters in the masked names.

    The names are a byte matrix (one row per name); each kind of edit is one
    array operation on the rows it hits.
    """
    out = names.copy()
    idx = np.flatnonzero(mask & (names != b""))
    if idx.size == 0:
        return out
    w = names.dtype.itemsize
    mat = np.ascontiguousarray(names[idx]).view(np.uint8).reshape(idx.size, w).copy()
    lengths = (mat != 0).sum(axis=1)
    pos = (rng.random(idx.size) * np.maximum(lengths - 1, 1)).astype(np.int64)
    kind = rng.integers(0, 3, idx.size)
    letters = _LETTERS[rng.integers(0, len(_LETTERS), idx.size)]
    rows = np.arange(idx.size)
    sub = kind == 0
    mat[rows[sub], pos[sub]] = letters[sub]
    dele = kind == 1  # letters after the deleted one move left
    shifted = np.concatenate([mat[:, 1:], np.zeros((idx.size, 1), np.uint8)], axis=1)
    cols = np.arange(w)
    mat = np.where(dele[:, None] & (cols[None, :] >= pos[:, None]), shifted, mat)
    tr = (kind == 2) & (lengths >= 2)  # letters pos and pos + 1 exchanged
    a, b = mat[rows[tr], pos[tr]], mat[rows[tr], pos[tr] + 1]
    mat[rows[tr], pos[tr]] = b
    mat[rows[tr], pos[tr] + 1] = a
    out[idx] = np.ascontiguousarray(mat).view(f"S{w}").ravel()
    return out


def _date_text(dates: np.ndarray) -> np.ndarray:
    """ISO dates ``YYYY-MM-DD`` (years 1000 to 9999) as a byte array, written digit by digit.

    The days between the earliest and the latest date are written once and taken by position (numpy's calendar
    conversions cost more per date than the take): a person's birth dates span a century, 36,500 days, for
    hundreds of thousands of people.
    """
    days = dates.astype("datetime64[D]").astype(np.int64)
    if days.size > 1 and not np.isnat(dates).any():
        lo, hi = int(days.min()), int(days.max())
        if hi - lo < days.size:
            return _date_digits(np.arange(lo, hi + 1).astype("datetime64[D]"))[days - lo]
    return _date_digits(dates)


def _date_digits(dates: np.ndarray) -> np.ndarray:
    """:func:`_date_text` date by date."""
    years = dates.astype("datetime64[Y]")
    months = dates.astype("datetime64[M]")
    parts = np.column_stack(
        [years.astype(np.int64) + 1970, (months - years).astype(np.int64) + 1, (dates - months).astype(np.int64) + 1]
    )
    powers = np.array([1000, 100, 10, 1, 0, 10, 1, 0, 10, 1])
    field = np.array([0, 0, 0, 0, -1, 1, 1, -1, 2, 2])
    digits = _DIGITS[(parts[:, np.maximum(field, 0)] // np.maximum(powers, 1)) % 10]
    digits[:, field < 0] = ord("-")
    return np.ascontiguousarray(digits).view("S10").ravel()


def apply_errors(rng: np.random.Generator, ident: dict, params, *, with_birth_date: bool = True) -> tuple[dict, dict]:
    """A file's copy of identities with the identifier errors of ``params`` applied.

    Parameters
    ----------
    rng : numpy.random.Generator
    ident : dict of str to numpy.ndarray
        ``surname``, ``first_name``, ``sex`` (byte arrays), ``birth_date``
        (``datetime64[D]``) and any other columns, copied as they are (moves
        are applied by the caller).
    params : SourceParams
        Error rates.
    with_birth_date : bool
        Whether the file holds a birth date (the suppliers' lists do not).

    Returns
    -------
    dict, dict
        The noisy copy (birth date as ISO text, empty when missing) and the
        number of rows hit by each error.
    """
    n = len(ident["surname"])
    out = dict(ident)
    counts = {}
    married = (ident["sex"] == b"F") & (rng.random(n) < params.married_name_rate)
    surname = ident["surname"].copy()
    surname[married] = _zipf_draw(rng, _pool("surname"), int(married.sum()), *_SURNAME_LAW)
    out["surname"] = surname
    counts["married_name"] = int(married.sum())
    for col in ("surname", "first_name"):
        hit = rng.random(n) < params.typo_rate
        out[col] = _typo(rng, out[col], hit)
        counts[f"typo_{col}"] = int(hit.sum())
    if with_birth_date:
        text = _date_text(ident["birth_date"])
        mat = text.view(np.uint8).reshape(n, 10)
        day = (mat[:, 8].astype(np.int64) - 48) * 10 + mat[:, 9] - 48
        month = (mat[:, 5].astype(np.int64) - 48) * 10 + mat[:, 6] - 48
        swap = (rng.random(n) < params.swap_day_month_rate) & (day <= 12) & (day != month)
        mat[swap, 5:7], mat[swap, 8:10] = mat[swap, 8:10].copy(), mat[swap, 5:7].copy()
        counts["swap_day_month"] = int(swap.sum())
        miss = rng.random(n) < params.missing_rate
        text[miss] = b""
        out["birth_date"] = text
        counts["missing_birth_date"] = int(miss.sum())
    else:
        out.pop("birth_date", None)
    miss = rng.random(n) < params.missing_rate
    first = out["first_name"].copy()
    first[miss] = b""
    out["first_name"] = first
    counts["missing_first_name"] = int(miss.sum())
    return out, counts
