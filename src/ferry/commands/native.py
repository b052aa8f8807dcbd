"""`ferry native RUNTIME --preprocess SPEC`: the exact parameters and the line a user pastes into their app."""

from __future__ import annotations

from ferry.commands import EXIT_PASS, add_json
from ferry.io import to_json


def add_parser(sub) -> None:
    p = sub.add_parser("native", help="the exact preprocessing parameters and code line for a runtime")
    p.add_argument("runtime")
    p.add_argument("--preprocess", required=True)
    add_json(p)


def run(args) -> int:
    from ferry.preprocess.contract import load_contract
    from ferry.runtimes import get_runtime

    recipe = get_runtime(args.runtime).native(load_contract(args.preprocess))
    if args.json:
        print(to_json(recipe.to_dict()))
    else:
        print(recipe.code)
        for note in recipe.notes:
            print(f"# note: {note}")
    return EXIT_PASS
