"""The job file: every bad YAML gives one clear message with its position, path and value."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spine.cli import app
from spine.config import job_json_schema, load_job
from spine.errors import ConfigError

BAD = Path(__file__).parent / "data" / "bad_jobs"
ROOT = Path(__file__).resolve().parents[2]

CASES = [
    # (file, fragments that must all appear in the message)
    ("unknown_key.yaml", ["unknown_key.yaml:8:5", "sources.register.date_fromat", "did you mean 'date_format'?"]),
    ("yaml11_norway.yaml", ["yaml11_norway.yaml:3:15", "home_country", "got NO", 'write "NO"']),
    ("yaml11_octal_id.yaml", ["sources.register.record_id", "got 0123", "as 83", 'write "0123"']),
    ("unknown_base.yaml", ["base", "unknown source 'registr'", "did you mean 'register'?"]),
    ("bad_method.yaml", ["sources.tax.linkage.id_fields[0]", "got national_idd", "did you mean 'national_id'?"]),
    ("duplicate_key.yaml", ["duplicate_key.yaml:8:5", "sources.register.record_id", "duplicate key"]),
    ("syntax_error.yaml", ["syntax_error.yaml:4:1", "YAML syntax error"]),
    ("nested_typo.yaml", ["sources.register.columns.dob.fromat", "did you mean 'format'?",
                          "sources.tax.linkage.id_feilds", "did you mean 'id_fields'?"]),
    ("unknown_method.yaml", ["sources.tax.linkage.method", "got deterministic_idd", "did you mean 'deterministic_id'?"]),
    ("bad_threshold.yaml", ["flows.min_cell_count", "must be at least 0", "got -1"]),
    ("flows_rounding.yaml", ["flows_rounding.yaml:8:", "flows.rounding", "must be at least 2", "got 1"]),
    ("prob_threshold.yaml", ["sources.tax.linkage.threshold", "less than 1", "got 1.5"]),
    ("prob_band.yaml", ["sources.tax.linkage", "review_band [0.95, 0.99] must contain the threshold 0.9"]),
    ("prob_blocking.yaml", ["blocking_rules[1][0]", "got surname_soundx", "did you mean 'surname_soundex'?"]),
    ("prob_splink_rule.yaml", ["blocking_rules[1]", "reads 'surnme', which is not a linkage column",
                               "did you mean 'surname'?"]),
    ("prob_missing_column.yaml", ["sources.tax.linkage", "compares or blocks on postcode",
                                  "source 'tax' maps no column onto postcode"]),
    ("signs_of_life_sources.yaml", ["rules.signs_of_life.sources[1]", "source 'tax' maps no start_date"]),
    ("signs_of_life_unknown.yaml", ["rules.signs_of_life.exempt_sources[0]", "unknown source 'educaton'"]),
    ("events_cumulative_no_window.yaml", ["rules.events", "cumulative_days definition needs window_days"]),
    ("events_un_window.yaml", ["rules.events", "window_days applies to the 12_in_16 and cumulative_days"]),
    ("events_12_in_16_window.yaml", ["rules.events", "12_in_16 has a window of 16 months", "cumulative_days"]),
    ("events_min_days_too_long.yaml", ["rules.events", "the window (487 days) is shorter than min_days (500)"]),
    ("reporting_outside.yaml", ["reporting.start", "2014-01-01 is outside the observation window"]),
    ("reporting_too_short.yaml", ["reporting", "leaves no period to report", "set reporting.start and reporting.end"]),
    ("events_tolerance_cumulative.yaml", ["rules.events", "tolerance_days applies to un_12_months only"]),
    ("grace_on_base.yaml", ["rules.signs_of_life.grace_days.register", "registrations"]),
    ("never_active_no_base.yaml", ["rules.signs_of_life.never_active_not_resident", "needs the base register"]),
    ("children_follow_no_family.yaml", ["rules.signs_of_life.children_follow_parents", "needs rules.family"]),
    ("signs_of_life_visas.yaml", ["rules.signs_of_life.sources", "'visas' is the visa source"]),
    ("uncertainty_one_replicate.yaml", ["uncertainty_one_replicate.yaml:10:29", "flows.uncertainty.replicates",
                                        "must be 0 (off) or at least 2", "got 1"]),
    ("uncertainty_alternatives_without_replicates.yaml", ["flows.uncertainty.rule_alternatives",
                                                          "replicates is 0, so no replicate would use them"]),
    ("uncertainty_unknown_setting.yaml", ["flows.uncertainty.rule_alternatives.signs_of_life.widow_days",
                                          "did you mean 'signs_of_life.window_days'?"]),
    ("uncertainty_invalid_alternative.yaml", ["flows.uncertainty.rule_alternatives.events.tolerance_days[0]",
                                              "30 is not a valid events.tolerance_days",
                                              "tolerance_days applies to un_12_months only"]),
    ("uncertainty_rule_off.yaml", ["flows.uncertainty.rule_alternatives.signs_of_life.window_days",
                                   "rules.signs_of_life is off"]),
    ("uncertainty_null_window.yaml", ["signs_of_life.window_days: null is allowed for "
                                      "signs_of_life.provisional_days only"]),
]


@pytest.mark.parametrize("file,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_job_gives_positioned_message(file, fragments):
    with pytest.raises(ConfigError) as caught:
        load_job(BAD / file)
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize("file", [c[0] for c in CASES])
def test_validate_cli_exits_2_with_one_clear_message(file):
    result = CliRunner().invoke(app, ["validate", str(BAD / file)])
    assert result.exit_code == 2
    assert "Error:" in result.output and "Traceback" not in result.output


def test_every_problem_reported_at_once(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text('name: x\nbase: r\nhome_country: NO\nsources:\n  r: {path: a.csv, record_id: 7, colums: {}}\n')
    with pytest.raises(ConfigError) as caught:
        load_job(job)
    message = str(caught.value)
    assert "3 problems" in message
    assert "home_country" in message and "sources.r.record_id" in message and "did you mean 'columns'?" in message


def test_example_jobs_are_valid_config():
    for job in (ROOT / "examples").glob("*/job.yaml"):
        assert load_job(job).sources


def test_committed_schema_matches_the_models():
    committed = json.loads((ROOT / "docs" / "job.schema.json").read_text())
    assert committed == job_json_schema(), "run: spine schema > docs/job.schema.json"


def test_every_field_of_the_schema_says_what_it_is_and_the_examples_point_editors_at_it():
    """A YAML language server shows each field's description as the user types: every property
    of every model has one (the field's ``#:`` comment in spine/config/)."""
    schema = job_json_schema()
    assert schema["$schema"].endswith("2020-12/schema") and schema["$id"]
    nodes = [schema, *schema["$defs"].values()]
    undescribed = [name for node in nodes for name, prop in node.get("properties", {}).items()
                   if not prop.get("description")]
    assert undescribed == [] and sum(len(n.get("properties", {})) for n in nodes) > 150
    assert schema["properties"]["base"]["description"].startswith("The source that becomes the spine")
    for job in (ROOT / "examples").glob("*/job.yaml"):
        first = job.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), job
        assert (job.parent / first.split("=", 1)[1]).resolve() == (ROOT / "docs" / "job.schema.json").resolve()


