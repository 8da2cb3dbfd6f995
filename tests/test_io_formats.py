"""Reading real files: CSV dialects and encodings detected, Excel/Stata/SPSS/SAS, BOM-tolerant TOML.

The done-when of issue 13: the same sample saved as UTF-8 CSV, French-Excel
CSV (cp1252, ';', decimal comma), .xlsx, .dta and Parquet gives byte-identical
``nonrecours estimate`` outputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.errors import InputError, OptionError
from nonrecours.io import ReadOptions, WriteOptions, detect_csv, detect_encoding, read_table, write_table

RUN = CliRunner()


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    rng = np.random.default_rng(13)
    psu = np.repeat(np.arange(40), 12)
    n = psu.size
    df = pd.DataFrame(
        {
            "id": [f"{i:05d}" for i in range(n)],
            "stratum": [f"s{p // 10}" for p in psu],
            "psu": [f"u{p}" for p in psu],
            "territory": [f"0{p % 5}" for p in psu],  # leading zeros: codes must stay text
            "commune": rng.choice(["Évry-Courcouronnes", "Saint-Étienne", "Besançon", "Nîmes"], n),
            "is_qpv": rng.integers(0, 2, n),
            # weights with 12 significant digits, as in real files: openpyxl stores 16 significant digits
            # (Excel shows 15), so a full 17-digit double would not survive an .xlsx; every other format is exact
            "weight": np.round(rng.uniform(5, 15, n), 10),
            "fpc": 0.25,
        }
    )
    for r in ("cmuc", "acs"):
        y = rng.integers(0, 2, n).astype(float)
        y[rng.uniform(size=n) < 0.2] = np.nan
        df[r] = y
    return df


def _save_all(df: pd.DataFrame, folder) -> dict[str, object]:
    import pyreadstat

    paths = {}
    p = folder / "utf8.csv"
    df.to_csv(p, index=False, float_format="%.17g")
    paths["csv"] = p
    p = folder / "excel_fr.csv"
    p.write_bytes(
        df.to_csv(index=False, sep=";", decimal=",", float_format="%.17g", lineterminator="\r\n").encode("cp1252")
    )
    paths["csv-fr"] = p
    p = folder / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + df.to_csv(index=False, sep="\t", float_format="%.17g").encode("utf-8"))
    paths["csv-tab-bom"] = p
    p = folder / "sample.xlsx"
    df.to_excel(p, index=False, engine="openpyxl")
    paths["xlsx"] = p
    p = folder / "sample.dta"
    pyreadstat.write_dta(df, str(p))
    paths["dta"] = p
    p = folder / "sample.sav"
    pyreadstat.write_sav(df, str(p))
    paths["sav"] = p
    p = folder / "sample.xpt"
    pyreadstat.write_xport(df, str(p), file_format_version=8)  # SAS transport (v8: names longer than 8)
    paths["xpt"] = p
    p = folder / "sample.parquet"
    df.to_parquet(p, index=False)
    paths["parquet"] = p
    return paths


def test_same_sample_in_every_format_gives_byte_identical_estimates(sample, tmp_path):
    paths = _save_all(sample, tmp_path)
    outputs = {}
    for kind, path in paths.items():
        out = tmp_path / f"est_{kind}.csv"
        res = RUN.invoke(
            app,
            ["estimate", str(path), "--rights", "cmuc,acs", "--by", "territory", "--gap", "is_qpv", "--out", str(out)],
        )
        assert res.exit_code == 0, (kind, res.output)
        outputs[kind] = (out.read_bytes(), (tmp_path / f"est_{kind}_gap.csv").read_bytes())
    reference = outputs["csv"]
    assert b"\n01," in reference[0]  # territory codes kept their leading zero
    for kind, got in outputs.items():
        assert got == reference, kind


def test_read_table_gives_the_same_frame(sample, tmp_path):
    paths = _save_all(sample, tmp_path)
    ref = read_table(paths["csv"])
    for kind, path in paths.items():
        got = read_table(path)
        pd.testing.assert_frame_equal(got[ref.columns], ref, check_dtype=False, obj=kind)
        assert got["commune"].tolist() == sample["commune"].tolist(), kind  # accents survive every encoding


def test_detection_and_its_errors():
    assert detect_encoding("é".encode("cp1252")) == "cp1252"
    assert detect_encoding(b"\xef\xbb\xbfa") == "utf-8-sig"
    assert detect_encoding("é".encode()) == "utf-8"
    assert detect_encoding(b"\x81\xe9") == "latin-1"  # 0x81 is undefined in cp1252
    assert detect_csv("a\tb\n1\t2,5\n") == ("\t", ",")
    assert detect_csv("a;b\n1;2\n") == (";", ".")
    assert detect_csv("a;b\n1;2.5\n") == (";", ".")
    with pytest.raises(InputError, match="parameter sep"):
        detect_csv("a,b;c\n1,2;3\n")  # ',' and ';' both split every line into the same number of columns
    with pytest.raises(InputError, match="parameter decimal"):
        detect_csv("a;b;c\n1,5;2.5;x\n")
    assert detect_csv("a,b;c\n1,2;3\n", sep=";") == (";", ",")
    assert detect_csv("a,b;c\n1,2;3\n", sep=";", decimal=".") == (";", ".")


def test_options_override_detection_and_errors_name_them(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes("territory;w\n01;2,5\n02;3\n".encode("cp1252"))
    df = read_table(p)
    assert df["territory"].tolist() == ["01", "02"] and df["w"].tolist() == [2.5, 3.0]
    forced = read_table(p, read=ReadOptions(decimal="."))
    assert forced["w"].tolist() == ["2,5", "3"]
    q = tmp_path / "amb.csv"
    q.write_text("a,b;c\n1,2;3\n")
    with pytest.raises(InputError, match="parameter sep"):
        read_table(q)
    res = RUN.invoke(app, ["estimate", str(q), "--rights", "b"])
    assert res.exit_code == 2 and "--sep" in res.output and res.output[-1] == "\n" and res.output.count("\n") == 1
    latin = tmp_path / "latin.csv"
    latin.write_bytes("commune,w\nÉvry,1\n".encode("latin-1"))
    with pytest.raises(InputError, match="parameter encoding"):
        read_table(latin, read=ReadOptions(encoding="utf-8"))
    assert read_table(latin)["commune"].tolist() == ["Évry"]
    with pytest.raises(OptionError, match="parameter sep"):
        ReadOptions(sep="|")
    with pytest.raises(OptionError, match="parameter sheet"):
        xl = tmp_path / "x.xlsx"
        write_table(pd.DataFrame({"a": [1]}), xl)
        read_table(xl, read=ReadOptions(sheet="nope"))
    assert read_table(xl, read=ReadOptions(sheet="1"))["a"].tolist() == [1]


def test_missing_reader_is_named(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name in ("pyreadstat", "openpyxl"):
            raise ImportError(name)
        return real(name, *a, **k)

    (tmp_path / "x.dta").write_bytes(b"x")
    (tmp_path / "x.xlsx").write_bytes(b"x")
    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(OptionError, match=r"pyreadstat.*nonrecours\[files\]"):
        read_table(tmp_path / "x.dta")
    with pytest.raises(OptionError, match=r"openpyxl.*nonrecours\[files\]"):
        read_table(tmp_path / "x.xlsx")


def test_french_csv_and_excel_outputs(sample, tmp_path):
    out = tmp_path / "fr.csv"
    write_table(sample.head(3), out, csv_style=WriteOptions(sep=";", decimal=","))
    text = out.read_text()
    assert text.startswith("id;stratum;") and "," in text.splitlines()[1]
    back = read_table(out)
    pd.testing.assert_frame_equal(back, read_table(_roundtrip(sample.head(3), tmp_path)), check_dtype=False)
    (tmp_path / "a").mkdir()
    x1, x2 = tmp_path / "t.xlsx", tmp_path / "a" / "t.xlsx"
    write_table(sample, x1)
    write_table(sample, x2)
    assert x1.read_bytes() == x2.read_bytes()  # reproducible workbooks


def _roundtrip(df, tmp_path):
    p = tmp_path / "rt.csv"
    df.to_csv(p, index=False)
    return p


def test_study_file_with_bom_and_input_section(tmp_path):
    from nonrecours.errors import ConfigError
    from nonrecours.study import load_study
    from nonrecours.study.demo import example_study

    for name in ("recipients.csv", "territories.csv", "truth.csv"):
        (tmp_path / "population").mkdir(exist_ok=True)
        (tmp_path / "population" / name).write_text("id\n")
    text = example_study(seed=3).replace(
        "[frame]", '[input]\nsep = ";"\ndecimal = ","\nencoding = "cp1252"\n\n[frame]', 1
    )
    p = tmp_path / "study.toml"
    p.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # saved by a Windows editor
    cfg = load_study(p)
    assert cfg.input.read_options() == ReadOptions(sep=";", decimal=",", encoding="cp1252")
    p.write_bytes(text.replace('"cp1252"', '"klingon"').encode("utf-8"))
    with pytest.raises(ConfigError, match="input.encoding"):
        load_study(p)
    p.write_bytes(text.replace('sep = ";"', 'sep = "|"').encode("utf-8"))
    with pytest.raises(ConfigError, match="input.sep"):
        load_study(p)


def test_cli_writes_xlsx_and_french_csv(sample, tmp_path):
    src = tmp_path / "s.csv"
    sample.to_csv(src, index=False)
    xl, fr, plain = tmp_path / "e.xlsx", tmp_path / "fr.csv", tmp_path / "e.csv"
    for out, extra in ((xl, []), (plain, []), (fr, ["--sep", ";", "--decimal", ","])):
        res = RUN.invoke(
            app, ["estimate", str(src), "--rights", "cmuc", "--by", "territory", "--out", str(out), *extra]
        )
        if extra:  # the input is plain CSV: the options also set how it is read, so give it in the French dialect
            frs = tmp_path / "s_fr.csv"
            write_table(read_table(src), frs, csv_style=WriteOptions(";", ","))
            res = RUN.invoke(
                app, ["estimate", str(frs), "--rights", "cmuc", "--by", "territory", "--out", str(out), *extra]
            )
        assert res.exit_code == 0, res.output
    ref = read_table(plain)
    pd.testing.assert_frame_equal(read_table(xl), ref, check_dtype=False)  # Excel keeps no int/float type
    text = fr.read_text()
    assert text.splitlines()[0].startswith("territory;right;n;estimate") and ";0," in text
    pd.testing.assert_frame_equal(read_table(fr), ref)
