"""Issue 12 through the CLI: what the commands now accept, warn about, publish and never print."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.io import read_table

RUN = CliRunner()
SECRET = "1850775123456"  # an id that looks like a social-security number


def _sample(n: int = 300, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "id": [f"{SECRET}{i:03d}" for i in range(n)],
            "stratum": rng.choice(["a", "b"], n),
            "weight": rng.uniform(5, 15, n),
            "benefit": rng.choice(["RSA", "AAH", "ASS"], n),
            "territory": rng.choice([f"T{i}" for i in range(40)], n),
            "responded": 1,
        }
    )
    df["psu"] = df["id"]
    for r in ("cmuc", "acs"):
        y = rng.integers(0, 2, n).astype(float)
        y[rng.uniform(size=n) < 0.2] = np.nan
        df[r] = y
    return df


def _invoke(tmp_path: Path, monkeypatch, *args: str):
    monkeypatch.chdir(tmp_path)
    return RUN.invoke(app, [str(a) for a in args])


def test_overwrite_only_with_the_option(tmp_path, monkeypatch):
    _sample().to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "r.csv").write_text("old\n")
    res = _invoke(tmp_path, monkeypatch, "estimate", "s.csv", "--rights", "cmuc", "--out", "r.csv")
    assert res.exit_code == 2 and "already exists" in res.stderr and (tmp_path / "r.csv").read_text() == "old\n"
    res = _invoke(tmp_path, monkeypatch, "estimate", "s.csv", "--rights", "cmuc", "--out", "r.csv", "--overwrite")
    assert res.exit_code == 0, res.output
    assert list(read_table(tmp_path / "r.csv")["right"]) == ["cmuc"]
    # --overwrite never replaces an input
    res = _invoke(tmp_path, monkeypatch, "estimate", "s.csv", "--rights", "cmuc", "--out", "s.csv", "--overwrite")
    assert res.exit_code == 2 and "overwrite an input" in res.stderr


def test_weight_with_full_response_is_accepted_with_a_note(tmp_path, monkeypatch):
    _sample().to_csv(tmp_path / "s.csv", index=False)
    res = _invoke(tmp_path, monkeypatch, "weight", "s.csv", "--responded", "responded", "--out", "w.csv")
    assert res.exit_code == 0, res.output
    assert "warning:" in res.stderr and "100 %" in res.stderr and "nothing to adjust" in res.stderr
    w = read_table(tmp_path / "w.csv")
    np.testing.assert_allclose(w["weight"], _sample()["weight"])
    # with a non-response adjustment asked for, the same note and unchanged weights
    res = _invoke(
        tmp_path,
        monkeypatch,
        "weight",
        "s.csv",
        "--responded",
        "responded",
        "--nonresponse",
        "classes:benefit",
        "--out",
        "w2.csv",
    )
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(read_table(tmp_path / "w2.csv")["weight"], _sample()["weight"], rtol=1e-12)


def test_empty_by_values_form_their_own_domain_with_a_warning(tmp_path, monkeypatch):
    df = _sample()
    df.loc[[3, 10, 11], "benefit"] = np.nan
    df.to_csv(tmp_path / "s.csv", index=False)
    res = _invoke(
        tmp_path,
        monkeypatch,
        "estimate",
        "s.csv",
        "--rights",
        "cmuc",
        "--by",
        "benefit",
        "--min-n",
        "0",
        "--allow-below-threshold",
        "--out",
        "r.csv",
    )
    assert res.exit_code == 0, res.output
    assert "warning:" in res.stderr and "'benefit'" in res.stderr and "lines 5, 12, 13" in res.stderr
    r = read_table(tmp_path / "r.csv")
    assert r["benefit"].isna().sum() == 1  # the domain of the empty values, labelled as missing
    nat = _invoke(tmp_path, monkeypatch, "estimate", "s.csv", "--rights", "cmuc", "--out", "n.csv")
    assert nat.exit_code == 0
    assert r["n"].sum() == read_table(tmp_path / "n.csv")["n"].sum()  # no row dropped


def test_estimate_min_n_defaults_to_11_and_blanks_counts(tmp_path, monkeypatch):
    _sample().to_csv(tmp_path / "s.csv", index=False)
    res = _invoke(
        tmp_path, monkeypatch, "estimate", "s.csv", "--rights", "cmuc,acs", "--by", "territory", "--out", "r.csv"
    )
    assert res.exit_code == 0, res.output
    r = read_table(tmp_path / "r.csv")
    supp = r["flag"] == "suppressed"
    assert supp.any() and r.loc[supp, ["n", "estimate", "se", "df", "deff"]].isna().all().all()
    assert (r.loc[~supp, "n"] >= 11).all()
    res = _invoke(
        tmp_path,
        monkeypatch,
        "estimate",
        "s.csv",
        "--rights",
        "cmuc,acs",
        "--by",
        "territory",
        "--min-n",
        "5",
        "--allow-below-threshold",
        "--out",
        "r5.csv",
    )
    r5 = read_table(tmp_path / "r5.csv")
    assert (r5["flag"] == "suppressed").sum() < supp.sum() and (r5.loc[r5["flag"] != "suppressed", "n"] >= 5).all()


def test_estimate_gaps_and_totals_of_suppressed_domains_are_blank(tmp_path, monkeypatch):
    """The statistics and gaps of issue 14 follow the same rule: nothing from a suppressed domain."""
    df = _sample()
    df.loc[:149, "territory"], df.loc[150:229, "territory"] = "T0", "T1"  # two large domains, the others small
    df.to_csv(tmp_path / "s.csv", index=False)
    res = _invoke(
        tmp_path,
        monkeypatch,
        "estimate",
        "s.csv",
        "--rights",
        "cmuc",
        "--by",
        "territory",
        "--gap",
        "territory:T0",
        "--out",
        "g.csv",
    )
    assert res.exit_code == 0, res.output
    est, gaps = read_table(tmp_path / "g.csv"), read_table(tmp_path / "g_gap.csv")
    supp = set(est.loc[est["flag"] == "suppressed", "territory"].astype(str))
    assert supp and "T0" not in supp
    hidden = gaps["domain_a"].astype(str).isin(supp)
    assert hidden.any() and gaps.loc[hidden, ["estimate_a", "estimate_b", "gap", "se", "p_value"]].isna().all().all()
    assert gaps.loc[~hidden, "gap"].notna().all()
    res = _invoke(
        tmp_path,
        monkeypatch,
        "estimate",
        "s.csv",
        "--stat",
        "total",
        "--rights",
        "cmuc",
        "--by",
        "territory",
        "--out",
        "t.csv",
    )
    assert res.exit_code == 0, res.output
    t = read_table(tmp_path / "t.csv")
    tsupp = t["flag"] == "suppressed"
    assert tsupp.any() and t.loc[tsupp, ["estimate", "se"]].isna().all().all()
    assert (t.loc[tsupp, "n"].isna() | (t.loc[tsupp, "n"] == 0)).all()  # an empty domain keeps n = 0
    assert (t.loc[~tsupp, "n"] >= 11).all()


def test_admin_publishes_no_small_count_on_a_simulated_population(tmp_path, monkeypatch):
    """The issue's first row: 'territorial admin ... --min-cell 11' published cells with 2 takers."""
    from nonrecours.simulate import simulate_population

    pop = simulate_population(40, seed=2).recipients.sample(frac=0.05, random_state=3)
    pop.to_csv(tmp_path / "recipients.csv", index=False)
    res = _invoke(
        tmp_path,
        monkeypatch,
        "territorial",
        "admin",
        "recipients.csv",
        "--min-cell",
        "11",
        "--out",
        "admin.csv",
        "--totals-out",
        "totals.csv",
    )
    assert res.exit_code == 0, res.output
    for name in ("admin.csv", "totals.csv"):
        t = read_table(tmp_path / name)
        pub = t[t["status"] == "published"]
        assert len(pub) and (pub[["n_eligible", "n_takers", "n_non_takers"]] >= 11).all().all()
        assert t.loc[t["status"] != "published", ["n_eligible", "n_takers", "n_non_takers", "rate"]].isna().all().all()


