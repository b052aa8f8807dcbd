"""`ferry check SOURCE TARGET...`: the same raw photos through the source and every target; exit 1 on drift."""

from __future__ import annotations

import json

from ferry.commands import EXIT_DIFF, EXIT_PASS, add_json, split_list, tolerances
from ferry.errors import FerryError


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="compare targets with the source from the raw image")
    p.add_argument("source")
    p.add_argument("targets", nargs="+")
    p.add_argument("--images", nargs="+", required=True, help="photos or directories of photos")
    p.add_argument("--preprocess", help="preset (imagenet, caffe, tf, unit, raw) or YAML/JSON contract")
    p.add_argument("--target-preprocess", help="what your app feeds the targets, if not the contract")
    p.add_argument("--runtimes", help="comma-separated: onnxruntime,openvino,opencv,tflite,coreml,torch,tensorflow")
    p.add_argument("--atol", action="append", help="NUMBER or OUTPUT:NUMBER (repeatable)")
    p.add_argument("--rtol", action="append", help="NUMBER or OUTPUT:NUMBER (repeatable)")
    p.add_argument("--batch", type=int, default=8)
    add_json(p)


def run(args) -> int:
    from ferry.check import check

    if args.batch < 1:
        raise FerryError("--batch must be at least 1")
    result = check(args.source, args.targets, args.images, preprocess=args.preprocess,
                   target_preprocess=args.target_preprocess, runtimes=split_list(args.runtimes),
                   atol=tolerances(args.atol, "--atol"), rtol=tolerances(args.rtol, "--rtol"), batch=args.batch)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        from ferry.report.terminal import print_check

        print_check(result)
    return EXIT_PASS if result.passed else EXIT_DIFF
