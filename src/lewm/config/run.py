""":class:`RunConfig`: every section of a run, cross-section checks, and (de)serialisation."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lewm.config.data import CollectConfig, DataConfig
from lewm.config.errors import ConfigError, check
from lewm.config.eval import EvalConfig
from lewm.config.model import ModelConfig
from lewm.config.parse import apply_override, build_section
from lewm.config.plan import PlanConfig
from lewm.config.train import TrainConfig


@dataclass(frozen=True)
class RunConfig:
    env: str = "tworoom"
    """Environment name (see `lewm.envs.make`)."""
    collect: CollectConfig = field(default_factory=CollectConfig)
    """How the pipeline collects its dataset."""
    data: DataConfig = field(default_factory=DataConfig)
    """Dataset and clip settings."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Model architecture."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Optimisation."""
    plan: PlanConfig = field(default_factory=PlanConfig)
    """Planning solver and MPC."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Evaluation protocol."""

    def __post_init__(self) -> None:
        check(
            self.model.frameskip == self.data.frameskip,
            "model.frameskip",
            f"must equal data.frameskip={self.data.frameskip}",
        )
        check(
            self.model.history < self.data.num_frames,
            "model.history",
            f"must be < data.num_frames={self.data.num_frames} (history frames predict the next)",
        )
        check(
            self.train.pldm_idm == 0 or (self.model.kind == "pldm" and self.model.idm_hidden > 0),
            "train.pldm_idm",
            "> 0 needs model.kind=pldm and model.idm_hidden > 0 (the inverse-dynamics head)",
        )

    # ----------------------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples become lists) suitable for JSON/YAML."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        return build_section(cls, d, prefix="")

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
        """Load a YAML/JSON preset (or none: ``path=None`` gives defaults) and apply overrides."""
        raw: dict[str, Any] = {}
        if path is not None:
            p = Path(path)
            if not p.is_file():
                raise ConfigError(f"config file not found: {p}")
            loaded = yaml.safe_load(p.read_text())
            if loaded is not None and not isinstance(loaded, dict):
                raise ConfigError(f"{p}: top level must be a mapping of sections")
            raw = loaded or {}
        for ov in overrides:
            apply_override(raw, ov)
        return cls.from_dict(raw)

    def with_overrides(self, overrides: list[str] | tuple[str, ...]) -> RunConfig:
        """A copy with dotted ``section.key=value`` overrides applied (validated again)."""
        raw = self.to_dict()
        for ov in overrides:
            apply_override(raw, ov)
        return self.from_dict(raw)

    def replace(self, **sections: Any) -> RunConfig:
        return dataclasses.replace(self, **sections)
