"""The mutation suite: real deployment bugs injected into real conversions; `ferry check` must catch every one.

Each bug is made the way users make it: a deployed file built with the wrong preprocessing (OpenVINO
PrePostProcessor via `ferry embed`, or PPP calls written in the wrong order), an app that feeds the right file the
wrong tensor (`target_preprocess`), or a model file that is itself wrong (a perturbed weight).
A bug that computes the same function as the true contract on a model (std averaged when all stds are equal) is
not a bug there: it is reported as n/a, and ferry must PASS it (no false failure).

Run by hand for the caught/total table:  .venv/bin/python tests/mutations/mutants.py
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "models"))

from ferry.errors import FerryError  # noqa: E402
from ferry.preprocess.contract import Preprocess, Resize, load_contract  # noqa: E402

CROP = Resize(mode="shorter_side_crop", crop_fraction=0.875)


@dataclass(frozen=True)
class Subject:
    """A model under test: its source file, its true contract, and a plain float-input ONNX of it (the target)."""

    name: str
    source: Callable[[], Path]
    target: Callable[[Path], Path]  # (work dir) -> plain ONNX made from the source by the real converter
    contract: Preprocess


@dataclass(frozen=True)
class Deployment:
    source: Path
    target: Path
    target_preprocess: Preprocess | None = None


@dataclass(frozen=True)
class Bug:
    name: str
    what: str
    make: Callable[[Subject, Path, Path], Deployment | None]  # (subject, plain onnx, work dir); None = n/a


def _torch_subject(name: str) -> Subject:
    import torch_models

    contract = load_contract("imagenet").replace(size=(torch_models.HEIGHT, torch_models.WIDTH), resize=CROP,
                                                 layout="NCHW")
    return Subject(name, lambda: torch_models.onnx_path(name), lambda d: torch_models.onnx_path(name), contract)


def _ppocr() -> Subject:
    from fetch_models import fetch

    contract = load_contract(str(HERE.parents[1] / "examples" / "ppocr_det.yaml")).replace(size=(480, 640),
                                                                                          resize=CROP)
    return Subject("ppocr-det (real)", lambda: fetch("ppocr_det"),
                   lambda d: fetch("ppocr_det"), contract)


def _keras() -> Subject:
    import tf_models

    contract = load_contract("imagenet").replace(size=(32, 32), resize=CROP, layout="NHWC")

    def plain(d: Path) -> Path:
        from ferry.convert.exporters import tf_to_onnx
        from ferry.runtimes import load

        dest = d / "keras_cnn.onnx"
        if not dest.exists():
            tf_to_onnx(load(tf_models.tf_cnn() / "cnn.keras"), contract, dest)
        return dest

    return Subject("keras cnn (TF source)", lambda: tf_models.tf_cnn() / "cnn.keras", plain, contract)


def subjects() -> list[Subject]:
    sys.path.insert(0, str(HERE.parents[1] / "examples"))
    return [_torch_subject("classifier"), _torch_subject("segmenter"), _keras(), _ppocr()]


# -- the bugs -------------------------------------------------------------------------------------------------
def _embedded(bad: Callable[[Preprocess], Preprocess]):
    """The deployed IR carries a wrong contract (what `mo --mean_values ...` with the wrong numbers does)."""

    def make(s: Subject, plain: Path, work: Path) -> Deployment | None:
        from ferry.runtimes import openvino

        wrong = bad(s.contract)
        if wrong.same_function(s.contract):
            return None
        ir = openvino.embed(plain, wrong, work / "bug.xml")
        return Deployment(s.source(), ir)

    return make


def _fed(bad: Callable[[Preprocess], Preprocess]):
    """The right file, fed the wrong tensor by the app."""

    def make(s: Subject, plain: Path, work: Path) -> Deployment | None:
        wrong = bad(s.contract)
        if wrong == s.contract:
            return None
        return Deployment(s.source(), plain, target_preprocess=wrong)

    return make


def _swap_after_mean(s: Subject, plain: Path, work: Path) -> Deployment | None:
    """PPP written as mean -> scale -> reverse_channels: the per-channel constants hit the wrong channels."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    from ferry.runtimes.openvino import ppp_values

    c = s.contract
    if c.replace(mean=c.mean[::-1], std=c.std[::-1]).same_function(c):
        return None
    model = ov.Core().read_model(str(plain))
    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout(c.layout))
    mean, scale = ppp_values(c)
    steps = ppp.input().preprocess().convert_element_type(ov.Type.f32).mean(mean).scale(scale)
    if c.color == "RGB":
        steps.reverse_channels()
    out = work / "swap_after_mean.xml"
    ov.save_model(ppp.build(), str(out), compress_to_fp16=False)
    return Deployment(s.source(), out)


def _perturbed_weight(s: Subject, plain: Path, work: Path) -> Deployment:
    """One weight tensor (the largest) scaled by 1.01: a damaged or wrong-checkpoint file."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(plain))
    tensors = list(model.graph.initializer) + [a.t for n in model.graph.node if n.op_type == "Constant"
                                               for a in n.attribute if a.name == "value"]
    biggest = max((t for t in tensors if t.data_type == onnx.TensorProto.FLOAT), key=lambda t: int(np.prod(t.dims)))
    arr = numpy_helper.to_array(biggest) * np.float32(1.01)
    biggest.CopyFrom(numpy_helper.from_array(arr.astype(np.float32), biggest.name))
    out = work / "perturbed.onnx"
    onnx.save(model, str(out))
    return Deployment(s.source(), out)


def _twice(c: Preprocess) -> Preprocess:
    """The contract's affine map applied to its own output, as one contract: gain g, offset o -> g*g, g*o + o."""
    gain, offset = c.affine()
    g2 = [g * g for g in gain]
    o2 = [g * o + o for g, o in zip(gain, offset, strict=True)]
    return c.replace(scale=1.0, std=tuple(1 / g for g in g2), mean=tuple(-o / g for o, g in zip(o2, g2, strict=True)))


