"""The configuration's error type and the one-line field check every section uses."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range; the message names the field."""


def check(cond: bool, name: str, msg: str) -> None:
    """Raise :class:`ConfigError` naming the dotted field ``name`` unless ``cond`` holds."""
    if not cond:
        raise ConfigError(f"config field '{name}': {msg}")
