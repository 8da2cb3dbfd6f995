"""The study report in a real browser (headless Chromium through Playwright): search, finder, no request.

A small study with QPV contours runs once; its report is opened from disk in
Debian's Chromium (``/usr/bin/chromium``, or ``CHROMIUM=/path``), launched by
Playwright for Python without ``playwright install``. The test types a
territory code in the territory table's search box and checks that the table
filters to that territory, shows its card through the "find my territory"
box, sorts a column, and records every request the page makes: none may leave
the page (only the report's own ``file://`` URL is fetched; images are
``data:`` URIs). Skipped, with the reason, when Chromium or Playwright is
missing (``apt-get install chromium``; ``pip install '.[test]'``).
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from pathlib import Path

import pytest

from nonrecours.simulate import simulate_population
from nonrecours.simulate.contours import qpv_contours
from nonrecours.study import run_study
from nonrecours.study.demo import example_study

pytestmark = pytest.mark.slow  # runs a study and drives headless Chromium

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _browser_or_skip():
    if not Path(CHROMIUM).is_file():
        pytest.skip("no Chromium found: apt-get install chromium (or set CHROMIUM=/path/to/chromium)")
    return pytest.importorskip("playwright.sync_api", reason="playwright missing: pip install '.[test]'")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("browser")
    pop = simulate_population(25, seed=5)
    pop.write(folder / "population")
    (folder / "population" / "qpv.geojson").write_text(qpv_contours(pop.territories, seed=5))
    text = (
        example_study(seed=5)
        .replace("n = 6000", "n = 1500")
        .replace("min_per_stratum = 50", "min_per_stratum = 20")
        .replace('# contours = "population/qpv.geojson"', 'contours = "population/qpv.geojson"')
    )
    (folder / "study.toml").write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_study(folder / "study.toml")
    sae = result.tables["sae"]
    codes = sorted(sae.loc[sae["in_sample"].astype(bool), "territory"].astype(str).unique())
    return next(p for name, p in result.files.items() if Path(name).name == "report.html"), codes


def test_report_is_one_small_file(report):
    path, _ = report
    html = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 1_000_000  # 25 QPVs: 4 maps, 4 plots, every table (about 0.6 MB)
    explore = html[html.index('<section id="explore">') :]
    explore = explore[: explore.index("</section>")]
    assert explore.count('<figure><img src="data:image/png;base64,') == 4  # one map per right
    assert "@media print" in html


def test_search_and_finder_in_headless_chromium(report):
    sync_api = _browser_or_skip()
    path, codes = report
    url = path.resolve().as_uri()
    requested: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
            page.goto(url, wait_until="load")

            assert page.get_attribute("html", "lang") in ("en", "fr")
            rows = page.locator("#nr-territories tbody tr")
            total = rows.count()
            assert total == 50  # 25 QPVs and the rest of their urban areas
            code = codes[len(codes) // 2]
            page.fill("#nr-territories-q", code)
            visible = page.locator("#nr-territories tbody tr:not([hidden])")
            assert visible.count() == 1
            assert visible.first.locator("th").inner_text().strip() == code
            assert page.inner_text("#nr-territories-count").startswith("1 ")

            page.fill("#nr-territories-q", "")
            assert page.locator("#nr-territories tbody tr:not([hidden])").count() == total
            page.fill("#nr-find", code)
            card = page.locator("#nr-card")
            assert card.is_visible()
            assert code in card.locator("h3").inner_text()
            assert card.locator("tbody tr").count() == 4  # one row per right
            assert page.locator("#nr-territories tbody tr:not([hidden])").count() == 1

            page.fill("#nr-find", "")
            header = page.locator("#nr-territories thead th").first
            header.locator("button").click()
            assert header.get_attribute("aria-sort") == "ascending"
            first = page.locator("#nr-territories tbody tr").first.locator("th").inner_text().strip()
            header.locator("button").click()
            assert header.get_attribute("aria-sort") == "descending"
            last = page.locator("#nr-territories tbody tr").first.locator("th").inner_text().strip()
            assert first < last

            alts = page.eval_on_selector_all("img", "els => els.map(e => e.getAttribute('alt') || '')")
            assert len(alts) >= 4 and all(a.strip() for a in alts)
            assert page.locator("#explore figure figcaption").count() == 4
        finally:
            browser.close()
    assert requested and set(requested) == {url}, "the page made a request other than its own file"


@pytest.mark.parametrize("width", [900, 1280])
def test_wide_tables_fit_the_page(report, width):
    """Issue 28: the allocation table overflowed the page. No table widens the page: wide ones have smaller
    type and wrapping headers, and scroll within their own container when the screen is narrower still."""
    sync_api = _browser_or_skip()
    path, _ = report
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(path.resolve().as_uri(), wait_until="load")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            unboxed = page.evaluate("""Array.from(document.querySelectorAll('table')).filter(t =>
                !t.parentElement.matches('.nr-wide, .nr-scroll')).length""")
            assert unboxed == 0
            if width >= 1280:  # on a desktop screen the allocation table fits without scrolling
                fits = page.evaluate("""(() => { const t = document.querySelector('#design table');
                    return t.getBoundingClientRect().width <= t.parentElement.clientWidth; })()""")
                assert fits
        finally:
            browser.close()


def test_territory_table_has_every_departement(report):
    path, _ = report
    html = path.read_text(encoding="utf-8")
    body = html[html.index('id="nr-territories"') :]
    body = body[body.index("<tbody>") : body.index("</tbody>")]
    deps = re.findall(r"</th><td>([^<]*)</td>", body)
    assert len(deps) == 50 and "–" not in deps  # from the territories file
