"""OpenCV DNN (cv2.dnn): runs ONNX; its own preprocessing is cv2.dnn.blobFromImageWithParams.

OpenCV computes out_k = (x_k - mean_k) * scalefactor_k after the optional R/B swap, with mean and scalefactor
given in the OUTPUT channel order (measured: swapRB=True, mean (1,2,3), scalefactor (1,2,3) on B,G,R = 10,20,30
gives 29, 36, 21). So the contract (x * s - m) / d maps exactly to mean = m / s, scalefactor = s / d,
swapRB = (color == RGB). Its resize is always INTER_LINEAR with OpenCV semantics; anything else (PIL semantics,
bicubic, a crop fraction below 1) is done on the host first and the recipe says so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferry.errors import FerryError, require
from ferry.formats import ONNX, detect_format
from ferry.preprocess.contract import Preprocess
from ferry.runtimes.base import Model, NativeRecipe

NAME = "opencv"


def _cv2():
    return require("cv2", "opencv")


@dataclass
class CvModel(Model):
    _net: Any = None
    _recipes: dict = field(default_factory=dict, repr=False, compare=False)  # contract -> native(contract)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cv2 = _cv2()
        try:
            for name, value in feeds.items():
                self._net.setInput(np.ascontiguousarray(value), name)
            names = [o.name for o in self.outputs]
            values = self._net.forward(names)
        except cv2.error as exc:
            msg = next((line for line in str(exc).splitlines() if "error:" in line), str(exc).splitlines()[-1])
            raise FerryError(f"{self.path}: OpenCV DNN failed: {msg.strip()[:300]}") from None
        return {n: np.array(v, copy=True) for n, v in zip(names, values, strict=True)}

    def run_image(self, images: list[np.ndarray], preprocess: Preprocess) -> dict[str, np.ndarray]:
        """The app's path: cv2.dnn.blobFromImagesWithParams with ferry's parameters (host resize first when
        OpenCV cannot express the contract's resize)."""
        if self.embedded is not None:
            return super().run_image(images, preprocess)
        contract = self.resolve(preprocess)
        recipe = self._recipes.get(contract)
        if recipe is None:  # the same contract for every batch of a check: built once (0.14 ms a call)
            recipe = self._recipes[contract] = native(contract)
        if recipe.params.get("host_steps"):
            from ferry.preprocess.reference import resize_image, to_color

            prepared = []
            for img in images:
                x = resize_image(img, contract)
                if contract.color == "GRAY":
                    x = to_color(x, contract)
                prepared.append(x)
        else:
            prepared = images
        params = blob_params(recipe.params)
        blob = _cv2().dnn.blobFromImagesWithParams(prepared, params)
        return self.run(self.feed_tensor(blob))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """OpenCV prints its importer's errors to stderr as well as raising them; ferry reports the raised text in its
    one line (node, op, refusal), so the print is silenced."""
    cv2 = _cv2()
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def load(path: str | Path) -> CvModel:
    p = Path(path)
    if detect_format(p) != ONNX:
        raise FerryError(f"{p}: ferry runs ONNX files in OpenCV DNN; convert it to ONNX first")
    from ferry.runtimes.onnxruntime import file_facts

    facts = file_facts(p)  # first: a truncated file gets ferry's one line, not OpenCV's parser error
    cv2 = _cv2()
    what, notes = _readable(p, facts.external_data)
    try:
        engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
        # OpenCV 5's new engine gave garbage on DeepLabv3 where the classic engine matched (see README).
        with quiet():
            net = cv2.dnn.readNetFromONNX(what, engine) if engine is not None else cv2.dnn.readNetFromONNX(what)
    except cv2.error as exc:  # the node and op OpenCV stopped at, from its own message (issue 15)
        from ferry.op_errors import opencv_log

        op, node, detail = opencv_log(str(exc))
        where = f"node {node} ({op}): " if node else ""
        raise FerryError(f"{p}: OpenCV DNN cannot load it: {where}{detail}") from None
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    return CvModel(
        runtime=NAME, path=p, format=ONNX, inputs=list(facts.inputs), outputs=list(facts.outputs),
        embedded=facts.embedded, notes=list(facts.notes) + notes, _net=net,
    )


def _readable(p: Path, external: bool):
    """What readNetFromONNX is given: the path, or for a file with external data the whole model as bytes. OpenCV
    DNN 4.14 kills the process with SIGFPE on the path of such a file (measured on a seeded classifier saved with
    external data; no Python exception to catch), and reads the same model from memory."""
    from ferry.runtimes.onnx_graph import ONE_FILE_LIMIT, load_onnx

    if not external:
        return str(p), []
    model = load_onnx(p)  # the data beside it read in (file_facts keeps no proto: a second parse, such files only)
    if model.ByteSize() >= ONE_FILE_LIMIT:
        raise FerryError(f"{p}: its external data is over protobuf's 2 GB, and OpenCV DNN reads one ONNX message (its "
                         "reader dies of SIGFPE on such a file): run it with ONNX Runtime or OpenVINO")
    buf = np.frombuffer(model.SerializeToString(), np.uint8)
    return buf, ["the file keeps its weights as external data, which OpenCV DNN 4.14 crashes on (SIGFPE, the whole "
                 "process): ferry read the model into memory and gave OpenCV the bytes (cv2.dnn.readNetFromONNX(buffer)"
                 "); do the same in your app, or deploy ferry convert's opencv target (one file)"]


def native(preprocess: Preprocess) -> NativeRecipe:
    """The exact blobFromImageWithParams parameters for the contract, and the line to paste."""
    p = preprocess
    r = p.resize
    notes: list[str] = []
    mode = {"stretch": "DNN_PMODE_NULL", "letterbox": "DNN_PMODE_LETTERBOX",
            "shorter_side_crop": "DNN_PMODE_CROP_CENTER", "none": "DNN_PMODE_NULL"}[r.mode]
    host = False
    if r.mode != "none" and (r.semantics != "opencv" or r.interpolation != "bilinear"
                             or r.crop_fraction < 1.0):
        host = True
        notes.append(f"OpenCV's blob resize is INTER_LINEAR without crop fraction; resize on the host first "
                     f"({r.semantics} {r.interpolation} {r.mode}, crop_fraction {r.crop_fraction})")
    if p.color == "GRAY":
        host = True
        notes.append("gray input: cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)"
                     + (" then 255 - img (0 is white)" if p.gray_zero_is == "white" else "") + " before the blob")
    if p.dtype not in ("float32", "uint8"):
        notes.append(f"blobFromImage makes float32 or uint8; cast to {p.dtype} afterwards")
    n = p.channels
    mean = [m / p.scale for m in p.mean] + [0.0] * (4 - n)
    scalefactor = [p.scale / s for s in p.std] + [0.0] * (4 - n)
    params = {
        "scalefactor": scalefactor, "mean": mean, "swapRB": p.color == "RGB",
        "size": [p.size[1], p.size[0]] if p.size and not host else None,
        "datalayout": "DNN_LAYOUT_NHWC" if p.layout == "NHWC" else "DNN_LAYOUT_NCHW",
        "paddingmode": "DNN_PMODE_NULL" if host else mode,
        "borderValue": [r.pad_value] * 4, "ddepth": "CV_8U" if p.dtype == "uint8" else "CV_32F",
        "host_steps": host,
    }
    size = f"({p.size[1]}, {p.size[0]})" if params["size"] else "(0, 0)"
    said = "" if params["size"] else "  # (0, 0): the image is already resized on the host"  # after the comma
    fmt = ", ".join(f"{v:.9g}" for v in scalefactor)
    fmt_mean = ", ".join(f"{v:.9g}" for v in mean)
    code = (
        "params = cv2.dnn.Image2BlobParams(\n"
        f"    scalefactor=({fmt}), size={size},{said}\n"
        f"    mean=({fmt_mean}), swapRB={params['swapRB']}, ddepth=cv2.{params['ddepth']},\n"
        f"    datalayout=cv2.dnn.{params['datalayout']}, paddingmode=cv2.dnn.{params['paddingmode']}"
        + (f", borderValue=({r.pad_value:g},) * 4" if params["paddingmode"] == "DNN_PMODE_LETTERBOX" else "")
        + ")\nblob = cv2.dnn.blobFromImageWithParams(img, params)  # img = cv2.imread(path), BGR\n"
        "net.setInput(blob); out = net.forward()"
    )
    return NativeRecipe(NAME, params, code, exact=True, notes=tuple(notes))


def blob_params(params: dict[str, Any]):
    cv2 = _cv2()
    bp = cv2.dnn.Image2BlobParams()
    bp.scalefactor = tuple(params["scalefactor"])
    bp.mean = tuple(params["mean"])
    bp.swapRB = bool(params["swapRB"])
    if params["size"]:
        bp.size = tuple(params["size"])
    bp.ddepth = getattr(cv2, params["ddepth"])
    bp.datalayout = getattr(cv2.dnn, params["datalayout"])
    bp.paddingmode = getattr(cv2.dnn, params["paddingmode"])
    bp.borderValue = tuple(params["borderValue"])
    return bp
