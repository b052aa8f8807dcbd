"""Quantisation drift against real bugs: the measurements behind ferry.compare.fair's rules (README, Reduced precision).

For each real model (../shared/models.md) this makes reduced-precision copies with the runtimes' own tools:
- fp16: onnxruntime.transformers.float16.convert_float_to_float16 (keep_io_types) and OpenVINO
  `ov.save_model(compress_to_fp16=True)` (f16 weights, f32 compute: what users' IRs hold by default);
- int8-weights-ir: `nncf.compress_weights` (INT8_ASYM, per channel) on the IR of the float ONNX, saved in f32: the
  weight-only int8 users get from NNCF (compute stays float);
- int8: onnxruntime.quantization.quantize_static, QDQ, per-channel int8 weights, uint8 activations, calibrated on the
  bundled photos through the model's contract; and quantize_dynamic (int8 weights) where it applies;
then checks each against the float32 ONNX in onnxruntime with `ferry check` (its fair verdict), correct and with the
mutation suite's bugs injected (RGB/BGR swapped, std left out, the photo inverted (255 - x, a polarity slip), one
weight tensor scaled by 1.01 / 1.1 / 1.5 in the float model before it is converted). Prints one JSON line a row and
the markdown table.

    .venv/bin/python benchmarks/bench_precision.py [effnet,ppcls,ppdet] [--bugs] [--kinds=fp16-ir,int8]

Variants are cached in FERRY_MODEL_CACHE/precision-v1 (bump VERSION when the way they are made changes).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "models"))
sys.path.insert(0, str(ROOT / "examples"))

import numpy as np  # noqa: E402

PHOTOS = sorted(p for p in (ROOT / "examples" / "images").iterdir() if p.suffix == ".jpg")
VERSION = 1
CROP = {"mode": "shorter_side_crop", "crop_fraction": 0.875}


def models() -> dict[str, tuple[Path, dict]]:
    import fetch_models
    import pretrained

    return {
        "effnet": (pretrained.efficientnet_lite0_onnx(), dict(pretrained.EFFNET_CONTRACT, resize=CROP)),
        "ppcls": (fetch_models.fetch("ppocr_cls"), {"color": "BGR", "scale": 1 / 255, "mean": [0.5] * 3,
                                                     "std": [0.5] * 3, "layout": "NCHW", "size": [48, 192]}),
        "ppdet": (fetch_models.fetch("ppocr_det"), dict(pretrained.PPOCR_DET_CONTRACT, size=[480, 640], resize=CROP)),
    }


def cache() -> Path:
    import fetch_models

    d = fetch_models.cache_dir() / f"precision-v{VERSION}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def calibration(contract: dict, onnx_path: Path) -> list[dict[str, np.ndarray]]:
    """The photos through the contract: exactly what the deployed model will be fed."""
    import onnx

    from ferry.images import load_image
    from ferry.preprocess.contract import load_contract
    from ferry.preprocess.reference import preprocess_batch

    name = onnx.load(str(onnx_path), load_external_data=False).graph.input[0].name
    c = load_contract(contract)
    return [{name: preprocess_batch([load_image(p)], c)} for p in PHOTOS]


def make(kind: str, fp32: Path, dest: Path, contract: dict) -> Path | None:
    """A reduced-precision copy of `fp32` (None where the tool refuses the model)."""
    if kind == "fp32":
        return fp32
    if dest.exists():
        return dest
    tmp = dest.with_name("tmp-" + dest.name)
    if kind == "fp16":
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(tmp))
    elif kind == "fp16-ir":
        import openvino as ov

        ov.save_model(ov.convert_model(str(fp32)), str(tmp.with_suffix(".xml")), compress_to_fp16=True)
        tmp.with_suffix(".bin").rename(dest.with_suffix(".bin"))
        tmp = tmp.with_suffix(".xml")
    elif kind == "int8":
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        class Reader(CalibrationDataReader):
            def __init__(self, feeds):
                self.it = iter(feeds)

            def get_next(self):
                return next(self.it, None)

        quantize_static(str(fp32), str(tmp), Reader(calibration(contract, fp32)), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    elif kind == "int8-weights-ir":  # weight-only: NNCF's per-channel int8 weight compression, f32 compute
        import nncf
        import openvino as ov

        ov.save_model(nncf.compress_weights(ov.convert_model(str(fp32)), mode=nncf.CompressWeightsMode.INT8_ASYM),
                      str(tmp.with_suffix(".xml")), compress_to_fp16=False)
        tmp.with_suffix(".bin").rename(dest.with_suffix(".bin"))
        tmp = tmp.with_suffix(".xml")
    elif kind == "int8-dynamic":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        try:
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
        except ValueError:  # weights held in Constant nodes (PP-OCRv4 det): quantize_dynamic refuses
            return None
    tmp.rename(dest)
    return dest


def damaged(fp32: Path, factor: float, dest: Path) -> Path:
    """The mutation suite's damaged weight: the largest float tensor scaled by `factor`."""
    import onnx
    from onnx import numpy_helper

    if dest.exists():
        return dest
    m = onnx.load(str(fp32))
    tensors = list(m.graph.initializer) + [a.t for n in m.graph.node if n.op_type == "Constant"
                                           for a in n.attribute if a.name == "value"]
    big = max((t for t in tensors if t.data_type == onnx.TensorProto.FLOAT), key=lambda t: int(np.prod(t.dims)))
    big.CopyFrom(numpy_helper.from_array((numpy_helper.to_array(big) * np.float32(factor)).astype(np.float32),
                                         big.name))
    onnx.save(m, str(dest))
    return dest


