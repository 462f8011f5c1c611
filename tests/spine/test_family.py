"""Family association through a job: a child on a claim, with no record of its own, becomes a
person (origin family) and moves with the claimant."""

import pytest
import yaml

from spine import Job

REGISTER = "id,nin,fn,sn,dob,sex,reg\nR1,101,Amal,Haddad,1985-02-03,F,2018-03-20\nR2,102,Ole,Dahl,1960-07-08,M,1960-07-08\n"
BENEFITS = "id,nin,fn,sn,dob,sex,claim,start,end\nB1,101,Amal,Haddad,1985-02-03,F,C1,2019-01-01,2019-12-31\n"
CHILDREN = "id,claim,fn,sn,dob,sex\nK1,C1,Sami,Haddad,2014-05-06,M\n"
CROSSINGS = "id,fn,sn,dob,sex,date,dir\nX1,Amal,Haddad,1985-02-03,F,2018-03-01,IN\n"
PERSON = {"first_name": "fn", "surname": "sn", "dob": "dob", "sex": "sex"}


@pytest.mark.parametrize("children", [CHILDREN, CHILDREN + "K2,C1,Sami,Haddad,2014-05-06,M\n"],
                         ids=["one record", "listed twice"])
def test_child_on_a_claim_becomes_a_family_person_and_inherits_the_immigration(tmp_path, children):
    """Listed twice on the claim, the child is still one person with one immigration."""
    for name, text in (("register", REGISTER), ("benefits", BENEFITS), ("children", children),
                       ("crossings", CROSSINGS)):
        (tmp_path / f"{name}.csv").write_text(text)
    keys = {"method": "match_keys"}
    job = {"name": "t", "base": "register", "home_country": "XSY", "demo": True,
           "observation": {"start": "2015-01-01", "end": "2024-12-31"},
           "sources": {
               "register": {"path": "register.csv", "record_id": "id",
                            "columns": {**PERSON, "national_id": "nin", "start_date": "reg"}},
               "benefits": {"path": "benefits.csv", "record_id": "id", "linkage": keys,
                            "columns": {**PERSON, "national_id": "nin", "claim_id": "claim",
                                        "start_date": "start", "end_date": "end"}},
               "children": {"path": "children.csv", "record_id": "id", "linkage": keys,
                            "columns": {**PERSON, "claim_id": "claim"}},
               "crossings": {"path": "crossings.csv", "record_id": "id", "linkage": keys,
                             "columns": {**PERSON, "event_date": "date", "direction": "dir"}}},
           "rules": {"family": {"children_source": "children", "claims_source": "benefits"}}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    result = Job.from_yaml(path).run()
    try:
        links = result.df("links").set_index(["source", "record_id"])
        persons = result.df("persons").set_index("person_id")
        events = result.df("events")
    finally:
        result.close()
    child = links.loc[("children", "K1")]
    assert (child.status, child.method) == ("linked", "family")
    assert persons.loc[child.person_id, "origin"] == "family" and persons.loc[child.person_id, "first_name"] == "SAMI"
    amal = links.loc[("register", "R1"), "person_id"]
    assert links[links.method == "family"].person_id.nunique() == 1
    rows = sorted(map(tuple, events[["person_id", "event", "derived_via", "parent_person_id"]].astype(str).values))
    assert rows == sorted([(amal, "immigration", "self", "None"), (child.person_id, "immigration", "family", amal)])
