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


def test_r_and_sas_missing_markers_give_the_clean_estimate(sample, tmp_path):
    """R's write.csv writes NA for a missing value, SAS and Stata exports write '.': same estimate as empty cells."""
    df = sample.copy()
    df.loc[df.index[::7], "weight"] = np.nan  # a missing weight too: refused alike whatever the marker
    clean = tmp_path / "clean.csv"
    sample.to_csv(clean, index=False, float_format="%.17g")
    files = {"clean": clean}
    for kind, marker in (("r", "NA"), ("sas", ".")):
        p = tmp_path / f"{kind}.csv"
        sample.to_csv(p, index=False, float_format="%.17g", na_rep=marker)
        assert f",{marker}," in p.read_text() or f",{marker}\n" in p.read_text()
        files[kind] = p
    p = tmp_path / "r_fr.csv"  # R's write.csv2: ';' and decimal commas, NA
    sample.to_csv(p, index=False, sep=";", decimal=",", float_format="%.17g", na_rep="NA")
    files["r-fr"] = p
    outputs = {}
    for kind, path in files.items():
        out = tmp_path / f"est_{kind}.csv"
        res = RUN.invoke(
            app,
            ["estimate", str(path), "--rights", "cmuc,acs", "--by", "territory", "--gap", "is_qpv", "--out", str(out)],
        )
        assert res.exit_code == 0, (kind, res.output)
        outputs[kind] = (out.read_bytes(), (tmp_path / f"est_{kind}_gap.csv").read_bytes())
    for kind, got in outputs.items():
        assert got == outputs["clean"], kind
    pd.testing.assert_frame_equal(read_table(files["r"]), read_table(clean))
    pd.testing.assert_frame_equal(read_table(files["sas"]), read_table(clean))


