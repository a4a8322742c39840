"""Typed, frozen run configuration (DESIGN.md "Config").

One dataclass per concern, one module per section: ``data.py`` (``data.*``, ``collect.*``),
``model.py``, ``train.py``, ``plan.py``, ``eval.py``; ``run.py`` joins them into
:class:`RunConfig` and ``parse.py`` reads YAML presets and overrides. Every field carries a one-line
docstring (the string literal under it) and is checked in ``__post_init__`` with
:func:`~lewm.config.errors.check`, whose error names the field. A new field goes into its
section's module, with its docstring and check; nothing else needs to change.

A run is loaded from a YAML preset in ``configs/`` plus ``key=value`` overrides
(``train.lr=1e-4``, ``model.enc_depth=6``). Unknown keys are errors. No ``eval``/``exec``.

Shape glossary used across the package: B batch, T time, S candidates, H horizon, D latent,
A raw action dimension, K = frameskip * A (one action block).
"""

from lewm.config.data import CollectConfig, DataConfig
from lewm.config.errors import ConfigError
from lewm.config.eval import EvalConfig
from lewm.config.model import ModelConfig
from lewm.config.parse import apply_override, field_docs
from lewm.config.plan import PlanConfig
from lewm.config.run import RunConfig
from lewm.config.train import TrainConfig

__all__ = [
    "CollectConfig",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "ModelConfig",
    "PlanConfig",
    "RunConfig",
    "TrainConfig",
    "apply_override",
    "field_docs",
]
