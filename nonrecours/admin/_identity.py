"""Synthetic identities and the identifier errors of administrative files.

Internal module of :mod:`nonrecours.admin.sources`. Names are drawn from
pools with Zipf-like frequencies (a few very common surnames, a long tail),
so that a linkage model has to use term frequencies; errors are applied to
each file's copy of an identity independently, at the rates of
:class:`~nonrecours.admin.sources.SourceParams`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["draw_identities", "apply_errors", "REFERENCE_DATE"]

#: Date at which ages are computed (end of the reference year of the sources).
REFERENCE_DATE = np.datetime64("2015-12-31")

_SURNAMES = ("MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL LEFEBVRE "
             "LEROY ROUX DAVID BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE ROUSSEAU VINCENT "
             "MULLER LEFEVRE FAURE ANDRE MERCIER BLANC GUERIN BOYER GARNIER CHEVALIER FRANCOIS LEGRAND GAUTHIER "
             "GARCIA PERRIN ROBIN CLEMENT MORIN NICOLAS HENRY ROUSSEL MATHIEU GAUTIER MASSON MARCHAND DUVAL DENIS "
             "DUMONT MARIE LEMAIRE NOEL MEYER DUFOUR MEUNIER BRUN BLANCHARD GIRAUD JOLY RIVIERE LUCAS BRUNET "
             "GAILLARD BARBIER ARNAUD MARTINEZ GERARD ROCHE RENARD SCHMITT ROY LEROUX COLIN VIDAL CARON PICARD "
             "ROGER FABRE AUBERT LEMOINE RENAUD DUMAS LACROIX OLIVIER PHILIPPE BOURGEOIS PIERRE BENOIT REY LECLERC "
             "PAYET ROLLAND LECLERCQ GUILLAUME LECOMTE LOPEZ JEAN DUPUY GUILLOT HUBERT BERGER CARPENTIER SANCHEZ").split()
_SYLLABLES = ("BER NAR DU MO LE FON TAI GIR ROU SEL CHA PEN TIER VIL LAR DIN BOU CHER MAR TEL GRAN JE AN COU "
              "LOT RI VAU DE MON PAS QUI GNON BRI SAU LIN GOT TRE MAS ZEL HOU").split()
_FIRST = {
    "F": ("MARIE NATHALIE ISABELLE SYLVIE CATHERINE FRANCOISE VALERIE CHRISTINE SANDRINE MONIQUE NICOLE "
          "STEPHANIE SOPHIE CELINE VERONIQUE CHANTAL PATRICIA AURELIE JULIE NADINE EMILIE CAROLINE LAURENCE "
          "SAMIA FATIMA CHRISTELLE JACQUELINE SEVERINE ANNE CORINNE MARTINE BRIGITTE AMANDINE MELANIE LAETITIA "
          "KARINE AICHA JEANNE SABRINA LUCIE VIRGINIE AUDREY PASCALE MAGALI HELENE SOLANGE YVETTE DENISE "
          "GISELE ODETTE").split(),
    "M": ("JEAN PIERRE MICHEL PHILIPPE ALAIN NICOLAS CHRISTOPHE PATRICK DANIEL BERNARD FREDERIC LAURENT "
          "STEPHANE DAVID ERIC PASCAL THIERRY SEBASTIEN JULIEN OLIVIER CHRISTIAN FRANCOIS DIDIER ANDRE "
          "MOHAMED THOMAS GERARD BRUNO VINCENT JACQUES SYLVAIN DOMINIQUE GILLES YANNICK RACHID KARIM PAUL "
          "FRANCK LUDOVIC CEDRIC ANTOINE GUY ROGER MARCEL RENE HENRI LOUIS ROBERT MAURICE ABDEL").split(),
}


def _surname_pool() -> np.ndarray:
    s = np.array(_SYLLABLES)
    two = np.char.add(s[:, None], s[None, :]).ravel()
    three = np.char.add(two[:, None], s[None, ::3]).ravel()
    pool = np.concatenate([np.array(_SURNAMES), two, three])
    _, first = np.unique(pool, return_index=True)
    return pool[np.sort(first)]


def _zipf_draw(rng: np.random.Generator, pool: np.ndarray, n: int, exponent: float, offset: float) -> np.ndarray:
    w = 1.0 / (np.arange(1, len(pool) + 1) + offset) ** exponent
    return pool[rng.choice(len(pool), size=n, p=w / w.sum())]


#: Zipf-Mandelbrot laws ``w_k = (k + offset) ** -exponent`` of surnames and first names: the most
#: common surname about 0.7 % of people (MARTIN: about 0.4 % in France), the most common first name 5 %.
_SURNAME_LAW = (1.1, 30.0)
_FIRST_LAW = (1.0, 10.0)

#: Age bands (simulator's AGE_BANDS) as (low, high) ages at the reference date.
_AGE_LIMITS = np.array([(18, 25), (25, 35), (35, 50), (50, 65), (65, 75), (75, 95)], dtype=float)


def draw_identities(rng: np.random.Generator, age_band: np.ndarray, n: int | None = None) -> pd.DataFrame:
    """True identities: ``nir`` (a pseudonymised number), surname, first name, sex, birth date.

    Parameters
    ----------
    rng : numpy.random.Generator
    age_band : numpy.ndarray of int
        Age-band code of each person (index in the simulator's ``AGE_BANDS``).
    n : int, optional
        Number of people (default ``len(age_band)``).

    Notes
    -----
    Surnames follow a Zipf–Mandelbrot law ``(k + 30) ** -1.1`` over about
    24,000 names (100 real common surnames first, then syllable compounds);
    first names ``(k + 10) ** -1`` over 50 names per sex. The number stands for the
    keyed hash of the social-security number that organisms exchange (a
    random 60-bit integer written in hexadecimal, unique).
    """
    n = len(age_band) if n is None else n
    sex = np.where(rng.random(n) < 0.52, "F", "M")
    surname = _zipf_draw(rng, _surname_pool(), n, *_SURNAME_LAW)
    first = np.empty(n, dtype=object)
    for s in ("F", "M"):  # two sexes, not a per-row loop
        m = sex == s
        first[m] = _zipf_draw(rng, np.array(_FIRST[s]), int(m.sum()), *_FIRST_LAW)
    low, high = _AGE_LIMITS[age_band, 0], _AGE_LIMITS[age_band, 1]
    days = ((low + (high - low) * rng.random(n)) * 365.25).astype(np.int64)
    birth = (REFERENCE_DATE - days.astype("timedelta64[D]"))
    nir = np.unique(rng.integers(1 << 40, 1 << 60, size=int(n * 1.01) + 16))
    nir = rng.permutation(nir)[:n]
    return pd.DataFrame({"nir": pd.Series(nir).map("{:015x}".format).astype("str"),
                         "surname": pd.Series(surname, dtype="str"), "first_name": pd.Series(first, dtype="str"),
                         "sex": pd.Series(sex, dtype="str"), "birth_date": birth})


_LETTERS = np.array(list("ABCDEFGHIJKLMNOPRSTUVY"))


def _typo(rng: np.random.Generator, names: pd.Series, mask: np.ndarray) -> pd.Series:
    """One substitution, deletion or transposition of adjacent letters in the masked names.

    Vectorised per (edit kind, position): names are short, so there are a few
    dozen groups whatever the number of rows.
    """
    out = names.astype(object).copy()
    idx = np.flatnonzero(mask & names.notna().to_numpy())
    if idx.size == 0:
        return out
    vals = pd.Series(names.to_numpy()[idx], dtype="str")
    lengths = vals.str.len().to_numpy()
    pos = (rng.random(idx.size) * np.maximum(lengths - 1, 1)).astype(int)
    kind = rng.integers(0, 3, idx.size)
    letters = _LETTERS[rng.integers(0, len(_LETTERS), idx.size)]
    res = np.empty(idx.size, dtype=object)
    for k, q in {(int(a), int(b)) for a, b in zip(*np.unique(np.stack([kind, pos]), axis=1))}:
        m = (kind == k) & (pos == q)
        sq = vals[m]
        if k == 0:      # substitution
            res[m] = (sq.str.slice(0, q) + letters[m] + sq.str.slice(q + 1)).to_numpy()
        elif k == 1:    # deletion
            res[m] = (sq.str.slice(0, q) + sq.str.slice(q + 1)).to_numpy()
        else:           # transposition of letters q and q + 1
            res[m] = (sq.str.slice(0, q) + sq.str.slice(q + 1, q + 2) + sq.str.slice(q, q + 1)
                      + sq.str.slice(q + 2)).to_numpy()
    out.iloc[idx] = res
    return out


def apply_errors(rng: np.random.Generator, ident: pd.DataFrame, params, *, surnames_pool: np.ndarray | None = None,
                 with_birth_date: bool = True) -> tuple[pd.DataFrame, dict]:
    """A file's copy of identities with the identifier errors of ``params`` applied.

    Parameters
    ----------
    rng : numpy.random.Generator
    ident : DataFrame
        ``surname``, ``first_name``, ``sex``, ``birth_date`` (datetime64[D]) and
        ``commune``/``x``/``y``/``lon``/``lat`` if present (moves are applied by the caller).
    params : SourceParams
        Error rates.
    with_birth_date : bool
        Whether the file holds a birth date (the suppliers' lists do not).

    Returns
    -------
    DataFrame, dict
        The noisy copy (birth date as ISO text) and the number of rows hit by each error.
    """
    n = len(ident)
    out = ident.copy()
    counts = {}
    married = (out["sex"].to_numpy() == "F") & (rng.random(n) < params.married_name_rate)
    pool = _surname_pool() if surnames_pool is None else surnames_pool
    out.loc[married, "surname"] = _zipf_draw(rng, pool, int(married.sum()), *_SURNAME_LAW)
    counts["married_name"] = int(married.sum())
    for col in ("surname", "first_name"):
        hit = rng.random(n) < params.typo_rate
        out[col] = _typo(rng, out[col], hit)
        counts[f"typo_{col}"] = int(hit.sum())
    if with_birth_date:
        bd = pd.to_datetime(out["birth_date"])
        swap = (rng.random(n) < params.swap_day_month_rate) & (bd.dt.day.to_numpy() <= 12) \
            & (bd.dt.day.to_numpy() != bd.dt.month.to_numpy())
        text = bd.dt.strftime("%Y-%m-%d")
        swapped = bd.dt.strftime("%Y-%d-%m")
        text = text.where(~swap, swapped)
        counts["swap_day_month"] = int(swap.sum())
        miss = rng.random(n) < params.missing_rate
        out["birth_date"] = text.where(~miss)
        counts["missing_birth_date"] = int(miss.sum())
    else:
        out = out.drop(columns="birth_date")
    miss = rng.random(n) < params.missing_rate
    out["first_name"] = out["first_name"].where(~miss, None)
    counts["missing_first_name"] = int(miss.sum())
    return out, counts