def test_missing_markers_only_where_they_cannot_be_a_value(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("id,territory,label,x,y\n1,NA,NA,1.5,NA\n2,01,b,.,2\n3,02,.,NA,\n")
    df = read_table(p)
    assert df["territory"].tolist()[0] == "NA"  # a code column keeps it: 'NA' may be a code
    assert df["label"].tolist() == ["NA", "b", "."]  # a text column keeps them
    assert df["x"].dtype.kind == "f" and df["x"].isna().tolist() == [False, True, True]
    assert df["y"].isna().tolist() == [True, False, True]
    # --na sets the list: without markers, 'NA' stays text; 'manquant' becomes missing; a number is refused
    assert not pd.api.types.is_numeric_dtype(read_table(p, read=ReadOptions(na=""))["x"])
    q = tmp_path / "n.csv"
    q.write_text("id,x\n1,manquant\n2,3\n")
    assert read_table(q, read=ReadOptions(na="NA, manquant"))["x"].isna().tolist() == [True, False]
    with pytest.raises(OptionError, match="parameter na.*'-99'"):
        ReadOptions(na="NA,-99")
    xl = tmp_path / "m.xlsx"
    pd.DataFrame({"id": ["1", "2", "3"], "x": [1.5, "NA", "."], "t": ["a", "NA", "b"]}).to_excel(xl, index=False)
    got = read_table(xl)
    assert got["x"].isna().tolist() == [False, True, True] and got["t"].tolist() == ["a", "NA", "b"]


def test_a_right_column_with_markers_names_them_by_kind_not_by_value(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("id,weight,cmuc\n1,2,NA\n2,2,1\n3,2,oui\n4,2,secret\n5,2,0\n")
    res = RUN.invoke(app, ["estimate", str(p), "--rights", "cmuc", "--weight", "weight", "--na", ""])
    assert res.exit_code != 0
    err = " ".join(res.output.split())
    assert "text 'NA' (R's missing marker)" in err and "text values (2 distinct)" in err
    assert "oui" not in err and "secret" not in err and "--na" in err
    # by default too: other text in the column means 'NA' may be a value there, so it is named, not dropped
    res = RUN.invoke(app, ["estimate", str(p), "--rights", "cmuc", "--weight", "weight"])
    assert res.exit_code != 0 and "text 'NA' (R's missing marker)" in " ".join(res.output.split())
    p.write_text("id,weight,cmuc\n1,2,NA\n2,2,1\n3,2,.\n4,2,1\n5,2,0\n")
    res = RUN.invoke(
        app, ["estimate", str(p), "--rights", "cmuc", "--weight", "weight", "--min-n", "0", "--allow-below-threshold"]
    )
    assert res.exit_code == 0, res.output


def test_out_options_turn_a_comma_csv_into_a_french_csv_in_one_command(sample, tmp_path):
    """Issue 28: --sep/--decimal set input and output together; --out-sep/--out-decimal/--out-encoding set outputs."""
    src = tmp_path / "s.csv"
    sample.to_csv(src, index=False)
    plain, fr, sig = tmp_path / "e.csv", tmp_path / "fr.csv", tmp_path / "sig.csv"
    base = ["estimate", str(src), "--rights", "cmuc", "--by", "territory", "--gap", "is_qpv"]
    for out, extra in (
        (plain, []),
        (fr, ["--out-decimal", ","]),
        (sig, ["--out-sep", "tab", "--out-encoding", "utf-8-sig"]),
    ):
        res = RUN.invoke(app, [*base, "--out", str(out), *extra])
        assert res.exit_code == 0, res.output
    text = fr.read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("territory;right;n;estimate") and ";0," in text
    assert (tmp_path / "fr_gap.csv").read_text().count(";") > 0  # every CSV output of the command
    assert sig.read_bytes().startswith(b"\xef\xbb\xbfterritory\tright")
    ref = read_table(plain)
    pd.testing.assert_frame_equal(read_table(fr), ref)
    pd.testing.assert_frame_equal(read_table(sig), ref)
    # a French input gives a plain CSV with --out-sep ',' alone (the decimal mark follows)
    frs = tmp_path / "s_fr.csv"
    write_table(read_table(src), frs, csv_style=WriteOptions(";", ","))
    back = tmp_path / "back.csv"
    res = RUN.invoke(
        app,
        [
            "estimate",
            str(frs),
            "--rights",
            "cmuc",
            "--by",
            "territory",
            "--gap",
            "is_qpv",
            "--sep",
            ";",
            "--decimal",
            ",",
            "--out-sep",
            ",",
            "--out",
            str(back),
        ],
    )
    assert res.exit_code == 0, res.output
    assert back.read_bytes() == plain.read_bytes()
    # errors name the output options
    for extra, flag in (
        (["--out-sep", "|"], "--out-sep"),
        (["--out-decimal", ";"], "--out-decimal"),
        (["--out-sep", ";", "--out-decimal", ";"], "--out-decimal"),
        (["--out-encoding", "klingon"], "--out-encoding"),
    ):
        res = RUN.invoke(app, [*base, "--out", str(tmp_path / "x.csv"), *extra])
        assert res.exit_code == 2 and f"option {flag}" in res.stderr, (extra, res.output)
    assert not (tmp_path / "x.csv").exists()


def test_help_of_every_reading_command_names_input_and_output_formats():
    import typer.main

    root = typer.main.get_command(app)
    ctx = root.context_class(root)
    seen = 0
    for name in root.list_commands(ctx):
        top = root.get_command(ctx, name)
        subs = (
            [([name, n], top.get_command(ctx, n)) for n in top.list_commands(ctx)]
            if hasattr(top, "list_commands")
            else [([name], top)]
        )
        for path, sub in subs:
            names = {o for p in sub.params for o in getattr(p, "opts", [])}
            if "--sep" not in names:
                continue
            seen += 1
            assert {"--na", "--out-sep", "--out-decimal", "--out-encoding"} <= names, path
            text = " ".join(RUN.invoke(app, [*path, "--help"], terminal_width=200).output.split())
            for fmt in (".parquet", ".xlsx", ".dta", ".sas7bdat", "Outputs are .csv"):
                assert fmt in text, (path, fmt)
    assert seen == 11


def test_study_input_section_sets_the_missing_markers():
    from nonrecours.study.config import InputConfig

    assert InputConfig().read_options().na == ("NA", ".")
    assert InputConfig(na="NA, manquant").read_options().na == ("NA", "manquant")
    assert InputConfig(na="").read_options().na == ()
