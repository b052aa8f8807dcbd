"""The command line: parse, call the library, print. Exit 0 passed, 1 outputs differ, 2 bad input or usage."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from ferry.errors import FerryError

EXIT_PASS, EXIT_DIFF, EXIT_BAD = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.exit(EXIT_BAD, f"ferry: {message} (see ferry {self.prog.split()[-1]} --help)\n")


def _tolerances(values: list[str] | None, flag: str) -> dict[str, float]:
    """--atol 1e-3 (every output) or --atol NAME:1e-3 (one output)."""
    out: dict[str, float] = {}
    for v in values or []:
        name, _, num = v.rpartition(":")
        try:
            out[name or "*"] = float(num)
        except ValueError:
            raise FerryError(f"{flag} {v!r}: give a number or NAME:NUMBER") from None
    return out


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ferry", description="Carry a vision model to deployment runtimes and prove parity.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ins = sub.add_parser("inspect", help="format, inputs, outputs and embedded preprocessing of a model")
    ins.add_argument("model")
    ins.add_argument("--runtime", help="load with this runtime (default: the format's own)")
    ins.add_argument("--json", action="store_true")

    chk = sub.add_parser("check", help="compare targets with the source from the raw image")
    chk.add_argument("source")
    chk.add_argument("targets", nargs="+")
    chk.add_argument("--images", nargs="+", required=True, help="photos or directories of photos")
    chk.add_argument("--preprocess", help="preset (imagenet, caffe, tf, unit, raw) or YAML/JSON contract")
    chk.add_argument("--target-preprocess", help="what your app feeds the targets, if not the contract")
    chk.add_argument("--runtimes", help="comma-separated: onnxruntime,openvino,opencv,tflite,coreml,torch,tensorflow")
    chk.add_argument("--atol", action="append", help="NUMBER or OUTPUT:NUMBER (repeatable)")
    chk.add_argument("--rtol", action="append", help="NUMBER or OUTPUT:NUMBER (repeatable)")
    chk.add_argument("--batch", type=int, default=8)
    chk.add_argument("--json", action="store_true")

    nat = sub.add_parser("native", help="the exact preprocessing parameters and code line for a runtime")
    nat.add_argument("runtime")
    nat.add_argument("--preprocess", required=True)
    nat.add_argument("--json", action="store_true")

    emb = sub.add_parser("embed", help="write a copy of a model with the contract inside (ONNX or OpenVINO IR)")
    emb.add_argument("model")
    emb.add_argument("--to", choices=["onnx", "openvino"], required=True)
    emb.add_argument("--preprocess", required=True)
    emb.add_argument("-o", "--output", required=True)
    emb.add_argument("--force", action="store_true", help="replace an existing output file")
    emb.add_argument("--resize-in-graph", action="store_true", help="OpenVINO: resize in the graph too")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except FerryError as exc:
        if args.debug:
            raise
        print(f"ferry: {exc}", file=sys.stderr)
        return EXIT_BAD
    except KeyboardInterrupt:
        print("ferry: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "inspect":
        return _inspect(args)
    if args.command == "check":
        return _check(args)
    if args.command == "native":
        return _native(args)
    if args.command == "embed":
        return _embed(args)
    raise FerryError(f"unknown command {args.command}")


def _inspect(args) -> int:
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


def _check(args) -> int:
    from ferry.check import check

    runtimes = [r.strip() for r in args.runtimes.split(",")] if args.runtimes else None
    if args.batch < 1:
        raise FerryError("--batch must be at least 1")
    result = check(args.source, args.targets, args.images, preprocess=args.preprocess,
                   target_preprocess=args.target_preprocess, runtimes=runtimes,
                   atol=_tolerances(args.atol, "--atol"), rtol=_tolerances(args.rtol, "--rtol"), batch=args.batch)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        from ferry.report.terminal import print_check

        print_check(result)
    return EXIT_PASS if result.passed else EXIT_DIFF


def _native(args) -> int:
    from ferry.preprocess.contract import load_contract
    from ferry.runtimes import get_runtime

    recipe = get_runtime(args.runtime).native(load_contract(args.preprocess))
    if args.json:
        print(json.dumps(recipe.to_dict(), indent=2))
    else:
        print(recipe.code)
        for note in recipe.notes:
            print(f"# note: {note}")
    return EXIT_PASS


def _embed(args) -> int:
    from pathlib import Path

    from ferry.preprocess.contract import load_contract
    from ferry.runtimes import get_runtime, load

    out = Path(args.output)
    src = Path(args.model)
    if out.exists() and not args.force:
        raise FerryError(f"{out}: exists; pass --force to replace it")
    if out.resolve() == src.resolve():
        raise FerryError(f"{out}: is the input model; ferry never overwrites what you gave it")
    contract = load(src).resolve(load_contract(args.preprocess))
    if args.to == "openvino":
        written = get_runtime("openvino").embed(src, contract, out, resize_in_graph=args.resize_in_graph)
    else:
        written = get_runtime("onnxruntime").embed(src, contract, out)
    print(f"wrote {written} (takes uint8 NHWC BGR pixels at {contract.size[0]}x{contract.size[1]})")
    return EXIT_PASS


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
