"""Pseudonymous person keys: HMAC-SHA256 of a stable anchor, computed in SQL in the engine.

The key is turned into the two HMAC pads here and bound as parameters into a TEMP table (kept in
memory for the connection, never written to the store, never part of any SQL text that could be
logged). The engine computes ``sha256(opad || unhex(sha256(ipad || anchor)))``, which equals
Python's ``hmac.new(key, anchor, sha256).hexdigest()`` (checked in the tests).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from spine.errors import ConfigError

#: Used only when the job says ``demo: true``; never for real data.
DEMO_KEY = "migration-spine-demo-key-not-secret"
_BLOCK = 64


def person_key_from_env(env_var: str, *, demo: bool) -> bytes:
    """Read the HMAC key from the environment variable the job names.

    Raises:
        ConfigError: when the variable is unset or empty and the job is not a demo.
    """
    value = os.environ.get(env_var, "")
    if value:
        return value.encode("utf-8")
    if demo:
        return DEMO_KEY.encode("utf-8")
    raise ConfigError(
        f"person_key_env: environment variable {env_var} is not set; person_id is a keyed hash "
        f"and needs a secret key (export {env_var}=...; only a job with demo: true may run without one)"
    )


KEY_TABLE = "person_key_pads"


def create_key_table(con: Any, key: bytes) -> str:
    """Bind the key's HMAC pads into a TEMP table of the connection; return its name."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in padded).hex()
    opad = bytes(b ^ 0x5C for b in padded).hex()
    con.execute(f"CREATE OR REPLACE TEMP TABLE {KEY_TABLE} AS SELECT unhex(?) AS ipad, unhex(?) AS opad",
                [ipad, opad])
    return KEY_TABLE


def hmac_sql(anchor_sql: str, key_table: str = KEY_TABLE) -> str:
    """SQL expression: hex HMAC-SHA256 of the VARCHAR expression ``anchor_sql``, pads from ``key_table``."""
    inner = f"unhex(sha256((SELECT ipad FROM {key_table}) || encode({anchor_sql})))"
    return f"sha256((SELECT opad FROM {key_table}) || {inner})"
