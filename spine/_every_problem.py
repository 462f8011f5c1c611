"""Every problem of a job file in one list: the parts in error are taken out and the rest checked
again, so a misspelt key does not hide an unknown source (spine.config.load_job).

A job is checked section by section first (pydantic's field validation); the checks across
sections (every source a rule names exists, every identifier a method names is mapped) run only
on a job whose sections are sound. So the values in error are taken out of the data and it is
validated again, until it validates or nothing more can be taken out. What taking a part out
does is not the user's mistake and is not reported: a list left empty, a section left without
the key taken from it, a check naming a source taken out whole. Positions are the file's: an
item taken out of a list does not renumber the items after it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

#: How many times the parts in error are taken out before the checks stop (each round can only
#: find problems the previous one hid).
MAX_ROUNDS = 8
#: What taking a part out makes of the section that held it.
LEFT_BEHIND = ("missing", "too_short")
PATH = re.compile(r"^[a-z_][\w.\[\]]*$")


def every_problem(data: dict[str, Any], describe: Callable[[dict[str, Any]], str | None]
                  ) -> tuple[Any, list[str]]:
    """(the job without the parts in error, or None where it cannot be made; every problem).

    ``describe`` turns a pydantic error (location in the file's terms) into the user's line, or
    None for a union branch the user did not mean.
    """
    from spine.config import JobConfig

    problems: list[str] = []
    state = _Taken()
    job = None
    for _ in range(MAX_ROUNDS):
        try:
            job = JobConfig.model_validate(data)
            break
        except ValidationError as exc:
            errors = _one_per_line(exc.errors(include_url=False))
        fresh, caused = [], []
        for err in errors:
            err = state.as_written(err)
            loc = _data_loc(data, state.as_current(err))
            (caused if state.caused(err) else fresh).append((err, loc))
        problems += [p for p in (describe(e) for e, _ in fresh) if p is not None]
        removable = [loc for e, loc in (*fresh, *caused) if loc and e["loc"]]
        # A key missing under a whole source or the job itself cannot be taken out with its section.
        stuck = any(e["type"] == "missing" and (not loc or (loc[0] == "sources" and len(loc) <= 2))
                    for e, loc in (*fresh, *caused))
        if not removable or stuck:
            break
        state.take_out(data, [loc for e, loc in fresh if loc], removable)
        data = _without(data, removable)
    if job is None and problems:   # the sections may be sound where the cross-section checks are not
        try:
            job = JobConfig.model_validate(data, context={"cross_checks": False})
        except ValidationError:
            job = None
    return job, problems


class _Taken:
    """What has been taken out: locations (the file's list positions) and whole sources."""

    def __init__(self) -> None:
        self.reported: list[tuple[Any, ...]] = []
        self.sources: set[str] = set()
        self.positions: dict[tuple[Any, ...], list[int]] = {}   # current list position -> the file's

    def caused(self, err: dict[str, Any]) -> bool:
        """Whether ``err`` (in the file's positions) is what taking a part out did."""
        written = _written_loc(err)
        if not err["loc"]:   # a cross-section check: about a part taken out, or a source taken out
            msg = err["msg"]
            return any(_under(written, r) for r in self.reported) or any(
                f"'{name}'" in msg for name in self.sources)
        return any(_under(written, r) or (err["type"] in LEFT_BEHIND and _under(r, written))
                   for r in self.reported)

    def take_out(self, data: dict[str, Any], reported: list[tuple[Any, ...]],
                 removed: list[tuple[Any, ...]]) -> None:
        """Record ``removed`` (current positions), reported in the file's as ``reported``."""
        self.reported += [self._written(loc) for loc in (*reported, *removed)]
        self.sources |= {loc[1] for loc in removed if len(loc) == 2 and loc[0] == "sources"}
        for loc in sorted({l for l in removed if l and isinstance(l[-1], int)}, key=lambda l: l[-1], reverse=True):
            node: Any = data
            for part in loc[:-1]:
                node = node[part] if isinstance(node, (dict, list)) else None
            if isinstance(node, list):
                kept = self.positions.setdefault(loc[:-1], list(range(len(node))))
                if loc[-1] < len(kept):
                    kept.pop(loc[-1])

    def _written(self, loc: tuple[Any, ...]) -> tuple[Any, ...]:
        out: list[Any] = []
        for i, part in enumerate(loc):
            kept = self.positions.get(tuple(loc[:i]))
            out.append(kept[part] if kept is not None and isinstance(part, int) and part < len(kept) else part)
        return tuple(out)

    def as_written(self, err: dict[str, Any]) -> dict[str, Any]:
        """``err`` with list positions as the file has them (its message too, for a cross check)."""
        if not self.positions:
            return err
        if err["loc"]:
            current, out = [], []
            for part in err["loc"]:
                kept = self.positions.get(tuple(current))
                out.append(kept[part] if kept is not None and isinstance(part, int) and part < len(kept) else part)
                if not _is_tag(part):
                    current.append(part)
            return {**err, "loc": tuple(out), "current_loc": err["loc"]}
        head, sep, rest = err["msg"].removeprefix("Value error, ").partition(": ")
        if not sep or not PATH.match(head):
            return err
        written = self._written(parse_path(head))
        return {**err, "msg": _loc_text(written) + sep + rest}

    @staticmethod
    def as_current(err: dict[str, Any]) -> dict[str, Any]:
        return {**err, "loc": err["current_loc"]} if "current_loc" in err else err


def _is_tag(part: Any) -> bool:
    from spine.config import _UNION_TAGS

    return isinstance(part, str) and part in _UNION_TAGS


def parse_path(head: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"\.|\[|\]\.?", head.rstrip("]")) if p)


def _loc_text(loc: tuple[Any, ...]) -> str:
    from spine.config import _loc_text as text

    return text(loc)


def _one_per_line(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cross-section checks report every problem in one error, a line each: one error per line."""
    out = []
    for err in errors:
        msg = err["msg"].removeprefix("Value error, ")
        lines = msg.split("\n") if err["type"] == "value_error" else [msg]
        out += [{**err, "msg": line} for line in lines] if len(lines) > 1 else [err]
    return out


def _data_loc(data: dict[str, Any], err: dict[str, Any]) -> tuple[Any, ...]:
    """Where an error is in the data: pydantic's path less its union tags and any key that is not
    there (a missing key: its section); a cross-section check's path as its message names it."""
    if not err["loc"]:
        head = err["msg"].removeprefix("Value error, ").split(": ", 1)[0]
        return parse_path(head) if PATH.match(head) else ()
    out: list[Any] = []
    node: Any = data
    for part in err["loc"]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            continue
        out.append(part)
    return tuple(out)


def _written_loc(err: dict[str, Any]) -> tuple[Any, ...]:
    """An error's location as the job file writes it (pydantic's less its union tags)."""
    if not err["loc"]:
        head = err["msg"].removeprefix("Value error, ").split(": ", 1)[0]
        return parse_path(head) if PATH.match(head) else ()
    return tuple(p for p in err["loc"] if p != "[key]" and not _is_tag(p))


def _under(loc: tuple[Any, ...], prefix: tuple[Any, ...]) -> bool:
    return bool(prefix) and len(loc) >= len(prefix) and loc[: len(prefix)] == prefix


def _without(data: dict[str, Any], locations: list[tuple[Any, ...]]) -> dict[str, Any]:
    """A copy of ``data`` without the values at ``locations`` (list items from the last)."""
    out = copy.deepcopy(data)
    for loc in sorted(set(locations), key=lambda l: [(str(type(p)), p) for p in l], reverse=True):
        node: Any = out
        for part in loc[:-1]:
            node = node[part]
        if isinstance(node, dict):
            node.pop(loc[-1], None)
        elif isinstance(node, list) and loc[-1] < len(node):
            node.pop(loc[-1])
    return out