@pytest.mark.parametrize(
    "case",
    [
        "weight duplicate",
        "sample duplicate",
        "right code",
        "weight text",
        "by empty",
        "response code",
        "admin territory",
    ],
)
def test_no_identifier_or_cell_content_in_messages(case, tmp_path, monkeypatch):
    """Errors and warnings point at rows by line number and never print an id or another cell."""
    df = _sample()
    args: list[str]
    if case == "weight duplicate":
        df.loc[7, "id"] = df.loc[3, "id"]
        args = ["weight", "s.csv", "--out", "w.csv"]
    elif case == "sample duplicate":
        df.loc[7, "id"] = df.loc[3, "id"]
        alloc = pd.DataFrame({"stratum": ["a", "b"], "n_h": [5, 5]}).assign(strat=["a", "b"])
        alloc.rename(columns={"strat": "stratum_col"}).to_csv(tmp_path / "al.csv", index=False)
        df = df.assign(stratum_col=df["stratum"])
        args = ["sample", "s.csv", "--allocation", "al.csv", "--seed", "1", "--out", "o.csv"]
    elif case == "right code":
        df["cmuc"] = df["cmuc"].astype(object)
        df.loc[4, "cmuc"] = SECRET
        args = ["estimate", "s.csv", "--rights", "cmuc"]
    elif case == "weight text":
        df["weight"] = df["weight"].astype(object)
        df.loc[4, "weight"] = f"NIR{SECRET}"
        args = ["estimate", "s.csv", "--rights", "cmuc"]
    elif case == "by empty":
        df.loc[4, "territory"] = np.nan
        args = ["estimate", "s.csv", "--rights", "cmuc", "--by", "territory"]
    elif case == "response code":
        df["responded"] = df["responded"].astype(object)
        df.loc[4, "responded"] = SECRET
        args = ["weight", "s.csv", "--responded", "responded", "--nonresponse", "classes:benefit", "--out", "w.csv"]
    else:
        df = df.assign(departement="01")
        df.loc[4, "departement"] = "02"
        args = ["territorial", "admin", "s.csv", "--rights", "cmuc", "--out", "a.csv"]
    df.to_csv(tmp_path / "s.csv", index=False)
    res = _invoke(tmp_path, monkeypatch, *args)
    assert res.exit_code in (0, 2), res.output
    text = res.stderr
    assert text.strip(), res.output
    assert SECRET not in text and SECRET not in res.stdout.split("\n")[0]
    assert re.search(r"lines? \d+", text), text


