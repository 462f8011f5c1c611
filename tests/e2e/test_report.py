"""The HTML report in a real browser (headless Chromium through Playwright): it renders with no
console error, every section and chart is there, and no input name or identifier is in it; and
`spine report` rewrites it, or compares two runs, without running anything again."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spine.cli import app
from spine.report import render_comparison, render_report
from tests.conftest import engine_on
from tests.e2e.pages import without_library

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "test-artefacts"
CHROMIUM = (os.environ.get("SPINE_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
            or "/usr/bin/chromium")
#: Flags for a closed network: without the background ones Chromium keeps trying to reach Google.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SECTIONS = ("summary", "sources", "probabilistic", "review", "rules", "plausibility", "events", "accounting", "run")
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
            page.wait_for_selector("body[data-charts-drawn]", state="attached", timeout=60_000)
            drawn = page.get_attribute("body", "data-charts-drawn")
            summary = page.eval_on_selector("#summary", "s => s.getBoundingClientRect().height") \
                if page.query_selector("#summary") else None
            # the report's own folded blocks (vega-embed's action menus are <details> too)
            closed = page.eval_on_selector_all("details:not([open])", "ds => ds.filter(d => !d.closest('.vega-embed')).length")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot.with_name(screenshot.stem + "-closed.png")), full_page=True)
            page.eval_on_selector_all("details", "ds => ds.forEach(d => { d.open = !d.closest('.vega-embed'); })")
            charts = page.eval_on_selector_all("figure.chart", """figures => figures.map(f => {
                const svg = f.querySelector('div.plot svg');
                const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                return {title: f.dataset.title, width: box.width, height: box.height,
                        bars: svg ? svg.querySelectorAll('g.mark-rect path').length : 0};
            })""")
            tooltip = None
            bar = page.query_selector("figure.chart g.mark-rect path")
            if bar is not None:   # a tooltip names what the bar shows
                bar.hover(force=True)
                page.wait_for_timeout(300)
                tooltip = page.eval_on_selector_all("#vg-tooltip-element.visible", "ts => ts.map(t => t.innerText)")
            sections = page.eval_on_selector_all("section", "nodes => nodes.map(n => n.id)")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"errors": errors, "charts": charts, "sections": sections, "drawn": drawn, "summary_height": summary,
            "closed_details": closed, "tooltip": tooltip}


def test_report_renders_in_chromium_with_every_section_and_chart(result, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_report(result.quality), encoding="utf-8")
    seen = open_in_chromium(page, ARTEFACTS / "report.png")
    assert seen["errors"] == []
    assert seen["drawn"] == str(len(seen["charts"]))   # every chart drawn by the inlined Vega, none failed
    assert set(SECTIONS) <= set(seen["sections"])
    assert len(seen["charts"]) >= 10
    assert seen["summary_height"] <= 900   # the summary fits one screen (1280 × 1000)
    assert seen["closed_details"] >= 5   # per-source model detail and long tables are folded
    assert seen["tooltip"] and seen["tooltip"][0].strip()
    blank = [c["title"] for c in seen["charts"] if c["width"] <= 0 or c["height"] <= 0 or c["bars"] == 0]
    assert blank == []
    titles = " ".join(c["title"] for c in seen["charts"])
    for expected in ("Link rate by sex", "candidate pairs the model decided", "a pair at the threshold",
                     "Migration events by year", "Stock change and its components", "Published flows, with intervals",
                     "match weight of each comparison level"):
        assert expected in titles
    assert (ARTEFACTS / "report.png").stat().st_size > 10_000
    # the demo job validates against its follow-up sample: the report shows what the sample measured
    validation = result.quality["uncertainty"]["validation"]
    assert validation["people"] > 50 and validation["cells_adjusted"] > 0
    text = page.read_text(encoding="utf-8")
    assert "<h3>Validation sample</h3>" in text and "derived / true" in text
    # which fields each model compares, with their fill rates on both sides; pairs per rule; training times
    assert text.count("filled in the base register") >= 1 and "Candidate pairs from records agreeing on" in text
    assert "candidate pairs</th>" in text and "m (EM)" in text


def test_a_report_with_gaps_in_its_figures_still_renders_without_error(result, tmp_path):
    """Missing and non-finite values, a source with no records, no events, no accounting."""
    quality = copy.deepcopy(result.quality)
    quality["sources"]["tax"]["link_rate"] = float("nan")
    quality["sources"]["empty"] = {**quality["sources"]["tax"], "records": 0, "link_rate": None}
    quality["rules"]["events"]["by_year"] = []
    quality["demographic_accounting"] = []
    page = tmp_path / "gaps.html"
    page.write_text(render_report(quality), encoding="utf-8")
    seen = open_in_chromium(page, ARTEFACTS / "report-with-gaps.png")
    assert seen["errors"] == []
    text = page.read_text()
    assert "nan" not in re.findall(r'="([^"]*)"', text) and "Migration events by year: no data" in text
    assert "Not computed" in text


def test_no_input_name_or_identifier_appears_in_the_report_or_quality_json(result, universe, tmp_path):
    _, generated = universe
    texts = {"report.html": without_library(render_report(result.quality)),
             "comparison.html": without_library(render_comparison(result.quality, result.quality)),
             "quality.json": (result.output_dir / "quality.json").read_text(encoding="utf-8")}
    con = engine_on(result.connection())
    leaked = []
    for where, text in texts.items():
        words = set(re.findall(r"[^\W\d_]+", text))
        for source, path in {**generated.sources, "validation": generated.validation}.items():
            table = f"read_csv('{path}', all_varchar = true)"
            columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()}
            for column in ("first_name", "surname"):
                if column in columns:
                    names = {r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {table} "
                                                       f"WHERE length({column}) >= 4").fetchall()}
                    leaked += [f"{where} {source}.{column}: {n}" for n in names & words]
            for column in ("national_id", "passport_no", "record_id", "claim_id", "postcode", "dob"):
                if column in columns:
                    values = [r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {table} "
                                                        f"WHERE length({column}) >= 6").fetchall()]
                    leaked += [f"{where} {source}.{column}: {v}" for v in values
                               if v in text and v != result.quality["data_end"]]
    assert leaked == []


def test_spine_report_rewrites_the_report_and_compares_two_runs(result, tmp_path):
    """On copies of the run's quality.json (the shared run's own files stay as they are): the
    report is rewritten from quality.json alone, and compared with a second run that lacks a
    source and has events in other years."""
    first, second = tmp_path / "first", tmp_path / "second"
    other = copy.deepcopy(result.quality)
    other["job"] = "second_run"
    del other["sources"]["education"]
    other["rules"]["events"]["by_year"] = [{**r, "year": r["year"] + 1, "n": r["n"] + 3}
                                           for r in other["rules"]["events"]["by_year"]]
    for folder, quality in ((first, result.quality), (second, other)):
        (folder / "out").mkdir(parents=True)
        (folder / "out" / "quality.json").write_text(json.dumps(quality), encoding="utf-8")
        (folder / "r.csv").write_text("id,reg\nR1,2020-01-01\n")
        (folder / "job.yaml").write_text(f"name: {quality['job']}\nbase: r\nhome_country: XSY\noutput: {{dir: out}}\n"
                                         "sources:\n  r: {path: r.csv, record_id: id, columns: {start_date: reg}}\n")
    done = CliRunner().invoke(app, ["report", str(first / "job.yaml")])
    assert done.exit_code == 0, done.output
    assert (first / "out" / "report.html").read_text(encoding="utf-8") == render_report(result.quality)
    done = CliRunner().invoke(app, ["report", str(first / "job.yaml"), "--compare", str(second / "job.yaml")])
    assert done.exit_code == 0, done.output
    page = first / "out" / "comparison.html"
    seen = open_in_chromium(page, ARTEFACTS / "comparison.png")
    assert seen["errors"] == [] and {"sources", "events", "flows"} <= set(seen["sections"])
    assert all(c["bars"] > 0 for c in seen["charts"]) and len(seen["charts"]) == 3
    text = page.read_text()
    assert "A: migration_demo" in text and "B: second_run" in text
    last_year = max(r["year"] for r in other["rules"]["events"]["by_year"])
    assert f"<td>{last_year}</td>" in text   # a year only the second run has


def test_spine_report_on_a_damaged_quality_json_names_the_file(result, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "quality.json").write_text("{not json")
    (tmp_path / "r.csv").write_text("id,reg\nR1,2020-01-01\n")
    (tmp_path / "job.yaml").write_text("name: damaged\nbase: r\nhome_country: XSY\noutput: {dir: out}\n"
                                       "sources:\n  r: {path: r.csv, record_id: id, columns: {start_date: reg}}\n")
    done = CliRunner().invoke(app, ["report", str(tmp_path / "job.yaml")])
    assert done.exit_code == 2 and "quality.json: not readable as JSON" in done.output


def test_spine_report_on_a_job_never_run_says_so(tmp_path):
    job = tmp_path / "job.yaml"
    (tmp_path / "r.csv").write_text("id,reg\nR1,2020-01-01\n")
    job.write_text("name: never_run\nbase: r\nhome_country: XSY\n"
                   "sources:\n  r: {path: r.csv, record_id: id, columns: {start_date: reg}}\n")
    done = CliRunner().invoke(app, ["report", str(job)])
    assert done.exit_code == 2 and "no finished run" in done.output and "spine run" in done.output


def test_a_tightened_or_dropped_default_rule_is_explained():
    from spine.report import _model_choice_parts

    choice = {"fields": {}, "blocking_rules": [["dob"], ["surname_soundex", "birth_year"]], "training_rules": [["dob"]]}
    ran = [{"rule": ["dob", "sex"], "pairs": 400, "given": ["dob"], "pairs_given": 900},
           {"rule": None, "pairs": 5000, "given": ["surname_soundex", "birth_year"], "pairs_given": 5000}]
    text = "".join(_model_choice_parts(choice, ran))
    assert "agreeing on any of: dob + sex." in text
    assert "The default rule on dob (900 pairs) was tightened to dob + sex (400 pairs)." in text
    assert "surname_soundex + birth_year (5,000 pairs) was dropped" in text
    # a default the tool wrote as a Splink rule: dropped over the budget, never tightened
    sql = "l.first_name_canonical = r.first_name_canonical AND l.birth_year IS NULL"
    ran.append({"rule": None, "pairs": 7000, "given": sql, "pairs_given": 7000, "estimated": True})
    text = "".join(_model_choice_parts(choice, ran))
    assert f"The default rule {sql} (about 7,000 pairs) was dropped: over max_comparisons." in text
    assert "l + . + f" not in text


def test_a_splink_rule_is_shown_as_its_sql():
    from spine.report import _model_choice_parts

    rule = "l.first_name = r.surname AND l.surname = r.first_name"
    choice = {"fields": {}, "blocking_rules": [["dob"], rule], "training_rules": [["dob"]]}
    text = "".join(_model_choice_parts(choice, [{"rule": ["dob"], "pairs": 9}, {"rule": rule, "pairs": 3}]))
    assert "agreeing on any of: dob; l.first_name = r.surname AND l.surname = r.first_name." in text


def test_degenerate_parameters_and_counts_outside_their_interval_are_the_first_things_said(result):
    """A level EM drove to m ≈ 0 (a lone disagreement vetoes any link) and a published total its own
    interval does not hold are listed in the summary, linked to the section that explains them."""
    from spine.diagnostics import probabilistic_metrics
    from spine.report import degenerate_levels, summary_warnings

    quality = copy.deepcopy(result.quality)
    name, metrics = next((n, m) for n, m in quality["linkage"].items() if probabilistic_metrics(m))
    parameters = probabilistic_metrics(metrics)["parameters"]
    before = degenerate_levels(parameters)
    comparison = next(iter(parameters))
    parameters[comparison][-1].update(m=5.8e-19, u=0.5)
    assert len(degenerate_levels(parameters)) == len(before) + 1
    total = next(t for t in quality["flows"]["published_totals"] if not t["suppressed"])
    total.update(lower=total["count"] + 10, upper=total["count"] + 20)
    said = summary_warnings(quality)
    assert f"probabilistic-{name}" in [anchor for _, anchor in said]
    outside = [text for text, anchor in said if anchor == "events"]
    already = [text for text, anchor in summary_warnings(result.quality) if anchor == "events"]
    assert len(outside) == len(already) + 1
    assert any(f"{total['period']} {total['event']}: published" in text for text in outside)
    page = render_report(quality)
    summary = page[page.index('<section id="summary">'):page.index("</section>")]
    assert f'href="#probabilistic-{name}"' in summary and "Published count outside its interval" in summary
    block = page[page.index(f'<details class="source" id="probabilistic-{name}">'):]
    block = block[:block.index("</details>")]
    assert "at the edge" in block and "weight -59.6 (true matches never showed it in training: it vetoes a link" in block


def test_splink_dashboards_of_the_review_band_are_written_only_when_asked_and_open_offline(result, universe):
    """``report: {dashboards: true}``: Splink's comparison viewer and cluster studio of the pairs the
    run scored for records near the threshold, with the run's model; they show records (personal
    data), the report only links to them, and they open in Chromium with no error and no request."""
    import yaml
    from playwright.sync_api import sync_playwright

    from spine import Job
    from tests.e2e.test_migration_job import _register_and_tax_job

    folder, _ = universe
    assert "dashboards" not in result.quality and not (result.output_dir / "dashboards").exists()
    path = _register_and_tax_job(folder, "dashboards", model="first_run_outputs/models/tax.json")
    job = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**job, "report": {"dashboards": True},   # the working tables read below
                                    "output": {**job["output"], "keep_intermediate": True}}))
    run = Job.from_yaml(path).run()
    try:
        assert run.quality["run"]["store"] == {"intermediate_tables": "kept"}
        shown = run.quality["dashboards"]["tax"]
        con = engine_on(run.connection())
        in_band = con.execute(f"""SELECT count(*) FROM (SELECT record_id FROM candidates__tax
                                  WHERE record_id NOT IN (SELECT record_id FROM link__tax__ids
                                                          WHERE status IN ('linked', 'review')) GROUP BY 1
                                  HAVING max(match_probability) BETWEEN {shown['band'][0]} AND {shown['band'][1]})""").fetchall()[0][0]
        assert shown["records"] == min(in_band, shown["records_in_band_sampled_to"]) and shown["pairs"] >= shown["records"] > 0
        viewer, studio = (run.output_dir / f for f in shown["files"])
        surnames = {r[0] for r in con.execute(
            "SELECT DISTINCT surname FROM feat__tax WHERE surname IS NOT NULL").fetchall()}
        report = (run.output_dir / "report.html").read_text(encoding="utf-8")
        assert f'href="{shown["files"][0]}"' in report and "personal data" in report
    finally:
        run.close()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for page_file in (viewer, studio):
                page = browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("request", lambda r: errors.append(r.url) if not r.url.startswith(("file:", "data:", "about:", "blob:")) else None)
                page.goto(page_file.resolve().as_uri())
                page.wait_for_timeout(1500)
                assert errors == [], page_file.name
                assert page.eval_on_selector_all("svg, canvas", "nodes => nodes.length") > 0
        finally:
            browser.close()
    text = viewer.read_text(encoding="utf-8").upper()
    assert any(f"\"{s.upper()}\"" in text for s in surnames)   # the records themselves: personal data


def test_a_dashboard_that_fails_leaves_no_file_and_no_value_and_the_next_one_is_written(universe, monkeypatch):
    """Splink failing part way (an error quoting a record's value): the source is recorded as not
    written with the value masked, neither of its files is left, and the next source still gets
    its dashboards (so the in-memory workspace of the failed one was detached)."""
    import yaml
    from splink.internals.linker_components.visualisations import LinkerVisualisations

    from spine import Job

    folder, _ = universe
    job = yaml.safe_load((folder / "job.yaml").read_text())   # two probabilistic sources, nothing else
    job["sources"] = {name: job["sources"][name] for name in ("register", "tax", "benefits")}
    job["rules"] = {"signs_of_life": {"sources": ["register", "tax", "benefits"]}}
    job.update(output={"dir": "out_failing_dashboard"}, flows={"uncertainty": {"replicates": 0}},
               report={"dashboards": True})
    path = folder / "failing_dashboard.yaml"
    path.write_text(yaml.safe_dump(job))
    real, failed = LinkerVisualisations.cluster_studio_dashboard, []

    def fails_for_the_first(self, predictions, clusters, out_path, **kwargs):
        if not failed:   # the first source that gets this far: its comparison viewer is written already
            failed.append(Path(out_path).name.removesuffix("_cluster_studio.html"))
            raise ValueError("Could not convert string 'Omar Haddad' to DATE")
        return real(self, predictions, clusters, out_path, **kwargs)

    monkeypatch.setattr(LinkerVisualisations, "cluster_studio_dashboard", fails_for_the_first)
    run = Job.from_yaml(path).run()
    run.close()
    written = run.quality["dashboards"]
    (first,) = failed
    assert written[first]["files"] == [] and "ValueError" in written[first]["why"] and "Omar" not in written[first]["why"]
    assert not list((run.output_dir / "dashboards").glob(f"{first}_*"))
    assert any(w["files"] for n, w in written.items() if n != first)


def test_people_registered_twice_are_told_merged_or_kept_apart():
    from spine.report import _base_duplicates_parts

    found = {"pairs": 3, "pairs_per_key": {"full": 2, "initial_surname_dob_sex_postcode": 1}}
    merged = "".join(_base_duplicates_parts({**found, "persons_merged": 2,
                                             "pairs_not_merged": {"initial_surname_dob_sex_postcode": 1}}))
    assert "3 pairs of base records each look like one person registered twice (full: 2, initial_surname_dob_sex_postcode: 1)." in merged
    assert "2 records were merged into the person of their pair; 1 pair found on the first initial" in merged
    assert "kept as two persons (action: report)" in "".join(_base_duplicates_parts(found))
    assert _base_duplicates_parts({"pairs": 0, "pairs_per_key": {}}) == [] and _base_duplicates_parts(None) == []
