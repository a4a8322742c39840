"""lewm simulators: `make(name)` and `make_policy(env_name, policy_name, env, rng)`.

Importing this package registers the gym ids (e.g. "lewm/TwoRoom-v0") with gymnasium and does
nothing else; env modules (and their optional dependencies) are imported only when made.
A new env plugs in by adding one `EnvEntry` to `ENVS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import numpy as np

from lewm.envs.base import LeWMEnv


@dataclass(frozen=True)
class EnvEntry:
    """Registry entry: gym id, env class and policies as "module:attr" import paths."""

    gym_id: str
    entry_point: str
    policies: dict[str, str] = field(default_factory=dict)


ENVS: dict[str, EnvEntry] = {
    "tworoom": EnvEntry(
        gym_id="lewm/TwoRoom-v0",
        entry_point="lewm.envs.tworoom:TwoRoomEnv",
        policies={
            "random": "lewm.envs.tworoom_policies:RandomPolicy",
            "expert": "lewm.envs.tworoom_policies:ExpertPolicy",
        },
    ),
    "pusht": EnvEntry(
        gym_id="lewm/PushT-v0",
        entry_point="lewm.envs.pusht:PushTEnv",
        policies={
            "random": "lewm.envs.pusht_policies:RandomPolicy",
            "expert": "lewm.envs.pusht_policies:ExpertPolicy",
            "expert_long": "lewm.envs.pusht_policies:LongExpertPolicy",
            "expert_smooth": "lewm.envs.pusht_policies:SmoothExpertPolicy",
        },
    ),
    "reacher": EnvEntry(
        gym_id="lewm/Reacher-v0",
        entry_point="lewm.envs.reacher:ReacherEnv",
        policies={
            "random": "lewm.envs.reacher_policies:RandomPolicy",
            "expert": "lewm.envs.reacher_policies:ExpertPolicy",
            "mixed": "lewm.envs.reacher_policies:MixedPolicy",
        },
    ),
    "cube": EnvEntry(
        gym_id="lewm/Cube-v0",
        entry_point="lewm.envs.cube:CubeEnv",
        policies={
            "random": "lewm.envs.cube_policies:RandomPolicy",
            "expert": "lewm.envs.cube_policies:ExpertPolicy",
        },
    ),
}

for _entry in ENVS.values():
    if _entry.gym_id not in gymnasium.registry:
        # No max_episode_steps here: gymnasium.make would add a TimeLimit wrapper; our envs
        # truncate themselves at `max_episode_steps`.
        gymnasium.register(id=_entry.gym_id, entry_point=_entry.entry_point)


def _load(path: str) -> Any:
    module, attr = path.split(":")
    return getattr(importlib.import_module(module), attr)


def resolve_name(name: str) -> str:
    """Short name ("tworoom") for a short name or gym id; ValueError listing valid names."""
    key = name.lower()
    if key in ENVS:
        return key
    for short, entry in ENVS.items():
        if name == entry.gym_id:
            return short
    valid = [*ENVS, *(e.gym_id for e in ENVS.values())]
    raise ValueError(f"unknown env {name!r}; valid names: {valid}")


def make(name: str, image_size: int = 64, **kwargs: Any) -> LeWMEnv:
    """Build an env by short name or gym id, unwrapped (so `set_state` etc. are reachable).

    Args:
        name: "tworoom" or "lewm/TwoRoom-v0".
        image_size: observation side in pixels (64 CPU default, 224 reference).
        **kwargs: env-specific constructor arguments (e.g. `randomize_door=True`).
    """
    cls = _load(ENVS[resolve_name(name)].entry_point)
    return cls(image_size=image_size, **kwargs)


def check_recorded_env(name: str, recorded_id: str, recorded_version: int, where: str) -> None:
    """Refuse data recorded by another env, or by another version of env ``name``.

    A dataset stores the gym id and ``env_version`` of the env that collected it; states and
    frames of another version follow other dynamics or another state convention (Push-T's
    version 0 had friction 1 and the centroid as origin), so training on them or planning from
    their states measures a different task. Files that do not know their env (reference files:
    id "unknown", version -1) pass.

    Args:
        name: the run's env (short name or gym id).
        recorded_id / recorded_version: the dataset's `env_id` / `env_version` metadata.
        where: the file, named in the error.
    Raises:
        ValueError naming both envs/versions and how to get matching data.
    """
    short = resolve_name(name)
    entry = ENVS[short]
    if recorded_id not in ("", "unknown") and recorded_id not in (short, entry.gym_id):
        raise ValueError(
            f"{where} was collected with {recorded_id!r}, not with the run's env {entry.gym_id!r}"
        )
    current = int(_load(entry.entry_point).env_version)
    if recorded_version >= 0 and recorded_version != current:
        raise ValueError(
            f"{where} was collected with {entry.gym_id} version {recorded_version}, but the "
            f"installed env is version {current} (its dynamics or state convention changed since): "
            f"collect it again with `lewm collect {short} ...`"
        )


def make_policy(
    env_name: str,
    policy_name: str,
    env: LeWMEnv,
    seed_or_rng: int | np.random.Generator | None = None,
    **kwargs: Any,
) -> Any:
    """Build a data-collection policy for `env` ("random", "expert", ...).

    `seed_or_rng` is an int seed or a `np.random.Generator` (used as is). Extra kwargs go to the
    policy constructor. Returns an object with `reset()`, `act(env) -> (A,) float32` and
    `ends_on_success`.
    """
    short = resolve_name(env_name)
    policies = ENVS[short].policies
    if policy_name not in policies:
        raise ValueError(
            f"unknown policy {policy_name!r} for env {short!r}; valid: {sorted(policies)}"
        )
    env_cls = _load(ENVS[short].entry_point)
    if not isinstance(getattr(env, "unwrapped", env), env_cls):
        raise TypeError(
            f"policy for {short!r} needs a {env_cls.__name__}, got {type(env).__name__}"
        )
    return _load(policies[policy_name])(np.random.default_rng(seed_or_rng), **kwargs)


__all__ = [
    "ENVS",
    "EnvEntry",
    "LeWMEnv",
    "check_recorded_env",
    "make",
    "make_policy",
    "resolve_name",
]