#: Patterns of code that would put a cell's content in a message (checked over the package's source).
LEAKS = [
    r"such as \{[^}]*(iloc|\[bad\]|\[text\]|\[out\]|\[dup\])",
    r"\.iloc\[0\]\s*!r",
    r"head\(\d\)\.tolist\(\)",
    r"pd\.unique\([^)]*\[bad\]",
    r"ids\[dup\]",
]


def test_package_source_has_no_message_printing_row_values():
    root = Path(__file__).resolve().parents[1] / "nonrecours"
    hits = []
    for path in root.rglob("*.py"):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(re.search(p, line) for p in LEAKS):
                hits.append(f"{path.relative_to(root)}:{i}: {line.strip()}")
    assert hits == []


def test_demo_and_example_study_suppress_below_11_respondents():
    from nonrecours.study.demo import example_study

    assert re.search(r"^min_n = 11\b", example_study(seed=1), re.M)
    ex = (Path(__file__).resolve().parents[1] / "examples" / "study.toml").read_text(encoding="utf-8")
    assert re.search(r"^min_n = 11\b", ex, re.M)


def _commands():
    """Every command of the CLI (subcommands of groups included), as (name, click command)."""
    import click
    import typer.main

    root = typer.main.get_command(app)
    ctx = click.Context(root)
    out = []
    for name in root.list_commands(ctx):
        cmd = root.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            out += [(f"{name} {sub}", cmd.get_command(ctx, sub)) for sub in cmd.list_commands(ctx)]
        else:
            out.append((name, cmd))
    return out


