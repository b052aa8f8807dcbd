"""Deployment paths: every way an app can get from a decoded photo to this model's outputs, and how to run each.

A path is runtime x where the preprocessing runs x where the resize runs:

| preprocess | resize | what the app does |
|---|---|---|
| host | host | ferry's reference preprocessing (OpenCV resize + a float32 table per channel), then the runtime |
| native | native | the runtime's own call: cv2.dnn.blobFromImagesWithParams with ferry's parameters (OpenCV) |
| in-graph | host | cv2.resize on the host, uint8 BGR NHWC pixels into a graph that holds the rest (ONNX nodes, PPP) |
| in-graph | in-graph | the photo at its own size into a graph that also resizes (OpenVINO PPP RESIZE_LINEAR) |

The in-graph variants are made by ferry's own embedders (`ferry.runtimes.onnxruntime.embed`,
`ferry.runtimes.openvino.embed`) into a scratch folder; a file that already holds its preprocessing is run as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ferry.errors import FerryError
from ferry.formats import ONNX
from ferry.preprocess.contract import Preprocess
from ferry.runtimes.base import Model, fixed_batch, padded


@dataclass(frozen=True)
class PathSpec:
    """One deployment path to measure. `file` None: the model given to bench. `contract` None: the bench contract;
    set it to measure what an app really feeds (a wrong contract makes a path that must fail parity)."""

    id: str
    runtime: str
    preprocess: str  # host | native | in-graph
    resize: str  # host | native | in-graph
    file: str | None = None
    contract: Preprocess | None = None
    what: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "runtime": self.runtime, "preprocess": self.preprocess, "resize": self.resize,
                "file": self.file, "contract": self.contract.to_dict() if self.contract else None, "what": self.what}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> PathSpec:
        contract = Preprocess.from_dict(d["contract"]) if d.get("contract") else None
        return PathSpec(d["id"], d["runtime"], d["preprocess"], d["resize"], d.get("file"), contract,
                        d.get("what", ""))


_WHAT = {
    ("host", "host"): "reference preprocessing on the host (OpenCV resize, float32 tables), then the runtime",
    ("native", "native"): "cv2.dnn.blobFromImagesWithParams with ferry's parameters, then net.forward",
    ("in-graph", "host"): "cv2.resize on the host, uint8 BGR NHWC pixels into the graph that normalises",
    ("in-graph", "in-graph"): "the photo at its own size into the graph, which resizes (PPP RESIZE_LINEAR) too",
}


def plan_paths(model: str | Path, fmt: str, embedded: bool, runtimes: list[str], contract: Preprocess,
               workdir: Path) -> tuple[list[PathSpec], list[str]]:
    """The paths for `model` in each of `runtimes` (installed, able to load it), embedding into `workdir`."""
    specs: list[PathSpec] = []
    notes: list[str] = []

    def add(runtime: str, pre: str, resize: str, file: str | None = None, suffix: str = "") -> None:
        name = {("in-graph", "in-graph"): "in-graph+resize"}.get((pre, resize), pre)
        specs.append(PathSpec(f"{runtime}/{name}{suffix}", runtime, pre, resize, file, None, _WHAT[(pre, resize)]))

    for runtime in runtimes:
        if embedded:
            add(runtime, "in-graph", "host")
            if runtime == "openvino" and fmt != ONNX and _resizes(model):  # `embed --resize-in-graph`'s IR: its
                add(runtime, "in-graph", "in-graph")  # own way too, the photo at its own size
            continue
        if runtime == "opencv":
            file = _opencv_file(model, fmt, contract, workdir, notes)
            add(runtime, "host", "host", file)
            add(runtime, "native", "native", file)
            continue
        add(runtime, "host", "host")
        if runtime == "onnxruntime" and fmt == ONNX:
            from ferry.runtimes.onnxruntime import embed

            dest = workdir / f"{Path(model).stem}.ferry.onnx"
            try:
                add(runtime, "in-graph", "host", str(embed(model, contract, dest)))
            except Exception as exc:  # noqa: BLE001 - an embedder that cannot: the path is skipped, and said
                notes.append(f"onnxruntime/in-graph skipped: {_first_line(exc)}")
        if runtime == "openvino":
            from ferry.runtimes.openvino import embed

            for in_graph_resize in (False, True):
                dest = workdir / f"{Path(model).stem}.ppp{'-resize' if in_graph_resize else ''}.xml"
                try:
                    file = str(embed(model, contract, dest, resize_in_graph=in_graph_resize))
                except Exception as exc:  # noqa: BLE001 - e.g. PPP cannot resize to a dynamic model size
                    name = "in-graph+resize" if in_graph_resize else "in-graph"
                    notes.append(f"openvino/{name} skipped: {_first_line(exc)}")
                    continue
                add(runtime, "in-graph", "in-graph" if in_graph_resize else "host", file)
    return specs, notes


def _resizes(model: str | Path) -> bool:
    from ferry.runtimes.openvino import read_model, resizes_in_graph

    try:
        return resizes_in_graph(read_model(model))
    except Exception:  # noqa: BLE001 - a file OpenVINO cannot read gets its refusal from the path itself
        return False


def _opencv_file(model: str | Path, fmt: str, contract: Preprocess, workdir: Path, notes: list[str]) -> str | None:
    """None when OpenCV DNN loads the model as it is; else the copy `ferry convert --to opencv` would write (input
    fixed at the contract's size, shapes inferred, onnxsim; each checked against onnxruntime), so the OpenCV paths
    are timed on the file an app would deploy, and said. None too when no remedy makes it load: the paths then
    report OpenCV's refusal."""
    if fmt != ONNX:
        return None
    import shutil

    from ferry.convert.core import opencv_loadable
    from ferry.runtimes.onnx_graph import ONE_FILE_LIMIT, load_onnx_whole

    dest = workdir / f"{Path(model).stem}.opencv.onnx"
    try:
        whole, external = load_onnx_whole(model)
        if external:  # the copy holds its weights, as convert's opencv target does
            if whole.ByteSize() >= ONE_FILE_LIMIT:
                return None  # no one-file copy: the OpenCV paths report OpenCV's own refusal
            import onnx

            onnx.save(whole, str(dest))
        else:
            shutil.copyfile(model, dest)
        remedy, _ = opencv_loadable(dest, Path(model), contract, workdir, dest)
    except FerryError:
        remedy = None
    if remedy is None:  # it loads as it is, or nothing made it load
        dest.unlink(missing_ok=True)
        return None
    notes.append(f"opencv: timed on the file `ferry convert --to opencv` writes: {remedy.note}")
    return str(dest)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def make_runner(spec: PathSpec, model: Model, contract: Preprocess) -> Callable[[list[np.ndarray]], list[dict]]:
    """images -> per-image outputs, the way `spec` goes. Everything that does not depend on the photo (the resolved
    contract, OpenCV's blob parameters) is made once here, as an app would."""
    from ferry.preprocess.reference import preprocess_batch, resize_batch

    c = model.resolve(spec.contract or contract)
    fixed_one = bool(model.image_input.shape) and model.image_input.shape[0] == 1
    fixed = fixed_batch(model)

    if spec.preprocess == "host":
        def call(imgs: list[np.ndarray]) -> dict[str, np.ndarray]:
            return model.run(model.feed_tensor(preprocess_batch(imgs, c)))
    elif spec.preprocess == "native":
        call = _native_call(model, c)
    elif spec.resize == "in-graph":
        def call(imgs: list[np.ndarray]) -> dict[str, np.ndarray]:
            return model.run(model.feed_tensor(np.stack(imgs)))
        # photos of different sizes cannot share one tensor: one call each then
        return _batched(call, fixed_one, need_same_size=True, fixed=fixed)
    else:
        def call(imgs: list[np.ndarray]) -> dict[str, np.ndarray]:
            return model.run(model.feed_tensor(resize_batch(imgs, c)))
    return _batched(call, fixed_one)


def _native_call(model: Model, c: Preprocess) -> Callable[[list[np.ndarray]], dict[str, np.ndarray]]:
    if model.runtime != "opencv":
        raise FerryError(f"{model.path}: {model.runtime} has no native image call; use host or in-graph")
    from ferry.runtimes.opencv import _cv2, blob_params, native

    recipe = native(c)
    if recipe.params.get("host_steps"):  # OpenCV cannot express this resize: the runtime's own path resizes first
        return lambda imgs: model.run_image(imgs, c)
    params = blob_params(recipe.params)
    cv2 = _cv2()
    return lambda imgs: model.run(model.feed_tensor(cv2.dnn.blobFromImagesWithParams(imgs, params)))


def _batched(call, fixed_one: bool, need_same_size: bool = False, fixed: int | None = None):
    """One call for the whole batch, or one call per photo when the model's batch is fixed at 1 or the photos
    must share a size and do not (a batch fixed at N > 1 then gets the photo N times: the runtime takes no other
    count)."""
    from ferry.check import split_outputs

    def run(imgs: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        if len(imgs) > 1 and (fixed_one or (need_same_size and len({i.shape for i in imgs}) > 1)):
            return [split_outputs(call(padded([img], fixed)), fixed or 1)[0] for img in imgs]
        return split_outputs(call(imgs), len(imgs))
    return run


def with_contract(spec: PathSpec, contract: Preprocess, suffix: str) -> PathSpec:
    """The same path fed another contract (what an app that got the preprocessing wrong runs)."""
    return replace(spec, id=spec.id + suffix, contract=contract)
