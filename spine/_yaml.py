"""Read a job YAML file keeping each value's position, so errors can point at line and column.

PyYAML follows YAML 1.1: unquoted ``NO`` is read as false, ``0123`` as 83 and ``2023-01-01`` as a
date. We keep the composed node tree beside the loaded data so that a message can quote what the
user actually typed and say how to quote it.

A job file is small and written by hand, so anything else is refused before it can cost time or
memory: files over a megabyte, aliases expanding beyond MAX_NODES values (an alias bomb), nesting
beyond MAX_DEPTH, integers beyond 64 bits; and text that is not UTF-8 or a date PyYAML cannot build
gets its line and column like any syntax error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from spine.errors import ConfigError


@dataclass(frozen=True)
class YamlDocument:
    """Loaded data of a YAML file plus the node tree it came from."""

    path: Path
    data: Any
    root: yaml.Node | None

    def locate(self, loc: tuple[Any, ...]) -> tuple[str, str | None]:
        """Return ``("file:line:col", raw scalar text or None)`` for a pydantic error location."""
        node = self.root
        found = node
        for part in loc:
            child = _child(found, part)
            if child is None:
                break
            found = child
        if found is None:
            return str(self.path), None
        mark = found.start_mark
        raw = found.value if isinstance(found, yaml.ScalarNode) else None
        return f"{self.path.name}:{mark.line + 1}:{mark.column + 1}", raw

    def key_node(self, loc: tuple[Any, ...]) -> tuple[yaml.Node, yaml.Node] | None:
        """The (key, value) nodes of the mapping entry at ``loc``; a key YAML read as a number or a
        boolean (``1: m``, ``yes: in``) is found by its value, as pydantic reports it."""
        parent = self.root
        for part in loc[:-1]:
            parent = _child(parent, part)
        if not isinstance(parent, yaml.MappingNode) or not loc:
            return None
        for key, value in parent.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(loc[-1]):
                return key, value
        for key, value in parent.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:str":
                try:
                    if yaml.SafeLoader("").construct_object(key) == loc[-1]:
                        return key, value
                except (yaml.YAMLError, ValueError, OverflowError):
                    continue
        return None

    def locate_key(self, loc: tuple[Any, ...]) -> str:
        """Position of a mapping *key* (for unknown keys), falling back to its parent."""
        found = self.key_node(loc)
        if found is not None:
            key = found[0]
            return f"{self.path.name}:{key.start_mark.line + 1}:{key.start_mark.column + 1}"
        parent = self.root
        for part in loc[:-1]:
            nxt = _child(parent, part)
            if nxt is None:
                break
            parent = nxt
        if parent is not None:
            return f"{self.path.name}:{parent.start_mark.line + 1}:{parent.start_mark.column + 1}"
        return self.path.name


def _child(node: yaml.Node | None, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def _duplicate_keys(node: yaml.Node | None, path: str, found: list[str], file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            if name in seen:
                line = key.start_mark.line + 1
                col = key.start_mark.column + 1
                found.append(f"{file}:{line}:{col}  {path + name}  duplicate key (YAML keeps only the last)")
            seen.add(name)
            _duplicate_keys(value, f"{path}{name}.", found, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _duplicate_keys(item, f"{path.rstrip('.')}[{i}].", found, file)


#: A job file is a few kilobytes; a larger file is not one, and would only be slow to read.
MAX_BYTES = 1_000_000
#: Values after expanding aliases: a job has a few hundred, an alias bomb billions.
MAX_NODES = 100_000
#: A job nests about eight levels; deeper is a mistake or an attack on the parser's recursion.
MAX_DEPTH = 50
#: No setting needs an integer beyond 64 bits (DuckDB's BIGINT).
MAX_INT = 2**63 - 1

_INT_TAG = "tag:yaml.org,2002:int"


class _BadScalar(Exception):
    """A scalar PyYAML could not construct (``2015-13-01``), with its node for the position."""

    def __init__(self, node: yaml.Node, problem: str):
        super().__init__(problem)
        self.node, self.problem = node, problem


class _Loader(yaml.SafeLoader):
    """SafeLoader that stops at nesting deeper than MAX_DEPTH (before Python's recursion limit)
    and keeps the node of a scalar whose constructor fails."""

    def __init__(self, text: str, name: str):
        super().__init__(text)
        self._name, self._depth = name, 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ConfigError(f"{self._name}:{mark.line + 1}:{mark.column + 1}  nested more than "
                                  f"{MAX_DEPTH} levels deep; a job file needs far fewer")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise _BadScalar(node, str(exc)) from None


def _where(file: str, node: yaml.Node) -> str:
    return f"{file}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _paths(root: yaml.Node) -> dict[int, str]:
    """The YAML path of every distinct node, the first one found (aliases share nodes)."""
    found: dict[int, str] = {id(root): ""}
    stack = [root]
    while stack:
        node = stack.pop()
        path = found[id(node)]
        children: list[tuple[yaml.Node, str]] = []
        if isinstance(node, yaml.MappingNode):
            children = [(v, f"{path}.{k.value}" if path else str(k.value)) for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            children = [(v, f"{path}[{i}]") for i, v in enumerate(node.value)]
        for child, child_path in children:
            if id(child) not in found:
                found[id(child)] = child_path
                stack.append(child)
    return found


def _check_size(root: yaml.Node, file: str, loader: _Loader) -> None:
    """Refuse alias bombs, alias cycles, nesting built from aliases and integers beyond 64 bits,
    counting each shared node once, so that nothing after this walks an exponential tree."""
    done: dict[int, tuple[int, int]] = {}  # node -> (values after expansion, height)
    open_: set[int] = set()

    def fail(node: yaml.Node, problem: str) -> ConfigError:
        path = _paths(root).get(id(node), "") or "(top level)"
        return ConfigError(f"{_where(file, node)}  {path}  {problem}")

    def walk(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in open_:
            raise fail(node, "an alias inside this value refers back to it (a cycle)")
        size, height = done.get(key) or measure(node, depth)
        if depth + height > MAX_DEPTH:
            raise fail(node, f"aliases nest this value more than {MAX_DEPTH} levels deep")
        return size, height

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        open_.add(id(node))
        size, height = 1, 0
        children = ([c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        for child in children:
            child_size, child_height = walk(child, depth + 1)
            size, height = size + child_size, max(height, child_height + 1)
            if size > MAX_NODES:
                raise fail(node, f"aliases expand this to more than {MAX_NODES:,} values (an alias bomb?); "
                                 "a job file has a few hundred")
        if isinstance(node, yaml.ScalarNode) and node.tag == _INT_TAG:
            try:
                value = loader.construct_yaml_int(node)
            except ValueError:
                value = 0
            if abs(value) > MAX_INT:
                raise fail(node, f"integer {node.value[:30]} is too large (at most {MAX_INT:,})")
        open_.discard(id(node))
        done[id(node)] = (size, height)
        return size, height

    walk(root, 0)


def _decode(raw: bytes, path: Path) -> str:
    """The file as text, or a ConfigError naming the line of the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        col = len(raw[line_start:exc.start].decode("utf-8", "replace")) + 1
        raise ConfigError(f"{path.name}:{line}:{col}  not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte "
                          f"{exc.start}); save the job file as UTF-8") from None


def load_yaml(path: Path) -> YamlDocument:
    """Load a YAML file, raising ConfigError with file:line:col for every way it can be unreadable:
    too large, not UTF-8, syntax, duplicate keys, alias bombs, too deep, bad dates, huge integers."""
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give the job YAML file (e.g. {path / 'job.yaml'})")
    if not path.is_file():
        raise ConfigError(f"job file not found: {path}")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"{path.name}: {size:,} bytes; a job file is at most {MAX_BYTES:,} bytes "
                              "(is this the job file?)")
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read job file {path}: {exc.strerror}") from None
    text = _decode(raw, path)
    try:
        loader = _Loader(text, path.name)  # checks every character is printable
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - text.rfind("\n", 0, exc.position)
        raise ConfigError(f"{path.name}:{line}:{col}  control character #x{exc.character:04x} is not allowed "
                          "in YAML (is this a text file?)") from None
    try:
        root = loader.get_single_node()
        if root is None:
            raise ConfigError(f"{path.name}:1:1  the job file is empty; it needs at least name, base, "
                              "home_country and sources (see README.md)")
        _check_size(root, path.name, loader)
        duplicates: list[str] = []
        _duplicate_keys(root, "", duplicates, path.name)
        if duplicates:
            raise ConfigError(duplicates, file=str(path))
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        problem = getattr(exc, "problem", None) or str(exc)
        if "'\\t'" in problem:
            problem += " (indent with spaces: YAML does not allow tabs)"
        raise ConfigError(f"{where}  YAML syntax error: {problem}") from None
    except _BadScalar as exc:
        path_text = _paths(root).get(id(exc.node), "") or "(top level)"
        what = "is not a date" if exc.node.tag.endswith(":timestamp") else "cannot be read"
        raise ConfigError(f"{_where(path.name, exc.node)}  {path_text}  {exc.node.value} {what}: {exc.problem}"
                          + (" (write dates as YYYY-MM-DD)" if what == "is not a date" else "")) from None
    finally:
        loader.dispose()
    return YamlDocument(path=path, data=data, root=root)
