"""Pseudonymous person keys: HMAC-SHA256 of a stable anchor, computed in SQL in the engine.

The key is turned into the two HMAC pads here and bound as parameters into a TEMP table (kept in
memory for the connection, never written to the store, never part of any SQL text that could be
logged). The engine computes ``sha256(opad || unhex(sha256(ipad || anchor)))``, which equals
Python's ``hmac.new(key, anchor, sha256).hexdigest()`` (checked in the tests).
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any

from spine.errors import ConfigError

logger = logging.getLogger(__name__)

#: Used only when the job says ``demo: true``; never for real data.
DEMO_KEY = "migration-spine-demo-key-not-secret"
_BLOCK = 64
#: HMAC-SHA256 is as strong as its key: 32 random bytes, as the hash's output.
MIN_KEY_BYTES = 32
#: Variables every system sets: their values are public (``HOME`` is ``/root``), never a secret key.
WELL_KNOWN_VARIABLES = frozenset({
    "HOME", "PATH", "USER", "USERNAME", "LOGNAME", "SHELL", "PWD", "OLDPWD", "LANG", "LANGUAGE", "LC_ALL",
    "LC_CTYPE", "TERM", "HOSTNAME", "HOST", "TMPDIR", "TMP", "TEMP", "TZ", "EDITOR", "VISUAL", "PAGER",
    "DISPLAY", "MAIL", "SHLVL", "HISTFILE", "PS1", "PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX",
    "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "SSH_AUTH_SOCK",
    "USERPROFILE", "APPDATA", "LOCALAPPDATA", "COMPUTERNAME", "SYSTEMROOT", "WINDIR", "COMSPEC",
})
MAKE_KEY = 'python -c "import secrets; print(secrets.token_hex(32))"'


def demo_key_warning(env_var: str) -> str:
    """Why a run with the demo key must not be published: anyone can recompute its person ids."""
    return (f"demo: true and {env_var} is not set, so person ids are keyed with the public demo key: anyone "
            "with a national id can recompute a person's id. Never use this for real data; set "
            f"{env_var} (make a key with: {MAKE_KEY}) and remove demo: true.")


def uses_demo_key(env_var: str, *, demo: bool) -> bool:
    """Whether a run of this job would key person ids with the public demo key."""
    return demo and not os.environ.get(env_var, "")


def person_key_from_env(env_var: str, *, demo: bool) -> bytes:
    """Read the HMAC key from the environment variable the job names; the demo key (with a logged
    warning) only for a demo job without one. The key's value is never part of a message.

    Raises:
        ConfigError: the variable is a well-known system one, holds fewer than MIN_KEY_BYTES bytes,
            or is unset or empty and the job is not a demo.
    """
    if env_var.upper() in WELL_KNOWN_VARIABLES:
        raise ConfigError(
            f"person_key_env: {env_var} is a system environment variable whose value is public, not a secret "
            f"key; name a variable of your own (the default is SPINE_PERSON_KEY) and put a key in it, made "
            f"with: {MAKE_KEY}")
    value = os.environ.get(env_var, "")
    if value:
        size = len(value.encode("utf-8"))
        if size < MIN_KEY_BYTES:
            raise ConfigError(
                f"person_key_env: the key in {env_var} has {size} bytes; a person key needs at least "
                f"{MIN_KEY_BYTES} bytes of random key material. Make one with: {MAKE_KEY}")
        return value.encode("utf-8")
    if demo:
        logger.warning(demo_key_warning(env_var), extra={"spine_demo_key": True})
        return DEMO_KEY.encode("utf-8")
    raise ConfigError(
        f"person_key_env: environment variable {env_var} is not set; person_id is a keyed hash "
        f"and needs a secret key (export {env_var}=...; make one with: {MAKE_KEY}; only a job with "
        "demo: true may run without one)"
    )


def is_demo_key(key: bytes) -> bool:
    """Whether person ids of a run are keyed with the public demo key (for quality.json)."""
    return key == DEMO_KEY.encode("utf-8")


KEY_TABLE = "person_key_pads"


def create_key_table(db: Any, key: bytes) -> str:
    """Bind the key's HMAC pads into a TEMP table of the connection; return its name."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in padded).hex()
    opad = bytes(b ^ 0x5C for b in padded).hex()
    db.run(f"CREATE OR REPLACE TEMP TABLE {KEY_TABLE} AS SELECT unhex(?) AS ipad, unhex(?) AS opad",
           [ipad, opad])
    return KEY_TABLE


def hmac_sql(anchor_sql: str, key_table: str = KEY_TABLE) -> str:
    """SQL expression: hex HMAC-SHA256 of the VARCHAR expression ``anchor_sql``, pads from ``key_table``."""
    inner = f"unhex(sha256((SELECT ipad FROM {key_table}) || encode({anchor_sql})))"
    return f"sha256((SELECT opad FROM {key_table}) || {inner})"
