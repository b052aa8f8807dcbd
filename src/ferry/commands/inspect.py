"""`ferry inspect MODEL`: format, inputs, outputs and the preprocessing the file itself performs."""

from __future__ import annotations

import json

from ferry.commands import EXIT_PASS, add_json


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="format, inputs, outputs and embedded preprocessing of a model")
    p.add_argument("model")
    p.add_argument("--runtime", help="load with this runtime (default: the format's own)")
    add_json(p)


def run(args) -> int:
    from ferry.runtimes import load

    model = load(args.model, args.runtime)
    info = model.describe()
    info["notes"] = model.notes
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_PASS
    from ferry.report.terminal import print_inspect

    print_inspect(info, args.model)
    return EXIT_PASS