def test_every_command_that_writes_has_overwrite():
    """One rule for all commands, those of issues 13 and 14 (margins, respond, init, test, model) included."""
    writers = []
    for name, cmd in _commands():
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if "--out" in opts or name == "init":
            writers.append(name)
            assert "--overwrite" in opts, name
    assert {"margins", "respond", "init", "test", "model", "estimate"} <= set(writers)


@pytest.mark.parametrize(
    "args",
    [
        ["margins", "s.csv", "--variables", "benefit", "--out", "o.csv"],
        ["respond", "s.csv", "--seed", "1", "--rights", "cmuc,acs", "--out", "o.csv"],
        ["init", "o.csv"],
        ["test", "s.csv", "--right", "cmuc", "--by", "benefit", "--out", "o.csv"],
        ["model", "s.csv", "--right", "cmuc", "--covariates", "benefit", "--out", "o.csv"],
    ],
)
def test_new_commands_refuse_an_existing_output_without_overwrite(tmp_path, monkeypatch, args):
    df = _sample()
    df["is_qpv"] = (df["territory"].str[1:].astype(int) % 2).astype(int)
    df.to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "o.csv").write_text("old\n")
    res = _invoke(tmp_path, monkeypatch, *args)
    assert res.exit_code == 2 and "already exists" in res.stderr and "--overwrite" in res.stderr
    assert (tmp_path / "o.csv").read_text() == "old\n"
    res = _invoke(tmp_path, monkeypatch, *args, "--overwrite")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o.csv").read_text() != "old\n"
    if args[0] != "init":  # init reads no file
        res = _invoke(tmp_path, monkeypatch, *[a if a != "o.csv" else "s.csv" for a in args], "--overwrite")
        assert res.exit_code == 2 and "input" in res.stderr  # never an input, even with --overwrite


#: Every command taking a grouping column (domains, groups, strata, covariates, margins), the column in {col}.
GROUPING = {
    "estimate --by": ["estimate", "s.csv", "--rights", "cmuc", "--by", "{col}"],
    "test --by": ["test", "s.csv", "--right", "cmuc", "--by", "{col}"],
    "allocate --strata": ["allocate", "s.csv", "--strata", "{col}", "--n", "40", "--out", "a.csv"],
    "model --covariates": ["model", "s.csv", "--right", "cmuc", "--covariates", "{col}"],
    "margins --variables": ["margins", "s.csv", "--variables", "{col}"],
}


@pytest.mark.parametrize("col", ["id", "nir"])
@pytest.mark.parametrize("command", list(GROUPING))
def test_a_column_identifying_people_is_refused_as_a_grouping_column(command, col, tmp_path, monkeypatch):
    """The id column, or any column of one value per row, groups nothing: one error line naming the option,
    and no value of the column (issue 25, item 2: `allocate --strata id` printed five ids)."""
    df = _sample().rename(columns={"id": col}).assign(**{col: [f"SECRET{i:04d}" for i in range(300)]})
    df.to_csv(tmp_path / "s.csv", index=False)
    res = _invoke(tmp_path, monkeypatch, *[a.format(col=col) for a in GROUPING[command]])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert command.split()[1] in lines[0] and repr(col) in lines[0], lines[0]
    assert "SECRET" not in res.stderr and "SECRET" not in res.stdout
    assert not (tmp_path / "a.csv").exists()


