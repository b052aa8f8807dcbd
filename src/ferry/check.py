"""`ferry check`: the same raw photos through the source (reference contract) and through each target's own path.

    image --reference contract--> source model --> outputs_ref
    image --target's own path---> target model --> outputs_tgt    (embedded preprocessing or native call)

Feeding the target a tensor ferry preprocessed would prove nothing about the deployment, so every target starts
from the decoded image. Models load once; photos stream through in small batches so memory stays flat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferry.compare.tensor import DEFAULT_ATOL, DEFAULT_RTOL, Accumulator, OutputComparison, match_outputs
from ferry.errors import FerryError
from ferry.preprocess.contract import Preprocess, load_contract
from ferry.runtimes import available_runtimes, get_runtime, load
from ferry.runtimes.base import Model


@dataclass
class TargetResult:
    path: str
    runtime: str
    passed: bool
    outputs: list[OutputComparison] = field(default_factory=list)
    preprocess_path: str = ""  # "embedded" or "native"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "runtime": self.runtime, "passed": self.passed,
                "preprocess_path": self.preprocess_path,
                "outputs": [o.to_dict() for o in self.outputs], "notes": self.notes}


@dataclass
class CheckResult:
    passed: bool
    source: str
    source_runtime: str
    preprocess: Preprocess
    images: list[str]
    targets: list[TargetResult]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "source": self.source, "source_runtime": self.source_runtime,
                "preprocess": self.preprocess.to_dict(), "images": self.images,
                "targets": [t.to_dict() for t in self.targets], "notes": self.notes}


def resolve_contract(source: Model, preprocess: str | Path | dict | Preprocess | None) -> Preprocess:
    """--preprocess if given, else the contract embedded in SOURCE, else a clear request for one."""
    if preprocess is not None:
        return load_contract(preprocess)
    if source.embedded is not None:
        return source.embedded
    if source.declared is not None:
        return source.declared
    declared = get_runtime(source.runtime).read_preprocess(source.path)
    if declared is not None:
        return declared
    raise FerryError(f"{source.path}: carries no preprocessing contract; pass --preprocess PRESET_OR_FILE "
                     "(imagenet, caffe, tf, unit, raw, or a YAML file)")


def _chunk_size(model: Model, batch: int) -> int:
    shape = model.image_input.shape
    return 1 if shape and shape[0] == 1 else batch


def _run_chunked(run, model: Model, images: list[np.ndarray], batch: int) -> list[dict[str, np.ndarray]]:
    """Per-image outputs, running as many images at once as the model's batch dimension allows."""
    step = _chunk_size(model, batch)
    per_image: list[dict[str, np.ndarray]] = []
    for i in range(0, len(images), step):
        chunk = images[i:i + step]
        out = run(chunk)
        for j in range(len(chunk)):
            per_image.append({k: (v[j:j + 1] if v.ndim and v.shape[0] == len(chunk) else v)
                              for k, v in out.items()})
    return per_image


def check(
    source: str | Path,
    targets: list[str | Path],
    images: list[str | Path],
    preprocess: str | Path | dict | Preprocess | None = None,
    target_preprocess: str | Path | dict | Preprocess | None = None,
    runtimes: list[str] | None = None,
    atol: dict[str, float] | None = None,
    rtol: dict[str, float] | None = None,
    batch: int = 8,
    progress=None,
) -> CheckResult:
    """Compare every output of every (target, runtime) with the source on the same photos."""
    from ferry.images import image_files, load_image

    atol = atol or {}
    rtol = rtol or {}
    files = image_files(list(images))  # cheap: a missing photo is reported before any model loads
    src = load(source)
    contract = src.resolve(resolve_contract(src, preprocess))
    tgt_contract_spec = load_contract(target_preprocess) if target_preprocess is not None else None
    pairs: list[Model] = []
    for t in targets:
        can = available_runtimes(t)
        chosen = [r for r in can if runtimes is None or r in runtimes]
        if not chosen:
            want = ", ".join(runtimes) if runtimes else "any installed runtime"
            runs_in = ", ".join(can) or "no installed runtime"
            raise FerryError(f"{t}: none of {want} can load it; it runs in {runs_in}")
        pairs.extend(load(t, r) for r in chosen)
    accs: list[dict[str, Accumulator] | None] = [None] * len(pairs)
    notes: list[list[str]] = [[] for _ in pairs]
    for start in range(0, len(files), batch):
        pixels = [load_image(f) for f in files[start:start + batch]]
        ref = _run_chunked(lambda ch: src.run_reference(ch, contract), src, pixels, batch)
        for k, model in enumerate(pairs):
            tcontract = tgt_contract_spec or contract
            tgt = _run_chunked(lambda ch, m=model, c=tcontract: m.run_image(ch, c), model, pixels, batch)
            if accs[k] is None:
                mapping, notes[k] = match_outputs(list(ref[0]), list(tgt[0]))
                accs[k] = {t: Accumulator(t, atol.get(t, atol.get("*", DEFAULT_ATOL)),
                                          rtol.get(t, rtol.get("*", DEFAULT_RTOL)), reference_name=r)
                           for t, r in mapping.items()}
            for r_out, t_out in zip(ref, tgt, strict=True):
                for t, acc in accs[k].items():
                    acc.add(r_out[acc.reference_name], t_out[t])
        if progress:
            progress(min(start + batch, len(files)), len(files))
    results: list[TargetResult] = []
    for model, acc, extra in zip(pairs, accs, notes, strict=True):
        outs = [a.result() for a in (acc or {}).values()]
        passed = bool(outs) and all(o.passed for o in outs)
        how = "embedded" if model.embedded is not None else "native"
        results.append(TargetResult(str(model.path), model.runtime, passed, outs, how, model.notes + extra))
    return CheckResult(
        passed=bool(results) and all(r.passed for r in results), source=str(src.path),
        source_runtime=src.runtime, preprocess=contract, images=[str(f) for f in files], targets=results,
        notes=list(src.notes),
    )
