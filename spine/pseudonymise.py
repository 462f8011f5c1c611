"""Pseudonymous person keys: HMAC-SHA256 of a stable anchor, computed in SQL in the engine.

The key never leaves the process: it is turned into the two HMAC pads here, and the engine
computes ``sha256(opad || unhex(sha256(ipad || anchor)))``, which equals Python's
``hmac.new(key, anchor, sha256).hexdigest()`` (checked in the tests).
"""

from __future__ import annotations

import hashlib
import os

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


def hmac_sql(anchor_sql: str, key: bytes) -> str:
    """SQL expression: hex HMAC-SHA256 of the VARCHAR expression ``anchor_sql`` under ``key``."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in padded).hex()
    opad = bytes(b ^ 0x5C for b in padded).hex()
    inner = f"unhex(sha256(unhex('{ipad}') || encode({anchor_sql})))"
    return f"sha256(unhex('{opad}') || {inner})"