def test_estimate_by_a_column_of_only_small_domains_is_refused(tmp_path, monkeypatch):
    """A domain column whose every domain holds fewer than min_n respondents identifies (nearly) people."""
    df = _sample().assign(pair=[f"SECRET{i // 3:04d}" for i in range(300)])  # groups of 3 respondents
    df.to_csv(tmp_path / "s.csv", index=False)
    res = _invoke(tmp_path, monkeypatch, "estimate", "s.csv", "--rights", "cmuc", "--by", "pair")
    assert res.exit_code == 2 and "option --by" in res.stderr and "fewer than 11 rows" in res.stderr, res.output
    assert "SECRET" not in res.stderr and "SECRET" not in res.stdout
    ok = _invoke(tmp_path, monkeypatch, "estimate", "s.csv", "--rights", "cmuc", "--by", "benefit")
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize(
    "args",
    [
        ["estimate", "s.csv", "--rights", "cmuc", "--min-n", "5"],
        ["estimate", "s.csv", "--rights", "cmuc", "--min-n", "0"],
        ["territorial", "admin", "r.csv", "--rights", "cmuc", "--min-cell", "3", "--out", "a.csv"],
    ],
)
def test_a_threshold_below_11_needs_the_switch(args, tmp_path, monkeypatch):
    """--min-n/--min-cell under 11 (--min-n 0 too) are refused without --allow-below-threshold, naming both options;
    with it the command runs (issue 25, item 3)."""
    df = _sample()
    df.to_csv(tmp_path / "s.csv", index=False)
    df.assign(departement="01").to_csv(tmp_path / "r.csv", index=False)
    res = _invoke(tmp_path, monkeypatch, *args)
    assert res.exit_code == 2, res.output
    flag = args[-4] if args[-2] == "--out" else args[-2]
    assert res.stderr.count("\n") == 1 and f"option {flag}" in res.stderr, res.stderr
    assert "below 11" in res.stderr and "--allow-below-threshold" in res.stderr, res.stderr
    assert not (tmp_path / "a.csv").exists()
    ok = _invoke(tmp_path, monkeypatch, *args, "--allow-below-threshold")
    assert ok.exit_code == 0, ok.output


def test_policy_below_threshold_is_explicit_and_recorded():
    from nonrecours.errors import OptionError
    from nonrecours.publication import DisclosurePolicy, middle_mean

    for kw in ({"min_n": 5}, {"min_n": 0}, {"min_cell": 10}):
        with pytest.raises(
            OptionError, match=f"parameter {next(iter(kw))}: a disclosure threshold below 11.*allow_below_threshold"
        ):
            DisclosurePolicy(**kw)
    p = DisclosurePolicy(min_n=0, allow_below_threshold=True)
    assert p.below_threshold and p.to_dict()["allow_below_threshold"] and not DisclosurePolicy().below_threshold
    v = np.random.default_rng(3).lognormal(size=101)
    assert middle_mean(v, min_n=11) == pytest.approx(np.sort(v)[45:56].mean())
    assert not np.isclose(middle_mean(v, min_n=11), v).any()  # no one's value (the median is one)


def test_an_output_folder_that_cannot_be_written_is_refused_before_the_work(tmp_path, monkeypatch):
    """Issue 28: a read-only output folder was found after the work, with the temporary file's name."""
    import os

    _sample().to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "file.csv").write_text("x\n")
    # a path under a regular file: fails for root too
    res = _invoke(tmp_path, monkeypatch, "estimate", "s.csv", "--rights", "cmuc", "--out", "file.csv/r.csv")
    err = " ".join(res.stderr.split())
    assert res.exit_code == 2 and "--out 'file.csv/r.csv'" in err and "is a file" in err and "Hint:" in err
    assert res.stdout == "" and ".tmp" not in err  # refused before any estimate is printed
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root passes permission bits: the folder answers as it would to a user
        real = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda p, mode, **kw: (
                False if Path(p).resolve() == ro.resolve() and mode & os.W_OK else real(p, mode, **kw)
            ),
        )
    try:
        res = _invoke(
            tmp_path, monkeypatch, "estimate", "s.csv", "--rights", "cmuc", "--out", "ro/r.csv", "--gap", "benefit"
        )
        err = " ".join(res.stderr.split())
        assert res.exit_code == 2, res.output
        assert "--out 'ro/r.csv': the output folder is not writable" in err and "Hint:" in err
        assert res.stdout == "" and ".tmp" not in err and list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)
