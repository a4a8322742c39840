"""Reading configs: ``section.key=value`` overrides, typed coercion of YAML values into the
dataclass fields, and the field docstrings (DESIGN.md "Config": unknown keys are errors; no
``eval``/``exec``)."""

from __future__ import annotations

import dataclasses
from dataclasses import fields
from typing import Any, get_type_hints

import yaml

from lewm.config.errors import ConfigError


def apply_override(raw: dict[str, Any], override: str) -> None:
    if "=" not in override:
        raise ConfigError(f"override '{override}' must look like section.key=value")
    key, value = override.split("=", 1)
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{override}': '{part}' is not a section")
    node[parts[-1]] = yaml.safe_load(value) if value.strip() != "" else ""


def coerce(tp: Any, value: Any, name: str) -> Any:
    origin = getattr(tp, "__origin__", None)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config field '{name}': expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ConfigError(f"config field '{name}': expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config field '{name}': expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config field '{name}': expected a string, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, int | str) and not isinstance(value, bool):
            value = [int(v) for v in str(value).split(",")] if isinstance(value, str) else [value]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config field '{name}': expected a list, got {value!r}")
        return tuple(coerce(tp.__args__[0], v, name) for v in value)
    raise ConfigError(f"config field '{name}': unsupported type {tp}")


def build_section(cls: type, d: dict[str, Any], prefix: str) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"config section '{prefix.rstrip('.') or 'root'}' must be a mapping")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(prefix + u for u in unknown)}; "
            f"valid keys in '{prefix.rstrip('.') or 'root'}': {', '.join(sorted(known))}"
        )
    kwargs = {}
    for f in fields(cls):
        if f.name not in d:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = build_section(tp, d[f.name] or {}, prefix + f.name + ".")
        else:
            kwargs[f.name] = coerce(tp, d[f.name], prefix + f.name)
    return cls(**kwargs)


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its one-line docstring (parsed from the source), for `lewm config --help`."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr):
            if isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                docs[node.target.id] = " ".join(nxt.value.value.split())  # type: ignore[attr-defined]
    return docs
