"""Person keys: HMAC-SHA256 computed in SQL equals Python's hmac; the key comes only from the env."""

import hashlib
import hmac

import pytest

from spine.errors import ConfigError
from spine.pseudonymise import DEMO_KEY, create_key_table, hmac_sql, person_key_from_env


@pytest.mark.parametrize("key", [b"k", b"a-longer-secret-key-with-32-bytes", b"x" * 100, "clé-ü".encode()])
def test_sql_hmac_equals_python_hmac(con, key):
    anchors = ["register:R1", "register:000123", "tax:Ünïcode", ""]
    con.execute("CREATE TABLE a AS SELECT unnest(?) AS anchor", [anchors])
    sql = f"SELECT anchor, {hmac_sql('anchor', create_key_table(con, key))} FROM a"
    got = dict(con.execute(sql).fetchall())
    for anchor in anchors:
        assert got[anchor] == hmac.new(key, anchor.encode(), hashlib.sha256).hexdigest()


def test_key_read_from_named_variable(monkeypatch):
    monkeypatch.setenv("MY_KEY", "s3cret-s3cret-s3cret-s3cret-s3cret")
    assert person_key_from_env("MY_KEY", demo=False) == b"s3cret-s3cret-s3cret-s3cret-s3cret"


def test_missing_key_is_an_error_unless_demo(monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(ConfigError, match="MY_KEY is not set"):
        person_key_from_env("MY_KEY", demo=False)
    assert person_key_from_env("MY_KEY", demo=True) == DEMO_KEY.encode()


def test_key_never_in_sql_text_logs_or_store(tmp_path, monkeypatch, caplog):
    """--debug logs every SQL step: neither the key nor its pads may appear there or in the store."""
    import logging

    import duckdb

    from spine import Job
    from tests.spine.test_bad_input import REGISTER, TAX, write_job

    secret = "a-very-secret-person-key-of-32-bytes-or-more"
    monkeypatch.setenv("SPINE_PERSON_KEY", secret)
    job = write_job(tmp_path, {"register.csv": REGISTER, "tax.csv": TAX}, demo=False)
    with caplog.at_level(logging.DEBUG):
        Job.from_yaml(job).run().close()
    padded = secret.encode().ljust(64, b"\0")
    pads = [bytes(b ^ x for b in padded).hex() for x in (0x36, 0x5C)]
    assert "materialise" in caplog.text or "rows in" in caplog.text  # SQL was logged at all
    for needle in (secret, *pads):
        assert needle not in caplog.text
    store = next((tmp_path / "out").glob("*.duckdb"))
    assert secret.encode() not in store.read_bytes()
    with duckdb.connect(str(store), read_only=True) as con:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert "person_key_pads" not in tables


@pytest.mark.parametrize("opt_in", [[], ["national_id"]])
def test_raw_identifiers_reach_persons_only_when_the_job_opts_in(tmp_path, opt_in):
    from spine import Job
    from tests.spine.test_bad_input import REGISTER, TAX, write_job

    job = write_job(tmp_path, {"register.csv": REGISTER, "tax.csv": TAX}, output={"raw_identifiers": opt_in})
    result = Job.from_yaml(job).run()
    try:
        persons = result.df("persons")
        values = set(result.df("attribute_values").value)
    finally:
        result.close()
    if opt_in:
        assert sorted(persons.national_id) == ["001", "002"] and {"001", "002"} <= values
    else:
        assert "national_id" not in persons.columns and not {"001", "002"} & values
        assert not persons.astype(str).isin(["001", "002"]).any().any()
