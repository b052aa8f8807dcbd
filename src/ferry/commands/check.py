"""`ferry check SOURCE TARGET...`: the same raw photos through the source and every target; exit 1 on drift."""

from __future__ import annotations

import sys
from pathlib import Path

from ferry.commands import EXIT_BAD, EXIT_DIFF, EXIT_PASS, add_json, split_list, tolerances
from ferry.errors import FerryError
from ferry.io import to_json


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
    p.add_argument("--batch", type=int, default=8,
                   help="photos per runtime call (8; OpenCV DNN and models with a batch of 1 take one a call, "
                        "large inputs fewer); photos are decoded and compared 8 or --batch at a time")
    p.add_argument("--workers", type=int, default=1,
                   help="split the photos over N processes (each loads the models once); results are merged")
    p.add_argument("--ray", action="store_true",
                   help="run the --workers N shards as Ray tasks: on the cluster RAY_ADDRESS names, else on a local "
                        "Ray started for the run (pip install 'ferry[ray]')")
    p.add_argument("--ray-photos", choices=["auto", "paths", "send"], default="auto",
                   help="with --ray: tasks read the photos by path (storage every node sees), or get them sent "
                        "through Ray's object store; auto: paths when every node is this machine, else send")
    p.add_argument("--task", default="auto", help="classify, segment, detect, auto (default: picked from the "
                   "outputs' shapes and names, and said) or none (tensors only)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="single-channel maps become masks, and detections count, at this value (0.5)")
    p.add_argument("--labels", help="class names for the report: one a line, or a JSON list / id2label object")
    p.add_argument("--report", help="write a self-contained HTML report (verdict, tables, pictures) here")
    p.add_argument("--report-photos", type=int, default=6, help="photos drawn in the report (6)")
    p.add_argument("--save-reference", metavar="DIR",
                   help="also write the source's outputs per photo to DIR; `ferry check DIR TARGET...` then "
                        "checks targets on a machine without the source's framework")
    p.add_argument("--force", action="store_true", help="replace an existing --report file or --save-reference DIR")
    p.add_argument("--bisect", action="store_true",
                   help="for failing ONNX/OpenVINO targets, name the first layer whose output parts from the source")
    add_json(p)


def run(args) -> int:
    from ferry.check import check

    if args.batch < 1:
        raise FerryError("--batch must be at least 1")
    if args.ray_photos != "auto" and not args.ray:
        raise FerryError(f"--ray-photos {args.ray_photos} is for --ray: add --ray, or drop it")
    report = Path(args.report) if args.report else None
    if report is not None:
        if report.exists() and not args.force:
            raise FerryError(f"{report}: exists; pass --force to replace it")
        given = [args.source, *args.targets, *args.images]
        if any(Path(g).exists() and Path(g).resolve() == report.resolve() for g in given):
            raise FerryError(f"{report}: is an input; ferry never overwrites what you gave it")
        if args.report_photos < 0:
            raise FerryError("--report-photos must be 0 or more")
    if args.save_reference:  # before any model loads
        from ferry.reference_store import check_dest

        check_dest(args.save_reference, args.force)
    from ferry.progress import Bar, wanted

    with Bar(wanted(args.json)) as bar:  # on a terminal only; erased before the tables print
        result = check(args.source, args.targets, args.images, preprocess=args.preprocess,
                       target_preprocess=args.target_preprocess, runtimes=split_list(args.runtimes),
                       atol=tolerances(args.atol, "--atol"), rtol=tolerances(args.rtol, "--rtol"), batch=args.batch,
                       task=args.task, threshold=args.threshold, labels=args.labels,
                       keep=args.report_photos if report is not None else 0, bisect=args.bisect,
                       workers=args.workers, ray=args.ray, ray_photos=args.ray_photos,
                       save_reference=args.save_reference, force=args.force, progress=bar.counter(_label(args)))
    if report is not None:
        from ferry.report.html import write_report

        write_report(result, report)
    if args.json:
        print(to_json(result.to_dict()))
    else:
        from ferry.report.terminal import print_check

        print_check(result)
        if report is not None:
            print(f"report: {report}")
    errors = [t for t in result.targets if t.error]
    for t in errors:  # a runtime that could not load its target: bad input for that runtime, said in one line
        print(f"ferry: {t.runtime}: {t.error}", file=sys.stderr)
    if errors:
        return EXIT_BAD
    return EXIT_PASS if result.passed else EXIT_DIFF


def _label(args) -> str:
    """What the bar says it is doing: every target and where the shards run. The rows of one process run together
    photo group by photo group, so one bar of photos says as much as a bar per runtime would."""
    rows = f"check {len(args.targets)} target{'s' if len(args.targets) > 1 else ''}"
    if args.runtimes:
        rows += f" in {args.runtimes}"
    if args.ray:
        return f"{rows}, {args.workers} Ray task{'s' if args.workers > 1 else ''}"
    return f"{rows}, {args.workers} processes" if args.workers > 1 else rows
