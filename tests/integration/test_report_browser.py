"""reports/index.html in a real browser: headless Chromium driven by chromedriver.

The WebDriver protocol is spoken over plain HTTP/JSON (urllib), so no extra package is
needed.  Chromium runs with ``--headless --no-sandbox --disable-gpu
--disable-background-networking``; its console (``goog:loggingPrefs`` browser log) must hold
no error, every request it makes (performance log) must be ``file:`` or ``data:`` — the page
works offline — and the headline table and the figures must be there and decoded.

Needs the Debian packages ``chromium`` and ``chromium-driver``; skipped without them.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from test_report_notebook import build_report_site

CHROMIUM = next(
    (
        p
        for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
        if p and Path(p).is_file()
    ),
    None,
)
CHROMEDRIVER = next(
    (
        p
        for p in (shutil.which("chromedriver"), "/usr/bin/chromedriver")
        if p and Path(p).is_file()
    ),
    None,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,  # builds the report site (shared with test_report_notebook.py)
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs headless Chromium and its WebDriver: apt-get install chromium "
        "chromium-driver (Debian); not found on PATH or in /usr/bin",
    ),
]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--window-size=1400,1000",
]


class Browser:
    """A minimal W3C WebDriver client for one chromedriver process and one session."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self._call("GET", "/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    self.proc.kill()
                    raise
                time.sleep(0.1)
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": ARGS},
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
        }
        self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})[
            "sessionId"
        ]

    def _call(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read())["value"]

    def cmd(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self.cmd("POST", "/url", {"url": url})

    def js(self, script: str, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def log(self, kind: str) -> list[dict]:
        return self.cmd("POST", "/se/log", {"type": kind})

    def requests(self) -> list[str]:
        """URLs the page requested since the last call (from the performance log)."""
        urls = []
        for entry in self.log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg["method"] == "Network.requestWillBeSent":
                urls.append(msg["params"]["request"]["url"])
        return urls

    def close(self) -> None:
        try:
            self.cmd("DELETE", "")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    return build_report_site(tmp_path_factory.getbasetemp()) / "reports" / "index.html"


def test_index_opens_offline_without_console_errors(browser, index):
    browser.log("browser")  # drop anything logged before this page
    browser.open(index.as_uri())
    assert browser.js("return document.readyState") == "complete"
    errors = [e for e in browser.log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    schemes = {urlparse(u).scheme for u in browser.requests()}
    assert schemes <= {"file", "data"}, schemes  # nothing fetched from a network
    assert browser.js("return document.scripts.length") == 0


def test_headline_table_and_figures_are_rendered(browser, index):
    browser.open(index.as_uri())
    head = browser.js("""
        const ts = Array.from(document.querySelectorAll('table.headline'));
        if (!ts.length) return null;
        const rows = Array.from(ts[0].querySelectorAll('tbody tr')).map(r => r.querySelector('th').textContent.trim());
        const bold = ts.flatMap(t => Array.from(t.querySelectorAll('td')))
            .filter(td => getComputedStyle(td).fontWeight >= 700).length;
        const width = Math.max(...ts.map(t => t.getBoundingClientRect().width));
        return {tables: ts.length, rows: rows, bold: bold, width: width};
    """)
    assert head is not None, "no headline table"
    assert head["tables"] == 3  # one per dataset with results: personal, muct, muct-published
    assert head["rows"] == [
        "kmeans",
        "agglomerative",
        "spectral",
        "finch_k",
        "dbscan",
        "hdbscan",
        "meanshift",
        "rank_order",
        "chinese_whispers",
        "finch",
    ]
    # the winner's ARI and F1 cells of each ranked dataset × model: personal × 2 models and
    # muct-published × its model (muct, low resolution, is not ranked)
    assert head["bold"] >= 2 * 3
    assert head["width"] < 1400  # fits a laptop screen
    browser.js("document.querySelectorAll('details').forEach(d => d.open = true)")
    imgs = browser.js("""
        return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]);
    """)
    broken = [alt for alt, done, width in imgs if not (done and width > 0)]
    assert not broken, broken
    alts = " ".join(alt for alt, _, _ in imgs)
    assert "umap personal facenet" in alts and "tsne muct lightcnn" in alts  # embedding maps
    assert "false merges" in alts or "false splits" in alts  # error galleries
    figures = browser.js("""
        return Array.from(document.querySelectorAll('.jp-OutputArea-output img'))
            .filter(i => i.naturalWidth >= 300).length""")
    assert figures >= 5 * 2 + 1 + 4  # curves (5 × 2 models), runtime, 4 maps at least


def test_links_to_stage_reports_resolve(browser, index):
    browser.open(index.as_uri())
    hrefs = browser.js("""
        return Array.from(document.querySelectorAll('a[href]'))
            .map(a => a.href).filter(h => !h.includes('#'))""")
    # per image dataset: faces, embed × 2, sweep × 2; the feature dataset: its one sweep
    assert len(hrefs) == 3 * (1 + 2 * 2) + 1
    for href in hrefs:
        assert href.startswith("file://")
        assert Path(unquote(urlparse(href).path)).is_file(), href


def test_findings_box_and_contents_lead_to_their_sections(browser, index):
    browser.open(index.as_uri())
    page = browser.js("""
        const box = Array.from(document.querySelectorAll('blockquote'))
            .find(b => b.textContent.trim().startsWith('Findings'));
        const h1 = document.querySelector('h1');
        const links = Array.from(document.querySelectorAll('a[href^="#"]'))
            .map(a => a.getAttribute('href').slice(1));
        const missing = links.filter(id => !document.getElementById(id));
        const first = box ? box.getBoundingClientRect().top : null;
        const headline = document.getElementById('headline');
        return {items: box ? box.querySelectorAll('li').length : 0, links: links,
                missing: missing, box_top: first,
                headline_top: headline ? headline.getBoundingClientRect().top : null,
                h1_top: h1.getBoundingClientRect().top};
    """)
    assert page["items"] >= 4  # a sentence per ranked dataset, blind choice, statistics …
    assert {"headline", "table-one", "statistics", "notes"} <= set(page["links"])
    assert page["missing"] == []  # every link (contents and findings) lands on a section
    assert page["h1_top"] < page["box_top"] < page["headline_top"]  # at the top


def test_no_table_is_wider_than_a_1366_px_screen(browser, index):
    browser.cmd("POST", "/window/rect", {"width": 1366, "height": 900})
    try:
        browser.open(index.as_uri())
        wide = browser.js("""
            document.querySelectorAll('details').forEach(d => d.open = true);
            const room = document.body.getBoundingClientRect().width;
            return Array.from(document.querySelectorAll('table'))
                .map(t => [Math.round(t.getBoundingClientRect().width),
                           (t.caption ? t.caption.textContent : '').slice(0, 60)])
                .filter(([w, _]) => w > room);
        """)
    finally:
        browser.cmd("POST", "/window/rect", {"width": 1400, "height": 1000})
    assert wide == []


#: The smallest legend text a reader may be given, in CSS pixels as shown.
MIN_LEGEND_PX = 9.0


def test_no_figure_legend_is_below_a_readable_size(browser, index):
    """Each figure's ``data-legend-px`` (its smallest legend text in pixels of the image,
    :mod:`facecluster.report.inline`) scaled by the width the browser shows it at."""
    browser.cmd("POST", "/window/rect", {"width": 1366, "height": 900})
    try:
        browser.open(index.as_uri())
        shown = browser.js("""
            document.querySelectorAll('details').forEach(d => d.open = true);
            return Array.from(document.querySelectorAll('img[data-legend-px]')).map(i =>
                [i.alt, parseFloat(i.dataset.legendPx) * i.getBoundingClientRect().width
                        / i.naturalWidth]);
        """)
    finally:
        browser.cmd("POST", "/window/rect", {"width": 1400, "height": 1000})
    assert len(shown) >= 5 * 2 + 1 + 4, shown  # curves (5 × 2 models), runtime, 4 maps
    small = [(alt, round(px, 1)) for alt, px in shown if px < MIN_LEGEND_PX]
    assert small == []


#: Where the screenshots of the sections go (kept, never committed: .gitignore).
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"


def test_screenshots_of_the_top_of_each_section(browser, index):
    """One 1366 × 900 screenshot per section of the report (its heading at the top), kept
    under .artifacts/screenshots/ so a change in how the report looks can be seen."""
    import base64

    from facecluster.report.findings import SECTIONS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.cmd("POST", "/window/rect", {"width": 1366, "height": 900})
    try:
        browser.open(index.as_uri())
        shots = {"00-top": browser.cmd("GET", "/screenshot")}
        for i, (anchor, _) in enumerate(SECTIONS, start=1):
            assert browser.js(
                "const e = document.getElementById(arguments[0]);"
                "if (!e) return false; e.scrollIntoView(); return true;",
                anchor,
            ), anchor
            shots[f"{i:02d}-{anchor}"] = browser.cmd("GET", "/screenshot")
    finally:
        browser.cmd("POST", "/window/rect", {"width": 1400, "height": 1000})
    for name, data in shots.items():
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000, name  # not blank
        (SCREENSHOTS / f"{name}.png").write_bytes(png)


def test_harness_catches_external_scripts(browser, tmp_path):
    """The checks above can fail: a page that loads a CDN script is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><script src="https://cdn.invalid/x.js">'
        "</script></head><body><img src='missing.png' alt='x'></body></html>"
    )
    browser.log("browser")
    browser.requests()
    browser.open(page.as_uri())
    errors = [e for e in browser.log("browser") if e["level"] == "SEVERE"]
    assert errors  # failed script / image loads are console errors
    assert "https" in {urlparse(u).scheme for u in browser.requests()}
