"""Job files that used to validate and then link 0% without a word: an identifier a source links on
that it does not map, or that nothing linked before it maps."""

from __future__ import annotations

import pytest
import yaml

from tests.reliability.helpers import assert_fails_cleanly, cli, small_job, snapshot
from tests.spine.test_bad_input import REGISTER, TAX

NO_NIN_REGISTER = REGISTER.replace("nin,", "pid,", 1)


@pytest.mark.parametrize("method", ["deterministic_id", "hybrid"])
def test_linking_on_an_identifier_the_source_does_not_map(tmp_path, method):
    job = small_job(tmp_path, sources__tax__linkage={"method": method, "id_fields": ["passport_no"]})
    result = cli("validate", job)
    assert_fails_cleanly(result, 2, "sources.tax.linkage.id_fields[0]", "links on passport_no",
                         "source 'tax' maps no column onto it")
    before = snapshot(tmp_path)
    assert_fails_cleanly(cli("run", "--quiet", job), 2, "sources.tax.linkage.id_fields[0]")
    assert snapshot(tmp_path) == before


def test_linking_on_an_identifier_nothing_before_maps(tmp_path):
    job = small_job(tmp_path, {"register.csv": NO_NIN_REGISTER, "tax.csv": TAX},
                    sources__register__columns={"first_name": "fn", "dob": "dob", "sex": "sex"})
    assert_fails_cleanly(cli("validate", job), 2, "sources.tax.linkage.id_fields[0]",
                         "neither the base register nor a source linked before 'tax' maps it")


def test_an_identifier_learnt_from_an_earlier_source_is_enough(tmp_path):
    """A passport learnt from visas links crossings: the base need not map it."""
    (tmp_path / "visas.csv").write_text("id,nin,pp\nV1,001,P1\n")
    (tmp_path / "crossings.csv").write_text("id,pp,date,dir\nX1,P1,2020-01-01,in\n")
    job = small_job(tmp_path)
    spec = yaml.safe_load(job.read_text())
    spec["sources"]["visas"] = {"path": "visas.csv", "record_id": "id",
                                "columns": {"national_id": "nin", "passport_no": "pp"},
                                "linkage": {"method": "deterministic_id", "id_fields": ["national_id"]}}
    spec["sources"]["crossings"] = {"path": "crossings.csv", "record_id": "id",
                                    "columns": {"passport_no": "pp", "event_date": "date", "direction": "dir"},
                                    "linkage": {"method": "deterministic_id", "id_fields": ["passport_no"]}}
    job.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = cli("validate", job)
    assert result.exit_code == 0, result.output
    spec["sources"] = {k: spec["sources"][k] for k in ("register", "tax", "crossings", "visas")}
    job.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert_fails_cleanly(cli("validate", job), 2, "sources.crossings.linkage.id_fields[0]", "linked before 'crossings'")


@pytest.mark.parametrize("change,fragments", [
    ({"sources__tax__linkage": {"method": "probabilistc"}},
     ["sources.tax.linkage.method", "did you mean 'probabilistic'?"]),
    ({"sources__tax__linkage": {"method": "probabilistic", "threshold": 2}},
     ["sources.tax.linkage.threshold  must be less than 1.0, got 2"]),
    ({"sources__tax__linkage": {"method": "hybrid", "id_fields": ["national_id"], "review_band": "x"}},
     ["sources.tax.linkage.review_band"]),
    ({"sources__tax__columns": {"national_id": "nin", "birth_date": "dob"}},
     ["sources.tax.columns.birth_date", "did you mean 'dob'?"]),
    ({"sources__tax__columns": {"national_id": "nin", "dob": "dob", "gender": "sex"}},
     ["sources.tax.columns.gender", "did you mean 'sex'?"]),
    ({"sources__tax__columns": {"national_id": "nin", "dob": "dob", "suburb": "town"}},
     ["sources.tax.columns.suburb", "did you mean 'locality'?"]),
    ({"sources__tax__linkage": {"method": "probabilistic", "thresold": 0.9}},
     ["sources.tax.linkage.thresold", "did you mean 'threshold'?"]),
    ({"sources__tax__linkage": {"method": "probabilistic", "training_rules": ["dob"]}},
     ["sources.tax.linkage.training_rules[0]", "expected a list", "got dob"]),
    ({"sources__tax__linkage": {"method": "probabilistic", "blocking_rules": "dob"}},
     ["sources.tax.linkage.blocking_rules", "expected a list", "got dob"]),
    ({"sources__tax__linkage": {"method": "probabilistic", "blocking_rules": ["dob", "surname"]}},
     ["sources.tax.linkage.blocking_rules[0]", "a blocking rule is a list of columns, e.g. [dob], or SQL"]),
    ({"sources__tax__linkage": {"method": "probabilistic", "blocking_rules": ["l.dob = r.dob AND ("]}},
     ["sources.tax.linkage.blocking_rules[0]", "the blocking rule is not valid SQL"]),
    ({"sources__tax__linkage": {"method": "hybrid", "id_fields": "national_id"}},
     ["sources.tax.linkage.id_fields", "expected a list", "got national_id"]),
    ({"output": {"dir": ["x"]}}, ["output.dir", "expected a string"]),
], ids=["misspelt method", "bound", "wrong type", "birth_date", "gender", "suburb", "misspelt key",
        "training rule not a list", "blocking rules not a list", "flat rule list", "rule not SQL",
        "required list given as text", "text given as list"])
def test_config_messages_in_the_projects_words(tmp_path, change, fragments):
    """No pydantic wording ("Input should be"), no YAML path that does not exist (the union tag
    `linkage.probabilistic.threshold`), and did-you-mean over the right vocabulary."""
    result = cli("validate", small_job(tmp_path, **change))
    assert_fails_cleanly(result, 2, *fragments)
    assert "Input should" not in result.output and "linkage.probabilistic." not in result.output
