"""Argument helpers shared by the verb groups of `lewm` (one place for the recurring options)."""

from __future__ import annotations

import argparse
import sys


def progress() -> bool:
    """Progress bars only when stderr is a terminal (DESIGN.md "Logging": quiet in logs)."""
    return sys.stderr.isatty()


def add_verb(sub, name: str, handler, help_: str) -> argparse.ArgumentParser:
    """A sub-parser for ``lewm NAME`` whose parsed namespace runs ``handler(args) -> int``."""
    p = sub.add_parser(name, help=help_)
    p.set_defaults(handler=handler)
    return p


def add_run_dir(p: argparse.ArgumentParser) -> None:
    """The positional RUN_DIR of every verb that reads a trained run."""
    p.add_argument("run_dir", help="run directory with a checkpoint")


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """``--data``, ``--seed`` and ``--device`` shared by the SPEC §7 analysis verbs."""
    p.add_argument("--data", default=None, help="dataset path (default: the run's)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    p.add_argument("--device", default=None, help="torch device (default: auto)")


def add_overrides(p: argparse.ArgumentParser, example: str) -> None:
    """Trailing ``section.key=value`` config overrides (``example`` shows one in the help)."""
    p.add_argument("overrides", nargs="*", help=f"dotted overrides, e.g. {example}")


def add_eval_selection(p: argparse.ArgumentParser, default_from: str) -> None:
    """``--episodes``, ``--seeds``, ``--protocol``: which start/goal pairs are planned (SPEC §5)."""
    p.add_argument(
        "--episodes", type=int, default=None, help=f"start/goal pairs per seed ({default_from})"
    )
    p.add_argument(
        "--seeds",
        default=None,
        help=f"comma-separated evaluation seeds, e.g. 0,1,2 ({default_from})",
    )
    p.add_argument(
        "--protocol",
        choices=["heldout", "paper"],
        default=None,
        help="heldout: pairs from test episodes (default); paper: from training episodes",
    )


def seeds_list(text: str | None) -> list[int] | None:
    """``"0,1,2"`` -> ``[0, 1, 2]``; ``None`` stays ``None`` (the run's own seeds)."""
    if text is None:
        return None
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, got {text!r}") from None


def eval_overrides(args: argparse.Namespace) -> list[str]:
    """``args.overrides`` plus the ``eval.*`` overrides that ``--episodes/--seeds/--protocol``
    stand for."""
    overrides = list(getattr(args, "overrides", []))
    if args.episodes is not None:
        overrides.append(f"eval.episodes={args.episodes}")
    if args.seeds is not None:
        overrides.append(f"eval.seeds=[{args.seeds}]")
    if args.protocol is not None:
        overrides.append(f"eval.protocol={args.protocol}")
    return overrides
