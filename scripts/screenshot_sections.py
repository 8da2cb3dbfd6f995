"""Screenshots of the report's explorable parts (maps, finder with a card, filtered table), for documentation.

Usage: python scripts/screenshot_sections.py REPORT.html OUTDIR [CODE]

Opens the report in Debian's headless Chromium through Playwright (no
``playwright install``; CHROMIUM=/path overrides /usr/bin/chromium), blocks
every request other than the report itself, types CODE (default: the first
territory of the table) in the "find my territory" box and writes
OUTDIR/top.png, OUTDIR/maps.png, OUTDIR/finder.png and OUTDIR/print.pdf.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main(report: str, outdir: str, code: str | None = None) -> None:
    url = Path(report).resolve().as_uri()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    blocked: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", lambda r: r.continue_() if r.request.url == url else (blocked.append(r.request.url),
                                                                                  r.abort())[1])
        page.goto(url, wait_until="load")
        page.screenshot(path=str(out / "top.png"))
        page.locator("#explore figure").first.screenshot(path=str(out / "maps.png"))
        code = code or page.locator("#nr-territories tbody tr th").first.inner_text().strip()
        page.fill("#nr-find", code)
        page.locator("#explore .nr-finder").scroll_into_view_if_needed()
        page.locator("#explore").screenshot(path=str(out / "explore.png"))
        page.evaluate("document.querySelector('.nr-finder').scrollIntoView()")
        page.screenshot(path=str(out / "finder.png"))
        page.pdf(path=str(out / "print.pdf"))
        browser.close()
    print(f"{out}: top.png maps.png explore.png finder.png print.pdf; blocked requests: {len(blocked)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