def _flip_color(c: Preprocess) -> Preprocess:
    return c.replace(color="BGR" if c.color == "RGB" else "RGB")


BUGS: list[Bug] = [
    Bug("rgb-bgr", "RGB/BGR swapped", _embedded(_flip_color)),
    Bug("no-std", "std left out", _embedded(lambda c: c.replace(std=(1.0, 1.0, 1.0)))),
    Bug("no-mean", "mean left out", _embedded(lambda c: c.replace(mean=(0.0, 0.0, 0.0)))),
    Bug("255-for-1", "0..255 fed where 0..1 is expected", _embedded(lambda c: c.replace(scale=c.scale * 255))),
    Bug("pm1-for-01", "-1..1 fed where 0..1 is expected",
        _embedded(lambda c: c.replace(scale=c.scale * 2, mean=tuple(m + 1 for m in c.mean)))),
    Bug("nchw-as-nhwc", "NHWC buffer read as NCHW",
        _fed(lambda c: c.replace(layout="NHWC" if c.layout == "NCHW" else "NCHW"))),
    Bug("swap-after-mean", "channel swap applied after the mean", _swap_after_mean),
    Bug("std-averaged", "per-channel std replaced by its average (Core ML's documented workaround)",
        _embedded(lambda c: c.replace(std=(float(np.mean(c.std)),) * 3))),
    Bug("interp-nearest", "resize interpolation changed (nearest for bilinear)",
        _fed(lambda c: c.replace(resize=dataclasses.replace(c.resize, interpolation="nearest")))),
    Bug("no-crop", "centre crop left out (stretched instead)",
        _fed(lambda c: c.replace(resize=Resize(mode="stretch")))),
    Bug("weight-1pct", "one weight tensor perturbed by 1%", _perturbed_weight),
    Bug("normalised-twice", "normalisation applied twice (the app normalises, and so does the file)",
        _embedded(_twice)),
]


@dataclass
class Outcome:
    subject: str
    bug: str
    status: str  # caught | MISSED | n/a
    detail: str = ""


def run_subject(subject: Subject, photos: list[Path], work: Path) -> list[Outcome]:
    """Every bug on one model. Also checks the correct deployment passes (no false failure)."""
    from ferry.check import check

    work.mkdir(parents=True, exist_ok=True)
    plain = subject.target(work)
    outcomes = []
    from ferry.runtimes import openvino

    # the correct deployment, across runtimes: the plain ONNX in onnxruntime, OpenVINO and OpenCV, and an IR with
    # the true contract embedded; none may fail (no false failure)
    good_ir = openvino.embed(plain, subject.contract, work / "good.xml")
    for target, runtimes in ((plain, ["onnxruntime", "openvino", "opencv"]), (good_ir, ["openvino"])):
        good = check(subject.source(), [target], photos, preprocess=subject.contract, runtimes=runtimes)
        for t in good.targets:
            outcomes.append(Outcome(subject.name, f"(correct: {target.suffix[1:]} in {t.runtime})",
                                    "passed" if t.passed else "FALSE FAILURE", _worst_target(t)))
    for bug in BUGS:
        d = work / bug.name
        d.mkdir(exist_ok=True)
        dep = bug.make(subject, plain, d)
        if dep is None:
            outcomes.append(Outcome(subject.name, bug.name, "n/a", "same function as the true contract here"))
            continue
        runtime = "openvino" if dep.target.suffix == ".xml" else "onnxruntime"
        try:
            result = check(dep.source, [dep.target], photos, preprocess=subject.contract,
                           target_preprocess=dep.target_preprocess, runtimes=[runtime])
        except FerryError as exc:  # the runtime refuses the tensor outright (exit 2): caught before any output
            outcomes.append(Outcome(subject.name, bug.name, "caught", f"exit 2: {str(exc)[-90:]}"))
            continue
        outcomes.append(Outcome(subject.name, bug.name, "MISSED" if result.passed else "caught", _worst(result)))
    return outcomes


def _worst(result) -> str:
    return _worst_target(result.targets[0])


def _worst_target(target) -> str:
    outs = list(target.outputs)
    if not outs:
        return ""
    o = max(outs, key=lambda o: (o.reason is not None, o.max_abs if o.max_abs == o.max_abs else float("inf")))
    return o.reason or f"max abs {o.max_abs:.3g}, cosine {o.cosine:.4f}"


def table(outcomes: list[Outcome]) -> str:
    lines = ["| model | bug | verdict | evidence |", "|---|---|---|---|"]
    lines += [f"| {o.subject} | {o.bug} | {o.status} | {o.detail} |" for o in outcomes]
    bugs = [o for o in outcomes if not o.bug.startswith("(correct") and o.status != "n/a"]
    caught = sum(o.status == "caught" for o in bugs)
    lines.append(f"\ncaught {caught}/{len(bugs)} injected bugs ({len(outcomes) - len(bugs)} correct or n/a rows)")
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    photos = sorted(p for p in (HERE.parents[1] / "examples" / "images").iterdir() if p.suffix == ".jpg")
    with tempfile.TemporaryDirectory() as tmp:
        everything = []
        for s in subjects():
            everything += run_subject(s, photos, Path(tmp) / s.name.split()[0])
        print(table(everything))
