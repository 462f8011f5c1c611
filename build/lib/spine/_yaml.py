"""Read a job YAML file keeping each value's position, so errors can point at line and column.

PyYAML follows YAML 1.1: unquoted ``NO`` is read as false, ``0123`` as 83 and ``2023-01-01`` as a
date. We keep the composed node tree beside the loaded data so that a message can quote what the
user actually typed and say how to quote it.
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

    def locate_key(self, loc: tuple[Any, ...]) -> str:
        """Position of a mapping *key* (for unknown keys), falling back to its parent."""
        parent = self.root
        for part in loc[:-1]:
            nxt = _child(parent, part)
            if nxt is None:
                break
            parent = nxt
        if isinstance(parent, yaml.MappingNode):
            for key, _ in parent.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(loc[-1]):
                    return f"{self.path.name}:{key.start_mark.line + 1}:{key.start_mark.column + 1}"
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


def load_yaml(path: Path) -> YamlDocument:
    """Load a YAML file, raising ConfigError with the line for syntax errors and duplicate keys."""
    if not path.is_file():
        raise ConfigError(f"job file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}  YAML syntax error: {problem}") from None
    duplicates: list[str] = []
    _duplicate_keys(root, "", duplicates, path.name)
    if duplicates:
        raise ConfigError(duplicates, file=str(path))
    return YamlDocument(path=path, data=data if data is not None else {}, root=root)
