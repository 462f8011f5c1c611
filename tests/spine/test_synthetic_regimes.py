"""Regimes of the synthetic universe: every behaviour shows up in the files, and the truth keeps its
definition (UN 12 months on the true itinerary) in every named regime and in random ones."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from spine.synthetic import REGIMES, Regime, generate, named_regime, parse_value, random_regime
from spine.synthetic.regimes import ADMIN_SOURCES
from tests.conftest import engine_on

PERSONS = 2_000


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    """Universes by regime name, generated once for the module (same seed, so paired with the baseline)."""
    cache: dict[str, duckdb.DuckDBPyConnection] = {}

    def get(name: str, regime: Regime | None = None) -> duckdb.DuckDBPyConnection:
        if name not in cache:
            u = generate(PERSONS, seed=3, out_dir=tmp_path_factory.mktemp(name),
                         regime=regime or named_regime(name), validation_fraction=0)
            assert u.truth_passed, u.truth_checks
            con = engine_on()
            for table, path in {**u.sources, **{f"truth_{k}": v for k, v in u.truth.items()}}.items():
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_csv('{path}', all_varchar = true)")
            cache[name] = con
        return cache[name]

    return get


def one(con, sql):
    return con.execute(sql).fetchone()[0]


def of(source: str) -> str:
    """The source's records with their true person's kind, dob and sex."""
    return (f"(SELECT s.*, p.person_key, p.kind, p.dob AS true_dob, p.sex AS true_sex, p.surname AS true_surname, "
            f"p.first_name AS true_first_name FROM {source} AS s JOIN truth_records AS r ON r.source = '{source}' "
            "AND r.record_id = s.record_id JOIN truth_persons AS p USING (person_key))")


# ---------------------------------------------------------------- the parameters themselves

def test_baseline_is_the_default_and_presets_set_what_they_say():
    assert named_regime("baseline") == Regime()
    assert len(REGIMES) >= 10
    for name, (doc, overrides) in REGIMES.items():
        assert doc and named_regime(name).changed() == overrides, name


def test_random_regimes_come_from_the_seed_and_stay_in_range():
    a, b, c = random_regime(1, 1), random_regime(1, 1), random_regime(2, 1)
    assert a == b != c
    for f in dataclasses.fields(Regime):
        low, high = f.metadata["range"]
        value = getattr(a, f.name)
        if f.type == "tuple[str, ...]":
            assert set(value) <= set(ADMIN_SOURCES)
        elif f.type != "bool":
            assert low <= value <= high, f.name


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match=r"exit_recording must be between 0 and 1, got 1.5"):
        Regime(exit_recording=1.5)
    with pytest.raises(ValueError, match=r"registration_lag_days must be at least 61, got 30"):
        Regime(registration_lag_days=30)
    with pytest.raises(ValueError, match="must be below 1"):
        Regime(visitor_share=0.6, seasonal_share=0.5)
    assert Regime(exit_recording=1.0, visitor_share=0.0).exit_recording == 1.0   # outside the plausible range
    with pytest.raises(ValueError, match="unknown sources"):
        Regime(upper_ascii_sources=("tax", "register"))
    with pytest.raises(ValueError, match="unknown regime parameters"):
        Regime().with_overrides({"exit_rate": 0.8})
    with pytest.raises(ValueError, match="unknown regime 'nowhere'"):
        named_regime("nowhere")
    with pytest.raises(ValueError, match="cannot read 'maybe' as bool"):
        parse_value("tax_has_sex", "maybe")
    assert parse_value("upper_ascii_sources", "tax, visas") == ("tax", "visas")
    assert parse_value("registration_lag_days", "500") == 500


@pytest.mark.parametrize("name", [*REGIMES, "random_1", "random_2", "random_3"])
def test_truth_keeps_its_definition(name, tmp_path):
    regime = random_regime(11, int(name[-1])) if name.startswith("random_") else named_regime(name)
    u = generate(1_500, seed=5, out_dir=tmp_path, regime=regime, validation_fraction=0)
    assert u.truth_passed, u.truth_checks
    assert set(u.truth_checks) >= {"movements_out_of_order", "spells_under_365_days", "gaps_under_366_days",
                                   "absences_365_days_or_more", "visits_365_days_or_more"}


# ---------------------------------------------------------------- each behaviour shows up

def test_quiet_residents_have_years_without_activity(worlds):
    silent = """SELECT avg((gap >= 3)::INT) FROM (
        SELECT max(CAST(tax_year AS INT) - prev) AS gap FROM (
            SELECT person_key, tax_year, lag(CAST(tax_year AS INT)) OVER (PARTITION BY person_key ORDER BY tax_year) AS prev
            FROM {tax}) GROUP BY person_key)"""
    base = one(worlds("baseline"), silent.format(tax=of("tax")))
    quiet = one(worlds("quiet_residents"), silent.format(tax=of("tax")))
    assert base < 0.01 and quiet > 0.08
    # long absences are true moves, never events
    con = worlds("quiet_residents")
    assert one(con, "SELECT count(*) FROM truth_itinerary WHERE movement = 'absence'") > 0
    assert one(con, """SELECT count(*) FROM truth_events AS e JOIN truth_itinerary AS i
                       ON i.person_key = e.person_key AND i.date = e.date WHERE i.movement = 'absence'""") == 0


def test_messy_identities_lose_fields_and_spell_names_otherwise(worlds):
    base, messy = worlds("baseline"), worlds("messy_identities")
    columns = lambda con, t: [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall()]  # noqa: E731
    assert "sex" in columns(base, "tax") and "sex" not in columns(messy, "tax") and "sex" not in columns(messy, "benefits")
    assert one(messy, "SELECT bool_and(surname = upper(surname) AND regexp_full_match(surname, '[A-Z -]+')) FROM tax")
    assert one(messy, "SELECT count(*) FROM visas WHERE surname <> upper(surname)") > 0      # not every source
    day_lost = "SELECT avg((left(dob, 2) = '01' AND left(true_dob, 2) <> '01' AND right(true_dob, 2) <> '01')::INT) FROM {t}"
    lost_base = one(base, day_lost.format(t=of("benefits")).replace("left(dob, 2)", "right(dob, 2)"))
    lost_messy = one(messy, day_lost.format(t=of("benefits")).replace("left(dob, 2)", "right(dob, 2)"))
    assert lost_base < 0.01 and lost_messy > 0.15
    assert one(messy, f"SELECT count(*) FROM {of('crossings')} WHERE first_name = upper(true_surname)") > 0   # swapped


def test_admin_sources_learn_a_new_surname_late():
    """Records dated soon after a marriage carry the married surname at once without a lag, not always with one."""
    import numpy as np

    from spine.synthetic.records import Records
    from spine.synthetic.universe import NONE, Universe
    from spine.synthetic.vocabulary import Vocabulary

    def married_share(regime):
        rng = np.random.default_rng(1)
        u = Universe(3_000, 1, rng, regime, 16436, 20088, Vocabulary(rng))
        wed = np.flatnonzero((u.marriage != NONE) & (u.married_surname != u.surname))
        r = Records(u)
        shares = {}
        for source in ("register", "tax", "visas", "education"):
            _, surname = r.names(wed, u.marriage[wed] + 200, admin=source != "register", source=source)
            shares[source] = np.mean(surname == u.vocab.strings[u.married_surname[wed]])
        return shares, r.marriage_lag

    now, _ = married_share(Regime(typo=0, transliteration=0))
    late, lags = married_share(Regime(typo=0, transliteration=0, marriage_lag_days=1095))
    assert min(now.values()) == 1.0
    assert late["register"] == 1.0
    for source in ("tax", "visas", "education"):
        assert late[source] == (1.0 if lags[source] <= 200 else 0.0), (source, lags[source])
    assert len(set(lags.values())) > 1                     # each source has its own lag


def test_leaky_border_loses_exits_entries_and_children(worlds):
    recorded = """SELECT count(*) FILTER (WHERE c.record_id IS NOT NULL) / count(*) FROM truth_itinerary AS i
        LEFT JOIN (SELECT DISTINCT ON (person_key, crossing_date, direction) * FROM {c}) AS c
          ON c.person_key = i.person_key AND c.crossing_date = i.date AND lower(c.direction) = i.direction
        JOIN truth_persons AS p ON p.person_key = i.person_key
        WHERE i.date BETWEEN '2015-01-01' AND '2024-12-31' AND i.direction = '{d}'
          AND CAST(i.date AS DATE) >= CAST(p.dob AS DATE) + INTERVAL 16 YEAR AND i.movement <> 'arrival'"""
    base, leaky = worlds("baseline"), worlds("leaky_border")
    out_base = one(base, recorded.format(c=of("crossings"), d="out"))
    out_leaky = one(leaky, recorded.format(c=of("crossings"), d="out"))
    assert 0.85 < out_base < 0.95 and 0.63 < out_leaky < 0.77
    assert one(base, recorded.format(c=of("crossings"), d="in")) == 1.0
    assert 0.86 < one(leaky, recorded.format(c=of("crossings"), d="in")) < 0.97
    dup = "SELECT count(*) - count(DISTINCT (person_key, crossing_date, direction)) FROM {c}"
    children = recorded.replace("+ INTERVAL 16 YEAR", "+ INTERVAL 0 YEAR AND CAST(i.date AS DATE) < CAST(p.dob AS DATE) + INTERVAL 16 YEAR")
    assert one(leaky, children.format(c=of("crossings"), d="in")) < 0.4
    assert one(leaky, dup.format(c=of("crossings"))) > 2 * one(base, dup.format(c=of("crossings")))


def test_stale_register_keeps_emigrants_and_gives_returners_new_numbers(worlds):
    told = """SELECT avg(coalesce(g.deregistration_reason = 'emigration', FALSE)::INT) FROM truth_events AS e
        JOIN truth_records AS r ON r.person_key = e.person_key AND r.source = 'register'
        JOIN register AS g ON g.record_id = r.record_id
        WHERE e.event = 'emigration' AND e.date < '2024-01-01'
          AND e.person_key NOT IN (SELECT person_key FROM truth_events WHERE event = 'immigration' AND date > e.date)"""
    assert 0.35 < one(worlds("baseline"), told) < 0.65
    stale = worlds("stale_register")
    assert one(stale, told) < 0.15
    lag = """SELECT median(datediff('day', CAST(e.date AS DATE), CAST(g.deregistration_date AS DATE))) FROM truth_events AS e
        JOIN truth_records AS r ON r.person_key = e.person_key AND r.source = 'register'
        JOIN register AS g ON g.record_id = r.record_id WHERE e.event = 'emigration' AND g.deregistration_reason = 'emigration'"""
    assert one(worlds("baseline"), lag) < 60 < one(stale, lag)
    twice = """SELECT count(*) FROM (SELECT r.person_key FROM truth_records AS r JOIN register AS g ON g.record_id = r.record_id
               WHERE r.source = 'register' GROUP BY 1 HAVING count(DISTINCT g.national_id) > 1)"""
    assert one(stale, twice) > one(worlds("baseline"), twice)


def test_money_follows_people_abroad(worlds):
    after = """SELECT count(*) FROM {t} AS t JOIN truth_events AS e ON e.person_key = t.person_key AND e.event = 'emigration'
        WHERE {day} > CAST(e.date AS DATE) + INTERVAL 200 DAY AND NOT EXISTS (SELECT 1 FROM truth_events AS b
              WHERE b.person_key = t.person_key AND b.event = 'immigration' AND b.date > e.date)"""
    pensions = after.format(t=of("benefits"), day="CAST(t.start_date AS DATE)") + " AND t.benefit_type = 'pension'"
    taxed = after.format(t=of("tax"), day="make_date(CAST(t.tax_year AS INT), 7, 1)")
    base, money = worlds("baseline"), worlds("money_abroad")
    assert one(base, pensions) == 0 and one(money, pensions) > 0
    assert one(base, taxed) == 0 and one(money, taxed) > 0


def test_documents_change(worlds):
    two = "SELECT count(*) FROM (SELECT person_key FROM {c} GROUP BY 1 HAVING count(DISTINCT passport_no) > 1)"
    base, docs = worlds("baseline"), worlds("new_documents")
    assert one(base, two.format(c=of("crossings"))) == 0 < one(docs, two.format(c=of("crossings")))
    naturalised = f"SELECT count(*) FROM {of('register')} WHERE kind <> 'native' AND nationality = 'XSY'"
    assert one(base, naturalised) == 0 < one(docs, naturalised)
    assert one(docs, f"SELECT count(*) FROM {of('crossings')} WHERE kind <> 'native' AND passport_no LIKE 'XS%'") > 0


def test_mobile_population_adds_seasonal_workers_early_leavers_and_no_shows(worlds):
    con = worlds("mobile_population")
    assert one(con, "SELECT count(*) FROM visas WHERE visa_type = 'seasonal'") > 0
    assert one(con, f"SELECT count(*) FROM {of('tax')} WHERE kind = 'seasonal'") > 0
    assert one(con, """SELECT count(*) FROM truth_events JOIN truth_persons USING (person_key)
                       WHERE kind IN ('seasonal', 'visitor', 'no_show')""") == 0
    no_show_records = f"SELECT DISTINCT 'visas' = ALL(list(source)) FROM truth_records JOIN truth_persons USING (person_key) WHERE kind = 'no_show' GROUP BY person_key"
    assert con.execute(no_show_records).fetchall() == [(True,)]
    # early leavers: an arrival and a departure under a year apart, and no event
    early = """SELECT count(*) FROM truth_itinerary AS a JOIN truth_itinerary AS d
        ON d.person_key = a.person_key AND d.movement = 'departure' AND a.movement = 'arrival'
        AND datediff('day', CAST(a.date AS DATE), CAST(d.date AS DATE)) < 365
        WHERE a.person_key NOT IN (SELECT person_key FROM truth_events)"""
    assert one(worlds("baseline"), early) == 0 < one(con, early)
    assert one(con, "SELECT count(*) FROM truth_itinerary WHERE movement = 'home_visit'") > 0


def test_families_follow_stay_behind_and_are_born_abroad(worlds):
    con = worlds("family_moves")
    later = """SELECT count(*) FROM truth_persons AS c JOIN truth_events AS ce ON ce.person_key = c.person_key
        JOIN truth_events AS pe ON pe.person_key = c.parent_person_key AND pe.event = 'immigration'
        WHERE c.kind = 'dependant' AND ce.event = 'immigration' AND ce.date > pe.date"""
    assert one(worlds("baseline"), later) == 0 < one(con, later)
    born_abroad = """SELECT count(*) FROM truth_events JOIN truth_persons USING (person_key)
                     WHERE kind = 'native' AND event = 'immigration' AND country_of_birth <> 'XSY'
                       AND parent_person_key IS NOT NULL"""
    assert one(worlds("baseline"), born_abroad) == 0 < one(con, born_abroad)


def test_grown_up_children_stay_when_their_parents_leave():
    import numpy as np

    from spine.synthetic.universe import DEPENDANT, NONE, YEAR, Universe
    from spine.synthetic.vocabulary import Vocabulary

    def stayed(regime):
        rng = np.random.default_rng(4)
        u = Universe(20_000, 4, rng, regime, 16436, 20088, Vocabulary(rng))
        dep = np.flatnonzero((u.kind == DEPENDANT) & (u.parent != NONE))
        parent_left = u.planned_departure[u.parent[dep]] != NONE
        adult = u.planned_departure[u.parent[dep]] - u.dob[dep] >= 18 * YEAR
        return int((parent_left & adult & (u.planned_departure[dep] == NONE)).sum()), int((parent_left & adult).sum())

    assert stayed(Regime())[0] == 0
    kept, adults = stayed(Regime(adult_children_stay=1.0))
    assert kept == adults > 0


def test_asylum_seekers_arrive_unseen_with_1_january_dates_of_birth(worlds):
    con = worlds("asylum_arrivals")
    unseen = """SELECT count(*) FROM truth_events AS e JOIN truth_persons AS p USING (person_key)
        WHERE e.event = 'immigration' AND p.kind = 'immigrant'
          AND NOT EXISTS (SELECT 1 FROM {c} AS c WHERE c.person_key = e.person_key AND c.crossing_date = e.date)
          AND e.person_key NOT IN (SELECT person_key FROM truth_records WHERE source = 'visas')"""
    assert one(worlds("baseline"), unseen.format(c=of("crossings"))) == 0
    assert one(con, unseen.format(c=of("crossings"))) > 20
    jan = f"SELECT count(*) FROM {of('register')} WHERE right(dob, 5) = '01-01' AND right(true_dob, 5) <> '01-01'"
    assert one(worlds("baseline"), jan) < 3 < one(con, jan)


def test_high_emigration_and_deaths(worlds):
    emigrations = "SELECT count(*) FROM truth_events WHERE event = 'emigration'"
    assert one(worlds("high_emigration"), emigrations) > 1.8 * one(worlds("baseline"), emigrations)
    foreign_deaths = f"SELECT count(*) FROM {of('register')} WHERE deregistration_reason = 'death' AND kind <> 'native'"
    assert one(worlds("baseline"), foreign_deaths) == 0 < one(worlds("high_emigration"), foreign_deaths)


def test_docs_list_every_parameter_and_regime():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "synthetic.md").read_text()
    for f in dataclasses.fields(Regime):
        assert f"`{f.name}`" in docs, f.name
    for name in REGIMES:
        assert f"`{name}`" in docs, name


def test_truth_checks_catch_a_broken_truth():
    """Each check fails when the truth it guards is broken: an event missing or extra, a stay near
    the 12-month line, a record after death, movements out of order."""
    import numpy as np
    import pyarrow as pa

    from spine.synthetic import sources
    from spine.synthetic.records import Records
    from spine.synthetic.truth import check_truth, itinerary, truth_tables
    from spine.synthetic.universe import IMMIGRANT, NONE, Universe
    from spine.synthetic.vocabulary import Vocabulary

    def world():
        rng = np.random.default_rng(2)
        u = Universe(3_000, 2, rng, Regime(), 16436, 20088, Vocabulary(rng))
        r = Records(u)
        years = np.arange(2015, 2025)
        built = {"register": sources.register(u, r), "tax": sources.tax(u, r, years),
                 "crossings": sources.crossings(u, r, years)}
        keys = np.char.add("P", np.char.zfill(np.arange(1, u.n + 1).astype(str), 9)).astype(object)
        return u, built, keys

    def checks(u, built, keys, events=None):
        moves = itinerary(u)
        tables = truth_tables(u, keys, moves)
        return check_truth(u, events if events is not None else tables["events"], built, moves), tables

    u, built, keys = world()
    good, tables = checks(u, built, keys)
    assert not any(good.values()), good
    # one event dropped from the table as written; one moved by a day (missing where it was, extra where it is)
    assert checks(u, built, keys, tables["events"].slice(1))[0]["events_missing"] == 1
    dates = tables["events"]["date"].to_pylist()
    dates[0] = str(np.datetime64(dates[0]) + 1)
    moved = checks(u, built, keys, tables["events"].set_column(2, "date", pa.array(dates)))[0]
    assert moved["events_missing"] == moved["events_extra"] == 1
    # an immigrant's stay set to 370 days: near the line, and the truth's events no longer the itinerary's
    who = np.flatnonzero((u.kind == IMMIGRANT) & (u.planned_departure == NONE) & (u.arrival < u.end - 500))[0]
    u.planned_departure[who] = u.departure[who] = u.arrival[who] + 370
    broken, _ = checks(u, built, keys, tables["events"])
    assert broken["stays_near_the_12_month_line"] == 1 and broken["events_extra"] == 0 < broken["events_missing"]
    # a death before a person's last tax record
    u, built, keys = world()
    taxed = built["tax"]["person"][-1]
    u.death[taxed] = u.start
    assert checks(u, built, keys)[0]["records_after_death"] >= 1
    # a trip's return recorded before its exit
    u, built, keys = world()
    person, leave, back = u.trips
    u.trips = (person, back, leave)
    assert checks(u, built, keys)[0]["movements_out_of_order"] > 0
