"""The rules through a job: visa rules, the grace period of a sign of life and never-active people,
on a few records each (the rules themselves are tested on tables in tests/rules)."""

from spine import Job
from tests.conftest import engine_on
from tests.spine.small_jobs import CROSSINGS_COLUMNS, linked_source, write_small_job

REGISTER = ("id,nin,fn,sn,dob,sex,reg\n"
            "R1,101,Amal,Haddad,1985-02-03,F,2018-03-20\n"     # arrived 2018, entry recorded
            "R2,102,Ole,Dahl,1960-07-08,M,1960-07-08\n"        # registered, never any activity
            "R3,103,Lena,Berg,1990-04-04,F,2019-06-01\n"       # came on a work visa, entry not recorded
            "R4,104,Tomas,Novak,1988-09-09,M,2020-04-01\n")    # came as a visitor, switched to work
BENEFITS = "id,nin,fn,sn,dob,sex,type,start,end\nB1,101,Amal,Haddad,1985-02-03,F,child_benefit,2022-01-01,2022-12-31\n"
VISAS = ("id,fn,sn,dob,sex,type,start,end\n"
         "V1,Lena,Berg,1990-04-04,F,work,2019-05-01,2022-05-01\n"
         "V2,Tomas,Novak,1988-09-09,M,visit,2020-01-01,2020-06-30\n"
         "V3,Tomas,Novak,1988-09-09,M,work,2020-03-01,2023-03-01\n")
CROSSINGS = ("id,fn,sn,dob,sex,date,dir\n"
             "X1,Amal,Haddad,1985-02-03,F,2018-03-01,IN\n"
             "X2,Tomas,Novak,1988-09-09,M,2020-01-10,IN\n")


def write_job(tmp_path, rules):
    files = {"register": REGISTER, "benefits": BENEFITS, "visas": VISAS, "crossings": CROSSINGS}
    sources = {"benefits": linked_source("benefits", {"national_id": "nin", "event_type": "type",
                                                      "start_date": "start", "end_date": "end"}),
               "visas": linked_source("visas", {"event_type": "type", "start_date": "start", "end_date": "end"}),
               "crossings": linked_source("crossings", CROSSINGS_COLUMNS)}
    return write_small_job(tmp_path, files, {"national_id": "nin"}, sources, rules=rules,
                           output={"keep_intermediate": True})   # the tests look into the rules' tables


LIFE = {"sources": ["register", "benefits"], "grace_days": {"child_benefit": 365}, "never_active_not_resident": True}


def test_visa_rules_grace_period_and_never_active_in_a_job(tmp_path):
    result = Job.from_yaml(write_job(tmp_path, {"signs_of_life": LIFE, "visas": {"source": "visas"}})).run()
    try:
        person = result.df("links").query("source == 'register'").set_index("record_id").person_id
        name = {pid: rid for rid, pid in person.items()}
        events = sorted((name[r.person_id], r.event, str(r.date)[:10]) for r in result.df("events").itertuples())
        movements = sorted((name[r.person_id], str(r.date)[:10], r.source, r.flag, r.kept)
                           for r in result.df("movements").itertuples())
        con = engine_on(result.connection())
        spells = sorted(name[p] for (p,) in con.execute("SELECT person_id FROM residence_spells").fetchall())
        benefit_end = con.execute(
            "SELECT CAST(end_date AS VARCHAR) FROM rules__presence WHERE source = 'benefits'").fetchall()
        counts = result.quality["rules"]
    finally:
        result.close()
    assert events == [("R1", "immigration", "2018-03-01"),
                      ("R3", "immigration", "2019-05-01"),    # imputed at the visa's start
                      ("R4", "immigration", "2020-03-01")]    # time as a visitor did not count
    assert movements == [("R1", "2018-03-01", "crossings", None, True),
                         ("R3", "2019-05-01", "visa", "imputed", True),
                         ("R4", "2020-01-10", "crossings", None, False),
                         ("R4", "2020-03-01", "visa_transition", "imputed", True)]
    assert spells == ["R1", "R3", "R4"]                        # Ole never showed a sign of life
    # the benefit ended 731 days before the data's end: without its year of grace Amal would be
    # presumed gone; the evidence itself keeps its date
    assert benefit_end == [("2022-12-31",)]
    assert (counts["visas"]["in_country_grants"], counts["visas"]["stays_started_at_transition"],
            counts["visas"]["imputed_arrivals"]) == (1, 1, 1)
    assert counts["signs_of_life"]["never_active_not_resident"] == 1
    assert counts["visas"]["events_without"] == {"immigration": 2}   # without the visa rules: Amal and Tomas at entry
    assert counts["visas"]["persons_rerun_without"] == 2              # the visa holders, Lena and Tomas


def test_without_visa_rules_entries_count_as_recorded_and_grace_can_be_left_out(tmp_path):
    """The same job with no visa source: Tomas immigrates at his entry as a visitor, Lena has no
    arrival, and without the grace period Amal's silence since 2022 makes her presumed gone."""
    life = {k: v for k, v in LIFE.items() if k != "grace_days"}
    result = Job.from_yaml(write_job(tmp_path, {"signs_of_life": life})).run()
    try:
        person = result.df("links").query("source == 'register'").set_index("record_id").person_id
        name = {pid: rid for rid, pid in person.items()}
        events = sorted((name[r.person_id], r.event, str(r.date)[:10]) for r in result.df("events").itertuples())
        counts = result.quality["rules"]
    finally:
        result.close()
    assert events == [("R1", "emigration", "2022-12-31"), ("R1", "immigration", "2018-03-01"),
                      ("R4", "immigration", "2020-01-10")]
    assert counts["visas"] == {"enabled": False, "visitors": 0, "events_with": counts["visas"]["events_with"],
                               "events_without": None, "persons_rerun_without": None}
