"""The command line: parse, call the library, print. Exit 0 passed, 1 outputs differ, 2 bad input or usage.

Each command lives in ferry/commands/<name>.py; this file only builds the parser and turns FerryError into
one line on stderr and exit 2 (a traceback only with --debug). With --json the same line also goes to stdout as
`{"error": LINE, "exit_code": 2}`, so a script that parses stdout gets JSON on every path, bad input included.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ferry.commands import COMMANDS, EXIT_BAD, command_module
from ferry.errors import FerryError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        name = self.prog.split()[-1]
        self.exit(EXIT_BAD, f"ferry: {message} (see {'ferry' if name == 'ferry' else 'ferry ' + name} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ferry", description="Carry a vision model to deployment runtimes and prove parity.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        module = command_module(name)
        if module is not None:
            module.add_parser(sub)
    return p


def _command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ferry.runtimes.quiet import framework_env, set_debug

    framework_env()  # before any framework is imported; a user's own settings win
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the command's own parser, so the hint is `ferry check --help`, not the top level's
        _command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    set_debug(args.debug)
    try:
        return command_module(args.command).run(args)
    except FerryError as exc:
        if args.debug:
            raise
        print(f"ferry: {exc}", file=sys.stderr)
        if getattr(args, "json", False):
            from ferry.io import to_json

            print(to_json({"error": f"ferry: {exc}", "exit_code": EXIT_BAD}))
        return EXIT_BAD
    except KeyboardInterrupt:
        print("ferry: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