def test_schema_command_prints_json_schema():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert {"name", "base", "sources", "home_country"} <= set(schema["required"])


def test_the_readme_job_example_is_valid_config(tmp_path):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## A job file"):]
    yaml_text = section[section.index("```yaml") + len("```yaml"):]
    (tmp_path / "job.yaml").write_text(yaml_text[:yaml_text.index("```")])
    job = load_job(tmp_path / "job.yaml")
    assert job.rules.signs_of_life.sources == ["register", "tax"]


@pytest.mark.parametrize("observation, period, settings, expected", [
    (("2015-01-01", "2024-12-31"), "year", {}, ("2016-01-01", "2023-12-31")),
    (("2015-03-15", "2024-06-30"), "year", {}, ("2017-01-01", "2022-12-31")),
    (("2015-03-15", "2024-06-30"), "month", {}, ("2016-04-01", "2023-06-30")),
    (("2015-01-01", "2024-12-31"), "year", {"rules": {"events": {"definition": "12_in_16"}}},
     ("2016-01-01", "2022-12-31")),
    (("2015-01-01", "2024-12-31"), "year", {"reporting": {"start": "2015-01-01", "end": "2024-12-31"}},
     ("2015-01-01", "2024-12-31")),
])
def test_reporting_period_is_the_observation_less_history_and_follow_up(tmp_path, observation, period, settings,
                                                                        expected):
    """A year of history at the start, the definition's follow-up at the end, in whole periods; or as set."""
    from datetime import date

    import yaml
    job = {"name": "t", "base": "register", "home_country": "XSY",
           "observation": {"start": observation[0], "end": observation[1]}, "flows": {"period": period},
           "sources": {"register": {"path": "register.csv", "record_id": "id", "columns": {"start_date": "reg"}}},
           **settings}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    start, end = load_job(tmp_path / "job.yaml").reporting_period(date.fromisoformat(observation[1]))
    assert (start.isoformat(), end.isoformat()) == expected


SEVEN_MISTAKES = """\
name: t
base: register
home_country: XSY
demo: true
observation: {start: 2015-01-01, end: 2024-12-31}
sources:
  register:
    path: register.csv
    record_id: id
    columns: {first_name: fn, surname: sn, dob: dob, sex: sex, start_date: reg}
  crossings:
    path: crossings.csv
    record_id: id
    date_fromat: "%Y-%m-%d"
    columns: {first_name: fn, surname: sn, dob: dob, sex: sex, event_date: date, direction: dir}
    linkage: {method: hybrid, id_fields: [passport_no]}
  visas:
    path: visas.csv
    record_id: id
    columns: {first_name: fn, surname: sn, dob: dob, event_type: type}
    linkage: {method: match_keys}
rules:
  signs_of_life:
    sources: [register, crossing]
    windw_days: 30
flows:
  min_cell_count: -5
"""


