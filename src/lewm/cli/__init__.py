"""`lewm <verb>`: thin wrappers over the library functions.

One module per group of verbs (``data``, ``train``, ``evaluate``, ``analysis``, ``reference``,
``report``); each has ``register(sub)``, which adds its sub-parsers with
:func:`lewm.cli.args.add_verb` so that every parsed namespace carries its own ``handler``. A new
verb is a ``cmd_<verb>(args) -> int`` function plus one ``add_verb`` call in its group's
``register`` (a new group is a module listed in :data:`GROUPS`); shared options live in
:mod:`lewm.cli.args`.

Process-wide set-up (logging, rendering backends, thread counts) happens here in :func:`main`,
never at import (DESIGN.md "No side effects at import").
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from lewm.cli import analysis, data, evaluate, reference, report, train

log = logging.getLogger("lewm")

# Listed in the order the verbs appear in `lewm --help`.
GROUPS = (data, train, evaluate, analysis, reference, report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lewm", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="verb", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Overrides may also follow options (`lewm eval RUN --seeds 0 plan.iterations=30`), which
    # argparse alone would reject once the positionals are consumed.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1  # started by torchrun
    if launched and args.verb != "train":
        print(f"lewm {args.verb}: only `lewm train` runs under torchrun", file=sys.stderr)
        return 2
    quiet = launched and int(os.environ.get("RANK", "0")) != 0  # log from rank 0 only
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # Headless MuJoCo rendering for the MuJoCo envs, chosen here and never at import.
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        if args.verbose:
            raise
        print(f"lewm {args.verb}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
