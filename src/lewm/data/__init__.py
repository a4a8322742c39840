"""Episode data: on-disk schema, HDF5 episode store (stable-worldmodel layout), collection and
training clips.

Names are imported lazily so that importing `lewm.data` (e.g. in collection worker processes)
does not pull in torch. Collection: `from lewm.data.collect import collect` (the function is
not re-exported here because it shares its name with the submodule).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DatasetError": "lewm.data.schema",
    "DatasetMeta": "lewm.data.schema",
    "EpisodeStore": "lewm.data.store",
    "EpisodeWriter": "lewm.data.writer",
    "write_episodes": "lewm.data.writer",
    "ClipDataset": "lewm.data.clips",
    "summarize": "lewm.data.info",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lewm.data' has no attribute {name!r}")
