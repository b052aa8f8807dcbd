"""`ferry inspect MODEL`: format, inputs, outputs, the preprocessing the file performs, and the contract ferry
recorded for it (in the file's metadata, or in the ferry.json that `ferry convert` wrote beside it)."""

from __future__ import annotations

from pathlib import Path

from ferry.commands import EXIT_PASS, add_json
from ferry.io import to_json


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="format, inputs, outputs and embedded preprocessing of a model")
    p.add_argument("model")
    p.add_argument("--runtime", help="load with this runtime (default: the format's own)")
    add_json(p)


def declared_contract(model) -> tuple[dict | None, str | None]:
    """The contract a file records but does not compute: (contract dict, where it was found)."""
    if model.declared is not None:
        return model.declared.to_dict(), "the file's metadata"
    from ferry.convert.manifest import find_entry

    found = find_entry(model.path)
    if found is not None:
        return found[0].to_dict(), str(Path(model.path).parent / "ferry.json")
    if model.format == "onnx":
        from ferry.preprocess.contract import Preprocess
        from ferry.runtimes.onnx_graph import HOST_METADATA_KEY as HOST_KEY
        from ferry.runtimes.onnx_graph import load_onnx, metadata

        meta = metadata(load_onnx(model.path, load_external=False))
        if HOST_KEY in meta:
            return Preprocess.from_json(meta[HOST_KEY], source=f"{model.path}:{HOST_KEY}").to_dict(), \
                f"ONNX metadata {HOST_KEY}"
    return None, None


def run(args) -> int:
    from ferry.runtimes import load

    model = load(args.model, args.runtime)
    info = model.describe()
    info["notes"] = model.notes
    from ferry.precision import detect

    info["precision"] = detect(model).to_dict()  # fp32 / fp16 / int8-weights / int4-weights / int8, with evidence
    if info.get("preprocess") is None:
        info["declared_preprocess"], where = declared_contract(model)
        if where:
            info["declared_from"] = where
    from ferry.check import stated_labels, stated_task

    task, labels = stated_task(model), stated_labels(model)
    if task:  # an Ultralytics export's `task`: what check, convert and show decode its outputs as
        info["stated_task"] = task
    if labels:
        info["stated_labels"] = labels
    if args.json:
        print(to_json(info))
        return EXIT_PASS
    from ferry.report.terminal import print_inspect

    print_inspect(info, args.model)
    if info.get("declared_preprocess"):
        import yaml

        print(f"contract for the host to apply (from {info.get('declared_from')}):")
        print(yaml.safe_dump(info["declared_preprocess"], sort_keys=False).rstrip())
    if task:
        how = {"detect": "YOLO boxes and class scores, NMS", "segment": "YOLO boxes, class scores and masks "
               "(coefficients x prototypes), NMS", "classify": "classification"}.get(task, "tensors (no decoder)")
        print(f"task (from the file's metadata): {task}: check compares it as {how}")
    if labels:
        more = ", ..." if len(labels) > 5 else ""
        print(f"labels (from the file's metadata): {len(labels)} ({', '.join(labels[:5])}{more})")
    return EXIT_PASS
