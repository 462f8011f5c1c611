"""Person keys: HMAC-SHA256 computed in SQL equals Python's hmac; the key comes only from the env."""

import hashlib
import hmac

import pytest

from spine.errors import ConfigError
from spine.pseudonymise import DEMO_KEY, hmac_sql, person_key_from_env


@pytest.mark.parametrize("key", [b"k", b"a-longer-secret-key-with-32-bytes", b"x" * 100, "clé-ü".encode()])
def test_sql_hmac_equals_python_hmac(con, key):
    anchors = ["register:R1", "register:000123", "tax:Ünïcode", ""]
    con.execute("CREATE TABLE a AS SELECT unnest(?) AS anchor", [anchors])
    got = dict(con.execute(f"SELECT anchor, {hmac_sql('anchor', key)} FROM a").fetchall())
    for anchor in anchors:
        assert got[anchor] == hmac.new(key, anchor.encode(), hashlib.sha256).hexdigest()


def test_key_read_from_named_variable(monkeypatch):
    monkeypatch.setenv("MY_KEY", "s3cret")
    assert person_key_from_env("MY_KEY", demo=False) == b"s3cret"


def test_missing_key_is_an_error_unless_demo(monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(ConfigError, match="MY_KEY is not set"):
        person_key_from_env("MY_KEY", demo=False)
    assert person_key_from_env("MY_KEY", demo=True) == DEMO_KEY.encode()