KINDS = {"fp32": ".onnx", "fp16": ".fp16.onnx", "fp16-ir": ".fp16.xml", "int8": ".int8.onnx",
         "int8-dynamic": ".int8dyn.onnx", "int8-weights-ir": ".int8w.xml"}


def row(model: str, kind: str, case: str, result) -> dict:
    t = result.targets[0]
    m = t.task.metrics if t.task else {}
    o = max(t.outputs, key=lambda o: o.spread_error if o.spread_error == o.spread_error else 9e9)
    return {"model": model, "file": kind, "precision": (t.precision or {}).get("kind"), "case": case,
            "passed": t.passed, "top1": m.get("top1_agreement"), "top5": m.get("topk_agreement"),
            "prob_delta": m.get("max_prob_delta"), "pixels": m.get("worst_image_pixel_agreement"),
            "miou": m.get("miou"), "spread_error": o.spread_error, "cosine": o.cosine, "max_abs": o.max_abs,
            "task_reason": t.task.reason if t.task else None, "tensor_reason": o.reason}


def run(names: list[str], bugs: bool, kinds: list[str] | None = None) -> list[dict]:
    from ferry.check import check
    from ferry.preprocess.contract import load_contract

    rows = []
    d = cache()
    for name in names:
        src, cd = models()[name]
        c = load_contract(cd)
        fp32 = d / f"{name}.onnx"
        if not fp32.exists():
            import onnx

            onnx.save(onnx.load(str(src)), str(fp32))
        cases = [("correct", None, 1.0)]
        if bugs:
            cases += [("rgb-bgr", c.replace(color="BGR" if c.color == "RGB" else "RGB"), 1.0),
                      ("no-std", c.replace(std=(1.0,) * 3), 1.0),
                      ("inverted", c.replace(scale=-c.scale, mean=tuple(m - 255 * c.scale for m in c.mean)), 1.0),
                      ("weight x1.01", None, 1.01), ("weight x1.1", None, 1.1), ("weight x1.5", None, 1.5)]
        for kind, suffix in KINDS.items():
            if kinds and kind not in kinds:
                continue
            for case, fed, factor in cases:
                if kind == "fp32" and case == "correct":
                    continue
                base = fp32 if factor == 1.0 else damaged(fp32, factor, d / f"{name}.w{factor}.onnx")
                stem = name if factor == 1.0 else f"{name}.w{factor}"
                tgt = make(kind, base, d / f"{stem}{suffix}", cd)
                if tgt is None:
                    continue
                rt = "openvino" if tgt.suffix == ".xml" else "onnxruntime"
                res = check(fp32, [(tgt, rt)], PHOTOS, preprocess=c, target_preprocess=fed)
                r = row(name, kind, case, res)
                print(json.dumps(r), flush=True)
                rows.append(r)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | file | precision | case | verdict | top-1 | prob move | worst pixels | mIoU | spread error "
             "| cosine |", "|---|---|---|---|---|---|---|---|---|---|---|"]

    def f(v, fmt):
        return "-" if v is None else fmt.format(v)

    for r in rows:
        lines.append(f"| {r['model']} | {r['file']} | {r['precision']} | {r['case']} | "
                     f"{'pass' if r['passed'] else 'FAIL'} | {f(r['top1'], '{:.0%}')} | {f(r['prob_delta'], '{:.3g}')} "
                     f"| {f(r['pixels'], '{:.4f}')} | {f(r['miou'], '{:.4f}')} | {f(r['spread_error'], '{:.3g}')} | "
                     f"{f(r['cosine'], '{:.4f}')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    names = args[0].split(",") if args else ["effnet", "ppcls", "ppdet"]
    picked = [a.split("=", 1)[1].split(",") for a in sys.argv[1:] if a.startswith("--kinds=")]
    out = run(names, "--bugs" in sys.argv, picked[0] if picked else None)
    print(table(out))
