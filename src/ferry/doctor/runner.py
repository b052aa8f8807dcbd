"""Run many candidate contracts through one model: each distinct model input computed once, batched.

Resizing depends only on (size, resize), so the resized photos are made once per geometry; each candidate then
only reorders channels and applies its affine. Tensors of several candidates share one batched model call where
the model's batch dimension is free. Outputs are memoised by the function the contract computes, so a second
diagnosis on the same model and photos (or the flipped-photo pass) costs nothing for inputs already seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ferry.check import split_outputs
from ferry.preprocess.contract import Preprocess
from ferry.runtimes.base import Model, fixed_batch, padded


def function_key(pp: Preprocess, flip: bool = False) -> tuple:
    gain, offset = pp.affine()
    return (pp.color, pp.gray_zero_is if pp.color == "GRAY" else "", pp.size, pp.resize, pp.layout, pp.dtype,
            tuple(round(g, 9) for g in gain), tuple(round(o, 7) for o in offset), flip)


@dataclass
class Runner:
    """One model and one set of decoded photos; `outputs(contracts)` gives per-contract outputs over all photos."""

    model: Model
    images: list[np.ndarray]
    batch: int = 16
    names: list[str] | None = None  # the photos' file names, for --expect
    model_calls: int = 0
    _outputs: dict[tuple, dict[str, np.ndarray]] = field(default_factory=dict)
    _resized: dict[tuple, np.ndarray] = field(default_factory=dict)
    _digest: dict[tuple, str] = field(default_factory=dict)
    memo: dict = field(default_factory=dict)  # other per-model, per-photo-set results (the BatchNorm probe, scores)
    progress: Callable[[int, int], None] | None = None  # (runs done, runs) of each round of candidates: the CLI's bar

    @property
    def step(self) -> int:
        """Images per model call: 1 where the model's batch dimension is fixed at 1, else `batch`."""
        shape = self.model.image_input.shape
        return 1 if shape and shape[0] == 1 else self.batch

    def step_for(self, pp: Preprocess) -> int:
        """Images per call for `pp`'s tensors: `step`, capped by check's rule for large inputs
        (`_images_per_run`: PP-OCRv4 det at 640x640 ran 1.3x slower per image in batches of 4 than one by one)."""
        from ferry.check import _images_per_run

        return 1 if self.step == 1 else _images_per_run(self.model, pp, self.batch)

    def same_input(self, a: Preprocess, b: Preprocess) -> bool:
        """True when both contracts made the very same tensors from these photos (e.g. every resize mode on
        photos that already have the model's aspect ratio): no output can tell them apart."""
        ka, kb = function_key(a), function_key(b)
        return ka in self._digest and self._digest.get(ka) == self._digest.get(kb)

    def _pixels(self, pp: Preprocess, flip: bool) -> np.ndarray:
        from ferry.preprocess.reference import resize_batch, to_color

        key = (pp.size, pp.resize, flip)
        if key not in self._resized:
            imgs = [im[:, ::-1] for im in self.images] if flip else self.images
            self._resized[key] = resize_batch(imgs, pp)
        resized = self._resized[key]
        if pp.color == "BGR":
            return resized
        if pp.color == "RGB":
            return resized[..., ::-1]
        return np.stack([to_color(im, pp) for im in resized])

    def tensor(self, pp: Preprocess, flip: bool = False) -> np.ndarray:
        from ferry.preprocess.reference import normalize

        return normalize(self._pixels(pp, flip), pp)

    def outputs(self, contracts: list[Preprocess], flip: bool = False) -> list[dict[str, np.ndarray]]:
        todo: dict[tuple, Preprocess] = {}
        for pp in contracts:
            k = function_key(pp, flip)
            if k not in self._outputs and k not in todo:
                todo[k] = pp
        if todo:
            self._run(todo, flip)
        return [self._outputs[function_key(pp, flip)] for pp in contracts]

    def _run(self, todo: dict[tuple, Preprocess], flip: bool) -> None:
        fixed = fixed_batch(self.model)  # a batch fixed above 1: that many a call, the last call padded
        step = fixed or min(self.step_for(pp) for pp in todo.values())
        n = len(self.images)
        keys = list(todo)
        # One stream of tensors (candidate-major); chunks of `step` cross candidate boundaries.
        stream = [(k, i) for k in keys for i in range(n)]
        parts: dict[tuple, list[dict[str, np.ndarray]]] = {k: [] for k in keys}
        tensors: dict[tuple, np.ndarray] = {}
        for start in range(0, len(stream), step):
            chunk = stream[start:start + step]
            xs = []
            for k, i in chunk:
                if k not in tensors:
                    tensors[k] = self.tensor(todo[k], flip)
                    self._digest[k] = hashlib.blake2b(tensors[k].tobytes(), digest_size=16).hexdigest()
                xs.append(self.model.feed_tensor(tensors[k][i:i + 1]))  # reshaped per candidate (layout slips)
            xs = padded(xs, fixed)
            out = self.model.run({name: np.concatenate([x[name] for x in xs]) for name in xs[0]})
            self.model_calls += 1
            if self.progress is not None:
                self.progress(min(start + step, len(stream)), len(stream))
            split = [out] if len(xs) == 1 else split_outputs(out, len(xs))
            for j, (k, _) in enumerate(chunk):
                # one image a call: the whole output is that image's, whatever its batch axis (ddddocr's CTC
                # output is [T, 1, classes]: slicing axis 0 kept one time step); several: split_outputs
                parts[k].append(split[j])
            for k in {k for k, _ in chunk}:
                if len(parts[k]) == n:
                    tensors.pop(k, None)
        for k in keys:
            self._outputs[k] = {name: np.concatenate([p[name] for p in parts[k]]) for name in parts[k][0]}
