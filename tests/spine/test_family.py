"""Family association through a job: a child on a claim, with no record of its own, becomes a
person (origin family) and moves with the claimant."""

import pytest

from spine import Job
from tests.spine.small_jobs import CROSSINGS_COLUMNS, linked_source, write_small_job

REGISTER = "id,nin,fn,sn,dob,sex,reg\nR1,101,Amal,Haddad,1985-02-03,F,2018-03-20\nR2,102,Ole,Dahl,1960-07-08,M,1960-07-08\n"
BENEFITS = "id,nin,fn,sn,dob,sex,claim,start,end\nB1,101,Amal,Haddad,1985-02-03,F,C1,2019-01-01,2019-12-31\n"
CHILDREN = "id,claim,fn,sn,dob,sex\nK1,C1,Sami,Haddad,2014-05-06,M\n"
CROSSINGS = "id,fn,sn,dob,sex,date,dir\nX1,Amal,Haddad,1985-02-03,F,2018-03-01,IN\n"


@pytest.mark.parametrize("children", [CHILDREN, CHILDREN + "K2,C1,Sami,Haddad,2014-05-06,M\n"],
                         ids=["one record", "listed twice"])
def test_child_on_a_claim_becomes_a_family_person_and_inherits_the_immigration(tmp_path, children):
    """Listed twice on the claim, the child is still one person with one immigration."""
    files = {"register": REGISTER, "benefits": BENEFITS, "children": children, "crossings": CROSSINGS}
    sources = {"benefits": linked_source("benefits", {"national_id": "nin", "claim_id": "claim",
                                                      "start_date": "start", "end_date": "end"}),
               "children": linked_source("children", {"claim_id": "claim"}),
               "crossings": linked_source("crossings", CROSSINGS_COLUMNS)}
    path = write_small_job(tmp_path, files, {"national_id": "nin"}, sources,
                           rules={"family": {"children_source": "children", "claims_source": "benefits"}})
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
