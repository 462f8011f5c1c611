"""Issue 18, items 4, 8 and 9: messages show user text as typed (never Rich markup), every way a job
file can be unreadable is one positioned message (exit 2, nothing written), and person keys are
real secrets (a demo key is announced on every run and in the report)."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from spine.errors import ConfigError
from spine.progress import RichProgress
from spine.pseudonymise import person_key_from_env
from tests.reliability.helpers import assert_fails_cleanly, cli, small_job
from tests.spine.test_bad_input import REGISTER, TAX

KEY = "a-test-person-key-of-more-than-32-bytes"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    """The small job is a demo job; tests that need a key set it themselves."""
    monkeypatch.delenv("SPINE_PERSON_KEY", raising=False)


def refused(tmp_path: Path, result, *fragments: str) -> None:
    """Exit 2 with every fragment, no traceback, no personal value, and no output folder."""
    assert_fails_cleanly(result, 2, *fragments)
    assert not (tmp_path / "out").exists(), "a refused job must write nothing"


def append(job: Path, text: str) -> Path:
    job.write_text(job.read_text() + text)
    return job


def line_of(job: Path, needle: str) -> int:
    return next(i for i, line in enumerate(job.read_text().splitlines(), 1) if needle in line)


# -- item 4: user text is never Rich markup ----------------------------------------------------------

MARKUP = [
    # (id, files, changes, fragments shown exactly as typed)
    # a header with brackets is not shown (it may be data: see the personal data part), but it is no markup
    ("closing tag in a header", {"register.csv": REGISTER.replace("id,", "[/]id,", 1), "tax.csv": TAX}, {},
     ["sources.register.record_id", "register.csv"]),
    ("style tag in a header", {"register.csv": REGISTER, "tax.csv": TAX.replace("nin", "[bold red]nin", 1)}, {},
     ["sources.tax.columns.national_id", "tax.csv"]),
    ("emoji code in a header", {"register.csv": REGISTER, "tax.csv": TAX.replace("nin", ":smile:", 1)}, {},
     ["sources.tax.path", "tax.csv", "not shown"]),
    ("markup in a mapped column", None, {"sources__tax__columns": {"national_id": "[b]nin :smile:", "dob": "dob"}},
     ["sources.tax.columns.national_id", "'[b]nin :smile:'"]),
    ("markup in a record_id column", None, {"sources__tax__record_id": "[/]ID"}, ["column '[/]ID'"]),
    ("markup in a source path", None, {"sources__tax__path": "[/]tax.csv"}, ["sources.tax.path", "[/]tax.csv"]),
    ("emoji code in a source path", None, {"sources__tax__path": ":thumbs_up:.csv"}, [":thumbs_up:.csv"]),
    ("markup in the job name", None, {"name": "[bold]x"}, ["job.yaml:", "name", "got [bold]x"]),
    ("markup in a person_key_env", None, {"demo": False, "person_key_env": "[/]KEY"}, ["[/]KEY is not set"]),
    ("markup in a memory limit", None, {"engine": {"memory_limit": "[red]12GB"}}, ["engine.memory_limit", "[red]12GB"]),
]


@pytest.mark.parametrize("files,changes,fragments", [c[1:] for c in MARKUP], ids=[c[0] for c in MARKUP])
def test_user_text_is_shown_as_typed(tmp_path, files, changes, fragments):
    result = cli("validate", small_job(tmp_path, files, **changes))
    refused(tmp_path, result, *fragments)
    assert "MarkupError" not in result.output


def test_markup_in_a_source_name_is_shown_with_the_name_rule(tmp_path):
    job = small_job(tmp_path)
    job.write_text(job.read_text().replace("  tax:", '  "[/]tax":'))
    refused(tmp_path, cli("validate", job), f"job.yaml:{line_of(job, '[/]tax')}:3", "sources  key [/]tax",
            "lower-case letters, digits and _")


def test_a_job_folder_with_markup_in_its_name_validates_and_is_shown_as_typed(tmp_path):
    folder = tmp_path / "[bold]jobs :smile:"
    folder.mkdir()
    result = cli("validate", small_job(folder))
    assert result.exit_code == 0, result.output
    assert "[bold]jobs :smile:/job.yaml: 2 sources" in result.output


def test_a_header_with_markup_mapped_in_the_job_validates(tmp_path):
    tax = TAX.replace("nin", "[/]nin :smile:", 1)
    job = small_job(tmp_path, {"register.csv": REGISTER, "tax.csv": tax},
                    sources__tax__columns={"national_id": "[/]nin :smile:", "dob": "dob"})
    result = cli("validate", job)
    assert result.exit_code == 0, result.output


def test_a_missing_job_file_with_markup_in_its_name(tmp_path):
    refused(tmp_path, cli("validate", tmp_path / "[/]job.yaml"), "job file not found", "[/]job.yaml")


def test_progress_lines_show_stage_names_as_typed(capsys):
    progress = RichProgress()
    progress.start("[/]stage", 1)
    progress.finish("[/]stage", 0.5)
    progress.close()
    assert "[/]stage" in capsys.readouterr().err


# -- item 8: job files PyYAML cannot (or should not) read --------------------------------------------

def _bomb(levels: int = 9) -> str:
    """A billion-laughs file: 9 levels of 9 aliases each is 9**9 values from a few hundred bytes."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghijklmnop"
    for prev, name in zip(names, names[1:levels]):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    job = append(small_job(tmp_path), _bomb())
    outcome = {}
    started = time.perf_counter()
    worker = threading.Thread(target=lambda: outcome.update(result=cli("validate", job)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "the alias bomb hangs the YAML reader"
    assert time.perf_counter() - started < 1.0
    refused(tmp_path, outcome["result"], "job.yaml:", "aliases expand this to more than", "alias bomb")


def _deep(depth: int) -> str:
    return "x: " + "[" * depth + "]" * depth + "\n"


def _deep_by_aliases() -> str:
    """Each anchor is nested within the limit, but an alias puts one inside the other."""
    return f"a: &a {'[' * 40}1{']' * 40}\nb: {'[' * 20}*a{']' * 20}\n"


YAML_TEXT = [
    # (id, how the job file's text changes, fragments; "{line:...}" is the line holding ...)
    ("alias cycle", lambda s: s + "x: &a [*a]\n", ["job.yaml:{line:x: &a}:", "x  an alias", "(a cycle)"]),
    ("nested 5000 deep", lambda s: s + _deep(5000), ["job.yaml:{line:x: [}:", "nested more than 50 levels"]),
    ("nested deep by aliases", lambda s: s + _deep_by_aliases(), ["job.yaml:", "aliases nest this value"]),
    ("invalid month", lambda s: s + "observation: {start: 2015-13-01, end: 2024-12-31}\n",
     ["job.yaml:{line:2015-13-01}:22", "observation.start", "2015-13-01 is not a date", "YYYY-MM-DD"]),
    ("30 February", lambda s: s + "reporting:\n  end: 2020-02-30\n",
     ["job.yaml:{line:2020-02-30}:8", "reporting.end", "2020-02-30 is not a date"]),
    ("year 0", lambda s: s + "observation: {start: 0000-01-01, end: 2024-12-31}\n",
     ["observation.start", "0000-01-01 is not a date"]),
    ("tab indentation", lambda s: s.replace("  register:", "\tregister:"),
     ["job.yaml:{line:register:}:1", "YAML syntax error", "tabs"]),
    ("empty file", lambda s: "", ["job.yaml:1:1", "the job file is empty"]),
    ("only comments", lambda s: "# a job\n", ["job.yaml:1:1", "the job file is empty"]),
    ("a list at the top", lambda s: "- name: t\n- base: register\n", ["job.yaml:1:1", "must be a mapping", "got a list"]),
    ("a bare string", lambda s: "register.csv\n", ["job.yaml:1:1", "must be a mapping", "got a single value (text)"]),
    ("integer beyond 64 bits", lambda s: s + "flows: {min_cell_count: 123456789012345678901234567890}\n",
     ["job.yaml:{line:min_cell_count}:", "flows.min_cell_count", "integer 123456789012345678901234567890 is too large"]),
    ("days beyond a century", lambda s: s + "observation: {start: 2015-01-01, end: 2024-12-31}\n"
                                            "rules: {events: {min_days: 1000000000000}}\n",
     ["job.yaml:{line:min_days}:", "rules.events.min_days", "must be at most 36525"]),
    (".nan weight", lambda s: s + "enlargement: {hold_back_weight: .nan}\n",
     ["enlargement.hold_back_weight", "finite number", ".nan"]),
    (".inf prior", lambda s: s + "flows: {uncertainty: {replicates: 10, validation: {path: v.csv, prior_events: .inf}}}\n",
     ["flows.uncertainty.validation.prior_events", "finite number"]),
    ("integer sex code", lambda s: s.replace("    record_id: id\n", "    record_id: id\n    sex_codes: {1: m, 2: f}\n", 1),
     ["job.yaml:{line:sex_codes}:", "sources.register.sex_codes  key 1 must be quoted text", 'write "1": m']),
    ("yes as a direction code", lambda s: s.replace("    record_id: id\n", "    record_id: id\n    direction_codes: {yes: in}\n", 1),
     ["sources.register.direction_codes  key yes must be quoted text", "true/false", 'write "yes": in']),
    ("integer source in covers_days", lambda s: s + "rules: {signs_of_life: {covers_days: {2020: 365}}}\n",
     ["rules.signs_of_life.covers_days  key 2020 must be quoted text"]),
    ("upper-case source name", lambda s: s.replace("  tax:", "  Tax:"), ["sources  key Tax", "lower-case letters"]),
]


@pytest.mark.parametrize("change,fragments", [c[1:] for c in YAML_TEXT], ids=[c[0] for c in YAML_TEXT])
def test_a_bad_job_file_names_its_line(tmp_path, change, fragments):
    job = small_job(tmp_path)
    job.write_text(change(job.read_text()))
    shown = []
    for fragment in fragments:
        if "{line:" in fragment:
            head, rest = fragment.split("{line:", 1)
            needle, tail = rest.split("}", 1)
            fragment = f"{head}{line_of(job, needle)}{tail}"
        shown.append(fragment)
    refused(tmp_path, cli("validate", job), *shown)


def test_a_latin1_job_file_names_the_byte_and_says_utf8(tmp_path):
    job = small_job(tmp_path)
    job.write_bytes(job.read_bytes() + "# Zürich office\n".encode("latin-1"))
    line = len(job.read_bytes().splitlines())
    refused(tmp_path, cli("validate", job), f"job.yaml:{line}:4", "not UTF-8", "byte 0xfc", "save the job file as UTF-8")


@pytest.mark.parametrize("data,fragments", [
    ("name: t\n".encode("utf-16"), ["job.yaml:1:1", "not UTF-8"]),
    (b"\x89PNG\r\n\x1a\n\x00\x00", ["job.yaml:1:1", "not UTF-8"]),
    (b"PK\x03\x04\x14\x00\x00\x00", ["job.yaml:1:3", "control character #x0003"]),
], ids=["utf-16", "png", "zip"])
def test_a_binary_or_utf16_file_is_refused(tmp_path, data, fragments):
    job = small_job(tmp_path)
    job.write_bytes(data)
    refused(tmp_path, cli("validate", job), *fragments)


def test_a_job_file_over_a_megabyte_is_refused_before_reading(tmp_path):
    job = append(small_job(tmp_path), "#" * 1_100_000 + "\n")
    refused(tmp_path, cli("validate", job), "job.yaml", "a job file is at most 1,000,000 bytes")


def test_a_folder_given_as_the_job_file(tmp_path):
    small_job(tmp_path)
    refused(tmp_path, cli("validate", tmp_path), "is a folder", "job.yaml")


def test_a_utf8_bom_is_fine(tmp_path):
    job = small_job(tmp_path)
    job.write_bytes(b"\xef\xbb\xbf" + job.read_bytes())
    assert cli("validate", job).exit_code == 0


def test_anchors_and_aliases_a_job_really_uses_still_work(tmp_path):
    job = small_job(tmp_path)
    text = job.read_text().replace("    columns:\n      dob: dob\n      national_id: nin\n",
                                   "    columns: &ids\n      dob: dob\n      national_id: nin\n", 1)
    assert "&ids" in text
    job.write_text(text)
    result = cli("validate", job)
    assert result.exit_code == 0, result.output


# -- item 9: person keys -----------------------------------------------------------------------------

@pytest.mark.parametrize("variable", ["HOME", "PATH", "USER", "SHELL", "PWD", "LANG", "TERM", "TMPDIR"])
def test_a_well_known_variable_is_refused_as_a_person_key(tmp_path, monkeypatch, variable):
    value = "/a/public/value/that/is/much/longer/than/32/bytes"
    monkeypatch.setenv(variable, value)
    result = cli("validate", small_job(tmp_path, demo=False, person_key_env=variable))
    refused(tmp_path, result, "person_key_env", variable, "not a secret", "secrets.token_hex(32)")
    assert value not in result.output


@pytest.mark.parametrize("secret", ["s3cret", "x" * 31, "é" * 15 + "x"], ids=["6 bytes", "31 bytes", "31 utf-8 bytes"])
def test_a_short_key_is_refused_without_showing_it(tmp_path, monkeypatch, secret):
    monkeypatch.setenv("SPINE_PERSON_KEY", secret)
    result = cli("validate", small_job(tmp_path, demo=False))
    refused(tmp_path, result, "person_key_env", "SPINE_PERSON_KEY has 31 bytes" if len(secret) > 6 else "has 6 bytes",
            "at least 32 bytes", 'python -c "import secrets; print(secrets.token_hex(32))"')
    assert secret not in result.output


def test_a_short_key_is_refused_even_in_a_demo_job(tmp_path, monkeypatch):
    monkeypatch.setenv("SPINE_PERSON_KEY", "short")
    refused(tmp_path, cli("validate", small_job(tmp_path)), "has 5 bytes")


def test_32_bytes_of_utf8_are_a_key(monkeypatch):
    monkeypatch.setenv("MY_KEY", "é" * 16)
    assert person_key_from_env("MY_KEY", demo=False) == ("é" * 16).encode()


def test_the_key_error_never_holds_the_key(monkeypatch):
    monkeypatch.setenv("MY_KEY", "hunter2")
    with pytest.raises(ConfigError) as caught:
        person_key_from_env("MY_KEY", demo=False)
    assert "hunter2" not in str(caught.value) and "MY_KEY" in str(caught.value)


def test_validate_warns_of_the_demo_key_and_not_twice(tmp_path):
    result = cli("validate", small_job(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.count("public demo key") == 1, result.output
    assert "Warning: demo: true and SPINE_PERSON_KEY is not set" in result.output


def test_a_demo_job_with_a_key_uses_it_and_says_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SPINE_PERSON_KEY", KEY)
    result = cli("validate", small_job(tmp_path))
    assert result.exit_code == 0 and "demo key" not in result.output, result.output


def test_the_python_api_logs_the_demo_key(tmp_path, caplog):
    from spine import Job

    cli("validate", small_job(tmp_path))  # the CLI's own filter must not outlive the command
    with caplog.at_level(logging.WARNING, logger="spine.pseudonymise"):
        Job.from_yaml(small_job(tmp_path)).validate()
    assert "public demo key" in caplog.text


def test_a_demo_run_warns_on_stderr_in_quality_json_and_at_the_top_of_the_report(tmp_path):
    result = cli("run", "--quiet", small_job(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.count("Warning: demo: true") == 1, result.output
    quality = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert quality["run"]["demo_key"] is True
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "demo-key-warning" in page
    assert page.index("demo-key-warning") < page.index("<section"), "the warning comes before every section"


def test_the_report_has_no_demo_warning_for_a_real_key():
    from spine.report import _demo_key_warning

    assert _demo_key_warning({"run": {"demo_key": False}}) == [] == _demo_key_warning({"run": {}})
