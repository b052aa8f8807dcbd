"""`ferry convert SOURCE --to onnx,openvino,opencv,coreml,tflite --preprocess SPEC -o OUTDIR --images PHOTOS`.

Exit 0 when every target converted and passed its check; 1 when a target failed its check, or when a target
named in --to could not be produced (without --to, unreachable targets are reported but do not fail the run);
2 on bad input (nothing is written then).
"""

from __future__ import annotations

from ferry.commands import EXIT_DIFF, EXIT_PASS, add_json
from ferry.io import to_json


def add_parser(sub) -> None:
    p = sub.add_parser("convert", help="convert to every runtime with the preprocessing embedded, and check each")
    p.add_argument("source", help="ONNX file, SavedModel dir, .keras/.h5, TorchScript, .pt2, or module:factory")
    p.add_argument("--to", help="comma-separated targets: onnx,openvino,opencv,coreml,tflite (default: all)")
    p.add_argument("--preprocess", help="preset (imagenet, caffe, tf, unit, raw) or YAML/JSON contract")
    p.add_argument("-o", "--output", default="ferry-out", help="output directory (default: ferry-out)")
    p.add_argument("--images", nargs="+", help="photos or directories of photos to check each target on")
    p.add_argument("--no-check", action="store_true", help="convert only (not recommended)")
    p.add_argument("--force", action="store_true", help="replace existing files in the output directory")
    p.add_argument("--name", help="base name of the written files (default: the source's name)")
    p.add_argument("--task", help="task-level comparison for the check: classify, segment, detect, auto")
    p.add_argument("--precision", help="fp32 (default), fp16, int8, or several (fp32,int8): int8 is calibrated on "
                   "--images through the contract, with each runtime's own quantizer")
    add_json(p)


def run(args) -> int:
    from ferry.convert import convert
    from ferry.progress import Bar, wanted

    # a bar for a person at a terminal (the step, then the check's photos); scripts and CI logs get only the table
    # (or JSON) and errors
    with Bar(wanted(args.json)) as bar:
        manifest = convert(args.source, to=args.to, preprocess=args.preprocess, outdir=args.output,
                           images=args.images, force=args.force, check=not args.no_check, name=args.name,
                           task=args.task, progress=bar if bar.enabled else None, precision=args.precision,
                           check_progress=bar.counter("checking the targets"))
    strict = args.to is not None
    if args.json:
        print(to_json(manifest.to_dict()))
    else:
        from ferry.report.convert import print_convert

        print_convert(manifest, args.output, strict)
    reached = [t for t in manifest.targets if t.reachable]
    ok = bool(reached) and (all(t.passed for t in reached) or not manifest.checked)  # nothing made is no pass
    if strict and len(reached) != len(manifest.targets):
        ok = False
    return EXIT_PASS if ok else EXIT_DIFF