def test_seven_independent_mistakes_of_every_pass_in_one_validate(tmp_path):
    """Schema (three), cross-section (two), files (one) and values (one): one `spine validate`
    lists all seven, in the order of the job file's lines."""
    (tmp_path / "register.csv").write_text("id,fn,sn,dob,sex,reg\n1,ANA,LUND,1990-02-03,f,2015-01-01\n"
                                           "1,OLE,BERG,1985-03-04,m,2016-01-01\n")
    (tmp_path / "crossings.csv").write_text("id,fn,sn,dob,sex,date,dir\n1,ANA,LUND,1990-02-03,f,2019-01-01,in\n")
    (tmp_path / "job.yaml").write_text(SEVEN_MISTAKES)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "job.yaml")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line.strip() for line in result.output.splitlines()[1:] if line.strip().startswith("job.yaml:")]
    expected = [("sources.register.record_id", "not unique"),                    # two records, one id
                ("sources.crossings.date_fromat", "did you mean 'date_format'?"),
                ("sources.crossings.linkage.id_fields[0]", "maps no column"),    # an unmapped identifier
                ("sources.visas.path", "file not found"),
                ("rules.signs_of_life.sources[1]", "did you mean 'crossings'?"),
                ("rules.signs_of_life.windw_days", "did you mean 'window_days'?"),
                ("flows.min_cell_count", "")]
    assert "7 problems" in result.output, result.output
    assert len(lines) == 7, result.output
    for line, (path, fragment) in zip(lines, expected):
        assert path in line and fragment in line, (line, path, fragment)
    numbers = [int(line.split(":")[1]) for line in lines]
    assert numbers == sorted(numbers)


def test_taking_a_part_in_error_out_adds_no_problem_of_its_own(tmp_path):
    """The only identifier misspelt: the list left empty and the linkage left without it are what
    the check did, not the user's mistakes; the rule naming an unknown source is still found."""
    job = tmp_path / "job.yaml"
    job.write_text(SEVEN_MISTAKES.replace("    windw_days: 30\n", "").replace("  min_cell_count: -5\n", "  period: year\n")
                   .replace("date_fromat", "date_format").replace("[passport_no]", "[pasport_no]"))
    with pytest.raises(ConfigError) as caught:
        load_job(job)
    problems = caught.value.problems
    assert len(problems) == 2, problems
    assert "id_fields[0]" in problems[0] and "did you mean 'passport_no'?" in problems[0]
    assert "rules.signs_of_life.sources[1]" in problems[1]
    assert caught.value.job is not None and "linkage" not in caught.value.job.sources["crossings"].model_fields_set


SOUND_JOB = """\
name: t
base: register
home_country: XSY
demo: true
observation: {start: 2015-01-01, end: 2024-12-31}
sources:
  register:
    path: register.csv
    record_id: id
    columns: {first_name: fn, surname: sn, dob: dob, sex: sex, start_date: reg}
  crossings:
    path: crossings.csv
    record_id: id
    columns: {first_name: fn, surname: sn, dob: dob, sex: sex, event_date: date, direction: dir}
    linkage: {method: match_keys}
conflicts: {priority: [crossings, register]}
rules:
  signs_of_life: {sources: [register]}
"""


@pytest.mark.parametrize("change,expected", [
    # a source taken out whole for its own mistake: the rule naming it is not a second problem
    (("event_date: date, ", ""), ["sources.crossings"]),
    # a misspelt key and a check of the same section: both
    (("rules:\n", "rules:\n  events: {definition: cumulative_days, window_days: 365, min_days: 400, tolerence_days: 5}\n"),
     ["rules.events.tolerence_days", "rules.events"]),
    # positions are the file's after an item is taken out of a list
    (("[crossings, register]", "[1, crossings, nope]"),
     ["conflicts.priority[0]", "conflicts.priority[2]"]),
    # a reporting period outside the observation does not hide an unknown source
    (("rules:\n", "reporting: {end: 2030-12-31}\nrules:\n"), ["reporting.end"]),
    (("[register]}", "[register, crosings]}"), ["rules.signs_of_life.sources[1]"]),
    # a key missing below a source: its section goes, the checks go on
    (("dob: dob, sex: sex, event_date", "dob: dob, sex: sex, passport_no: {colum: pp}, event_date"),
     ["sources.crossings.columns.passport_no.colum", "sources.crossings.columns.passport_no.column"]),
], ids=["source-out", "section-check", "list-positions", "reporting", "unknown-source", "missing-below"])
def test_each_mistake_once_and_nothing_the_checks_caused(tmp_path, change, expected):
    text = SOUND_JOB.replace(*change)
    if "reporting" in change[1]:   # together with an unknown source
        text = text.replace("[register]}", "[register, crosings]}")
        expected = [*expected, "rules.signs_of_life.sources[1]"]
    (tmp_path / "job.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_job(tmp_path / "job.yaml")
    paths = [p.split("  ")[1] for p in caught.value.problems]
    assert sorted(paths) == sorted(expected), caught.value.problems
