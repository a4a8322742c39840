"""Reference-checkpoint verbs (stable-worldmodel / le-wm, issue 10): ``import-reference`` and
``export-reference``."""

from __future__ import annotations

from lewm.cli.args import add_run_dir, add_verb


def register(sub) -> None:
    p = add_verb(
        sub,
        "import-reference",
        cmd_import_reference,
        "reference weights.pt + config.json -> a run directory",
    )
    p.add_argument("weights", help="reference weights.pt (loaded with weights_only=True)")
    p.add_argument("config", help="reference config.json")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--frameskip", type=int, default=5, help="env steps per action block (5)")
    p.add_argument("--env", default=None, help="environment the model plans in, e.g. tworoom")
    p.add_argument(
        "--data",
        default=None,
        help="HDF5 dataset whose action mean/std go into the checkpoint (the reference files "
        "carry none; without it `lewm eval --data` takes them from its dataset)",
    )
    p = add_verb(
        sub,
        "export-reference",
        cmd_export_reference,
        "a run's checkpoint -> weights.pt + config.json",
    )
    add_run_dir(p)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--naming",
        choices=["old", "new"],
        default="old",
        help="ViT key names: old (transformers 4, as released) or new (transformers 5)",
    )


def cmd_import_reference(args) -> int:
    from lewm.reference import import_to_run_dir

    ckpt = import_to_run_dir(
        args.weights, args.config, args.out, args.frameskip, env=args.env, data=args.data
    )
    stats = "from " + args.data if args.data else "none (pass --data to `lewm eval`)"
    print(f"imported -> {ckpt}; action statistics: {stats}")
    return 0


def cmd_export_reference(args) -> int:
    from lewm.reference import export_run_dir

    weights, config = export_run_dir(args.run_dir, args.out, naming=args.naming)
    print(f"exported -> {weights}, {config}")
    return 0
