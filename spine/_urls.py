"""Database URLs without their secrets: whether one holds a password, a form safe to show, and
messages with any password masked (every ConfigError passes through ``hide_passwords``)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

#: user:password@ in a URL, however the scheme is written.
_USERINFO_PASSWORD = re.compile(r"(\w[\w+.-]*:/+[^/@\s:]*):[^@\s/]*@")   # :/ too: a path resolved
#: a query parameter whose name (percent-decoded) ends in "password" (password, sslpassword).
_QUERY_PASSWORD = re.compile(r"([?&])([^=&\s]+)=([^&\s]*)")


def holds_password(url: str) -> bool:
    """Whether ``url`` carries a password: in its user part, or as any ``...password`` parameter."""
    parts = urlsplit(url)
    if parts.password:
        return True
    return any(unquote(name).lower().endswith("password") for name, _ in parse_qsl(parts.query, keep_blank_values=True))


def shown(url: str) -> str:
    """``scheme://user@host:port/database``: the URL without password and without its parameters."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def hide_passwords(text: str) -> str:
    """``text`` with the password of any URL in it masked (``user:***@``, ``password=***``)."""
    text = _USERINFO_PASSWORD.sub(r"\1:***@", text)

    def mask(found: re.Match[str]) -> str:
        name = found.group(2)
        return f"{found.group(1)}{name}=***" if unquote(name).lower().endswith("password") else found.group(0)

    return _QUERY_PASSWORD.sub(mask, text)
