"""The HTML report in a real browser (headless Chromium through Playwright): it renders with no
console error, every section and chart is there, and no input name or identifier is in it; and
`spine report` rewrites it, or compares two runs, without running anything again."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spine.cli import app

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("SPINE_TEST_CHROMIUM", "/usr/bin/chromium")
#: Flags for a closed network: without the background ones Chromium keeps trying to reach Google.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SECTIONS = ("sources", "probabilistic", "review", "rules", "events", "accounting", "run")
pytestmark = pytest.mark.e2e


def open_in_chromium(path: Path, screenshot: Path) -> dict:
    """Load the page in headless Chromium; return console errors and what each chart drew."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package "
                    "(or set SPINE_TEST_CHROMIUM to a Chromium executable)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: errors.append(f"network request: {request.url}")
                    if not request.url.startswith(("file:", "data:", "about:")) else None)
            page.goto(path.resolve().as_uri())
            charts = page.eval_on_selector_all("svg.chart", """svgs => svgs.map(s => {
                const box = s.getBoundingClientRect();
                return {title: s.getAttribute('aria-label'), width: box.width, height: box.height,
                        bars: s.querySelectorAll('rect.bar').length};
            })""")
            sections = page.eval_on_selector_all("section", "nodes => nodes.map(n => n.id)")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"errors": errors, "charts": charts, "sections": sections}


def test_report_renders_in_chromium_with_every_section_and_chart(result):
    seen = open_in_chromium(result.report_path, ARTEFACTS / "report.png")
    assert seen["errors"] == []
    assert set(SECTIONS) <= set(seen["sections"])
    assert len(seen["charts"]) >= 10
    blank = [c["title"] for c in seen["charts"] if c["width"] <= 0 or c["height"] <= 0 or c["bars"] == 0]
    assert blank == []
    titles = " ".join(c["title"] for c in seen["charts"])
    for expected in ("Link rate by sex", "match weights of candidate pairs", "a pair at the threshold",
                     "Migration events by year", "Stock change and its components"):
        assert expected in titles
    assert (ARTEFACTS / "report.png").stat().st_size > 10_000


def test_no_input_name_or_identifier_appears_in_the_report(result, universe):
    _, generated = universe
    text = result.report_path.read_text(encoding="utf-8")
    words = set(re.findall(r"[^\W\d_]+", text))
    con = result.connection()
    leaked = []
    for source, path in generated.sources.items():
        table = f"read_csv('{path}', all_varchar = true)"
        columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()}
        for column in ("first_name", "surname"):
            if column in columns:
                names = {r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {table} "
                                                   f"WHERE length({column}) >= 4").fetchall()}
                leaked += [f"{source}.{column}: {n}" for n in names & words]
        for column in ("national_id", "passport_no", "record_id", "claim_id"):
            if column in columns:
                ids = [r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {table} "
                                                 f"WHERE length({column}) >= 6").fetchall()]
                leaked += [f"{source}.{column}: {v}" for v in ids if v in text]
    assert leaked == []


def test_spine_report_rewrites_the_report_and_compares_two_runs(result, universe, tmp_path):
    folder, _ = universe
    before = result.report_path.read_text(encoding="utf-8")
    result.report_path.unlink()
    done = CliRunner().invoke(app, ["report", str(folder / "job.yaml")])
    assert done.exit_code == 0, done.output
    assert result.report_path.read_text(encoding="utf-8") == before   # from quality.json alone
    out = tmp_path / "comparison.html"
    done = CliRunner().invoke(app, ["report", str(folder / "job.yaml"), "--compare", str(folder / "job.yaml"),
                                    "--out", str(out)])
    assert done.exit_code == 0, done.output
    seen = open_in_chromium(out, ARTEFACTS / "comparison.html.png")
    assert seen["errors"] == [] and {"sources", "events", "flows"} <= set(seen["sections"])
    assert all(c["bars"] > 0 for c in seen["charts"]) and len(seen["charts"]) == 3
    assert "A: migration_demo" in out.read_text() and "B: migration_demo" in out.read_text()


def test_spine_report_on_a_job_never_run_says_so(tmp_path):
    job = tmp_path / "job.yaml"
    (tmp_path / "r.csv").write_text("id,reg\nR1,2020-01-01\n")
    job.write_text("name: never_run\nbase: r\nhome_country: XSY\n"
                   "sources:\n  r: {path: r.csv, record_id: id, columns: {start_date: reg}}\n")
    done = CliRunner().invoke(app, ["report", str(job)])
    assert done.exit_code == 2 and "no finished run" in done.output and "spine run" in done.output
