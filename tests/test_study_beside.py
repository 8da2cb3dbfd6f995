"""A stage that the next one does not read runs on a forked process beside the next ones (``run_study(fork=True)``):
the same files, byte for byte, the same warnings in the same order, as one stage after the other."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import re
import warnings
from pathlib import Path

import pytest

from nonrecours.errors import NonrecoursWarning
from nonrecours.simulate import simulate_population
from nonrecours.study import run_study, stages
from nonrecours.study.demo import example_study

forks = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="the platform does not fork")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::nonrecours.errors.ConvergenceWarning"), forks]

SMALL = {"n = 6000": "n = 1500", "min_per_stratum = 50": "min_per_stratum = 20"}


class StageNote(NonrecoursWarning):
    """A warning a stage raises (recorded in the report's notes)."""


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("beside")
    simulate_population(25, seed=5).write(folder / "population")
    text = example_study(seed=5)
    for old, new in SMALL.items():
        text = text.replace(old, new)
    path = folder / "study.toml"
    path.write_text(text)
    return path


NOISY = ("estimation", "analysis", "territorial")


def _noisy(name, func, pids: Path):  # noqa: ANN001, ANN202
    """``func`` that raises two warnings (one recorded, one only shown) and writes which process ran it."""

    def stage(cfg, state):  # noqa: ANN001, ANN202
        with pids.open("a") as f:
            f.write(f"{name} {os.getpid()}\n")
        warnings.warn(f"{name}: first", StageNote, stacklevel=1)
        out = func(cfg, state)
        warnings.warn(f"{name}: second", UserWarning, stacklevel=1)
        return out

    return stage


def _run(study: Path, out: Path, fork: bool, monkeypatch, pids: Path):  # noqa: ANN001, ANN202
    """Run the study (its stages raising warnings) with ``fork``; its folder moved to ``out`` (the same study
    file and output folder for every run: the report shows them)."""
    monkeypatch.undo()  # the stages as they are (not those of an earlier run)
    noisy = tuple((n, _noisy(n, f, pids) if n in NOISY else f) for n, f in stages.STAGES)
    monkeypatch.setattr(stages, "STAGES", noisy)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        result = run_study(study, fork=fork)
    result.folder.rename(out)
    shown_here = [str(w.message) for w in shown if issubclass(w.category, (StageNote, UserWarning))]
    return result, [s for s in shown_here if s.split(":")[0] in NOISY]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_forked_stage_gives_the_same_files_and_warnings(study, tmp_path, monkeypatch):
    pids = tmp_path / "pids.txt"
    one, shown_one = _run(study, tmp_path / "one", False, monkeypatch, pids)
    ran_one = dict(line.split() for line in pids.read_text().splitlines())
    pids.unlink()
    two, shown_two = _run(study, tmp_path / "two", True, monkeypatch, pids)
    ran_two = dict(line.split() for line in pids.read_text().splitlines())
    # one after the other: every stage here; forked: analysis on another process, the others here
    assert set(ran_one.values()) == {str(os.getpid())}
    assert ran_two["analysis"] != str(os.getpid())
    assert ran_two["estimation"] == ran_two["territorial"] == str(os.getpid())
    a, b = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert a.keys() == b.keys()
    assert [n for n in a if n != "publication/manifest.json" and a[n] != b[n]] == []
    m1, m2 = (json.loads(x["publication/manifest.json"]) for x in (a, b))
    t1, t2 = m1.pop("timings_seconds"), m2.pop("timings_seconds")
    assert m1 == m2 and list(m1) == list(m2)  # the same keys in the same order (methods, counts, seeds)
    assert list(t1) == list(t2)  # each stage's own time, in stage order
    assert t2["analysis"] > 0
    notes = [w for w in m1["warnings"] if w.split(":")[0] in ("estimation", "analysis", "territorial")]
    assert notes == [f"{s}: {s}: first" for s in ("estimation", "analysis", "territorial")]
    expected = [f"{s}: {k}" for s in ("estimation", "analysis", "territorial") for k in ("first", "second")]
    assert shown_one == shown_two == expected  # shown in stage order, though analysis ended after territorial
    for name, table in one.tables.items():
        assert table.equals(two.tables[name]), name


def test_forked_stage_error_comes_before_a_later_one(study, tmp_path, monkeypatch):
    def analysis_fails(cfg, state):  # noqa: ANN001, ANN202
        raise ArithmeticError("the analysis fails")

    def territorial_fails(cfg, state):  # noqa: ANN001, ANN202
        raise LookupError("the territorial stage fails")

    failing = {"analysis": analysis_fails, "territorial": territorial_fails}
    monkeypatch.setattr(stages, "STAGES", tuple((n, failing.get(n, f)) for n, f in stages.STAGES))
    for fork in (False, True):
        text = study.read_text().replace('folder = "results"', f'folder = "{tmp_path / str(fork)}"')
        path = study.with_name(f"study-{fork}.toml")  # beside the population
        path.write_text(text)
        with pytest.raises(ArithmeticError, match="the analysis fails"):
            run_study(path, fork=fork)
        assert not (tmp_path / str(fork)).exists()
    # only the territorial stage fails: raised when it fails, the forked analysis ended
    monkeypatch.undo()
    monkeypatch.setattr(
        stages, "STAGES", tuple((n, territorial_fails if n == "territorial" else f) for n, f in stages.STAGES)
    )
    # children started by earlier tests of this worker (joblib's reusable loky workers) are not the run's
    before = {p.pid for p in multiprocessing.active_children()}
    with pytest.raises(LookupError, match="territorial"):
        run_study(path, fork=True)
    assert {p.pid for p in multiprocessing.active_children()} - before == set()


def test_stages_state_what_they_read():
    names = [n for n, _ in stages.STAGES]
    assert list(stages.NEEDS) == names
    for i, n in enumerate(names):  # a stage reads only stages before it
        assert set(stages.NEEDS[n]) <= set(names[:i]), n
    # the stages the next one does not read, which may run beside it: the admin stage (its heavy part, read only by
    # the combination with the small areas) while the analysis and territorial stages run
    beside = [n for n, m in itertools.pairwise(names) if n not in stages.NEEDS[m]]
    assert beside == ["admin", "analysis", "combined"]
    assert "admin" not in stages.NEEDS["analysis"] + stages.NEEDS["territorial"]


def test_demo_forked_or_not_writes_the_same_files(tmp_path):
    """The demo's population written on a forked process while the sources are simulated, its analysis and maps
    forked: the same files as everything in one process (the manifest's timings apart)."""
    from nonrecours.study.demo import run_demo

    runs = {}
    for fork in (False, True):
        run_demo(tmp_path / "demo", territories=6, seed=3, admin=True, fork=fork, overwrite=True)
        runs[fork] = _files(tmp_path / "demo")
    a, b = runs[False], runs[True]
    manifest = "results/publication/manifest.json"
    assert a.keys() == b.keys() and manifest in a and "population/qpv.geojson" in a
    assert [n for n in a if n != manifest and a[n] != b[n]] == []
    m1, m2 = (json.loads(x[manifest]) for x in (a, b))
    assert {k: v for k, v in m1.items() if k != "timings_seconds"} == {
        k: v for k, v in m2.items() if k != "timings_seconds"
    }


def _spy_maps(monkeypatch, log: Path) -> None:  # noqa: ANN001
    """Write to ``log``, from whichever process does it, the maps and figures drawn while the stages ran, and those
    the territories section and the report take."""
    from nonrecours.report import section_territories
    from nonrecours.study import pipeline

    draw_early, plot_early, render, report = (
        pipeline._draw_early,
        pipeline._plot_early,
        section_territories.render,
        pipeline.render_report,
    )

    def plots(tables, cfg, lang):  # noqa: ANN001, ANN202
        out = plot_early(tables, cfg, lang)
        with log.open("a") as f:
            f.write(f"plots {os.getpid()} {len(out)}\n")
        return out

    def render_report(tables, provenance, *, drawn=(), **kwargs):  # noqa: ANN001, ANN202
        with log.open("a") as f:
            f.write(f"report {os.getpid()} {len(drawn)}\n")
        return report(tables, provenance, drawn=drawn, **kwargs)

    def early(tables, cfg, lang):  # noqa: ANN001, ANN202
        out = draw_early(tables, cfg, lang)
        with log.open("a") as f:
            f.write(f"early {os.getpid()} {len(out)}\n")
        return out

    def section(tables, lang="fr", *, drawn=(), **kwargs):  # noqa: ANN001, ANN202
        drawn = list(drawn)
        with log.open("a") as f:
            f.write(f"section {os.getpid()} {len(drawn)}\n")
        return render(tables, lang, drawn=drawn, **kwargs)

    monkeypatch.setattr(pipeline, "_draw_early", early)
    monkeypatch.setattr(pipeline, "_plot_early", plots)
    monkeypatch.setattr(section_territories, "render", section)
    monkeypatch.setattr(pipeline, "render_report", render_report)


def _demo(out: Path, fork: bool, log: Path) -> tuple[dict[str, bytes], list[tuple[str, int, int]]]:
    from nonrecours.study.demo import run_demo

    log.write_text("")
    run_demo(out, territories=6, seed=3, admin=True, fork=fork, overwrite=True)
    return _files(out), [(w, int(p), int(n)) for w, p, n in (line.split() for line in log.read_text().splitlines())]


def test_report_maps_drawn_while_the_stages_run(tmp_path, monkeypatch):
    """The maps of the small areas (territorial stage) and of the administrative rates (admin stage), and the
    report's figures of the weights, estimates and small areas, are drawn on forked processes as soon as their
    stage has run; the report takes them all: the same files as when the report draws them."""
    log = tmp_path / "maps.txt"
    _spy_maps(monkeypatch, log)
    one, drawn_one = _demo(tmp_path / "demo", False, log)
    two, drawn_two = _demo(tmp_path / "demo", True, log)
    manifest = "results/publication/manifest.json"
    assert one.keys() == two.keys() and [n for n in one if n != manifest and one[n] != two[n]] == []
    report = one["results/publication/report.html"]
    maps = re.findall(rb"<figcaption>[^<]* par (?:territoire|d\xc3\xa9partement)", report)  # the section's
    main = os.getpid()
    assert sorted(drawn_one) == [("report", main, 0), ("section", main, 0)]  # in one process: drawn by the report
    early = [(p, n) for w, p, n in drawn_two if w == "early"]
    assert len(early) == 2 and all(p != main and n > 0 for p, n in early)  # small areas, admin rates
    assert [(w, p != main, n) for w, p, n in drawn_two if w == "plots"] == [("plots", True, 4)]
    section = [n for w, _, n in drawn_two if w == "section"]
    assert section == [sum(n for _, n in early)] == [len(maps)] and len(maps) > 0
    assert [(p, n) for w, p, n in drawn_two if w == "report"] == [(main, 4)]  # weights, gap, caterpillar, shrinkage


def test_report_maps_failing_early_raise_as_in_one_process(tmp_path, monkeypatch):
    """A map that cannot be drawn: the same error as when the report draws it, and nothing written; an early
    drawing that fails alone (not the report's) changes nothing."""
    from nonrecours.errors import InputError
    from nonrecours.report import html, maps, section_territories

    log = tmp_path / "maps.txt"
    _spy_maps(monkeypatch, log)
    good, _ = _demo(tmp_path / "good", True, log)

    def fails(**kwargs):  # noqa: ANN003, ANN202
        raise InputError("this map cannot be drawn")

    with monkeypatch.context() as m:
        m.setattr(maps, "choropleth", fails)
        for fork in (False, True):
            with pytest.raises(InputError, match="this map cannot be drawn"):
                _demo(tmp_path / f"demo-{fork}", fork, log)
            assert not (tmp_path / f"demo-{fork}").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good", "maps.txt"]  # no staging folder left

    def early_fails(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise InputError("an early figure cannot be drawn")  # (called only on the forked processes)

    monkeypatch.setattr(section_territories, "draw_maps", early_fails)
    monkeypatch.setattr(html, "draw_plots", early_fails)
    again, drawn = _demo(tmp_path / "good", True, log)
    manifest = "results/publication/manifest.json"
    assert [n for n in good if n != manifest and good[n] != again[n]] == []
    assert sorted((w, n) for w, _, n in drawn) == [("early", 0)] * 2 + [("plots", 0), ("report", 0), ("section", 0)]
