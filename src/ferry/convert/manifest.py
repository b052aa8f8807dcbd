"""OUTDIR/ferry.json: what was converted from what, how, with which versions, and whether it passed.

    {"preprocess": CONTRACT, "source": {"path", "sha256", "format"},
     "targets": [{"format", "path", "route", "passed", "versions", "reachable", "runtime", "reason", "op", "node",
                  "check", "native", "precision", "accuracy"}],
     "images": [...], "ferry": VERSION}

`format`, `path`, `route`, `passed` and `versions` are the public keys (issue 3); the rest are additions.
A target that could not be produced has "reachable": false, "path": null and the reason (with the op, when a
converter or runtime named one). `precision` is what ferry made the file in (fp32, fp16, int8: `convert
--precision`); `accuracy` is what that costs, measured by the check against the float source (accuracy_cost).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ferry.errors import FerryError
from ferry.formats import is_factory_spec
from ferry.io import sha256_file
from ferry.preprocess.contract import Preprocess

MANIFEST_NAME = "ferry.json"


@dataclass
class TargetEntry:
    format: str
    path: str | None
    route: str | None
    passed: bool
    versions: dict[str, str] = field(default_factory=dict)
    reachable: bool = True
    runtime: str | None = None
    reason: str | None = None
    op: str | None = None
    node: str | None = None
    check: dict[str, Any] | None = None
    native: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    precision: str = "fp32"
    accuracy: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None  # int8: {"photos", "sha256"} (ferry.quantize.calibration.record)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The task answers that say what a reduced precision costs, per task, as `check` measures them (ferry.compare.task)
_COST_METRICS = {"classify": ("top1_agreement", "topk_agreement", "k", "max_prob_delta"),
                 "segment": ("pixel_agreement", "miou", "worst_image_miou"),
                 "detect": ("matched", "ref_detections", "unmatched_ref", "unmatched_target", "min_box_iou",
                            "max_score_delta")}


def accuracy_cost(check: dict[str, Any]) -> dict[str, Any]:
    """A check result (TargetResult.to_dict) -> what the target gives up against the float source: the task's
    agreement metrics and the worst output's tensor statistics, on the photos checked."""
    outs = [o for o in check.get("outputs", []) if o.get("max_abs") is not None]
    cost: dict[str, Any] = {"against": "the float source, on the check's photos"}
    task = check.get("task") or {}
    if task.get("task") in _COST_METRICS:
        metrics = task.get("metrics") or {}
        cost |= {"task": task["task"], "images": task.get("images"),
                 **{k: metrics[k] for k in _COST_METRICS[task["task"]] if k in metrics}}
    if outs:
        cost |= {"max_abs": max(o["max_abs"] for o in outs),
                 "cosine": min((o["cosine"] for o in outs if o.get("cosine") is not None), default=None)}
    return cost


@dataclass
class Manifest:
    preprocess: Preprocess
    source: dict[str, str]
    targets: list[TargetEntry]
    images: list[str] = field(default_factory=list)
    checked: bool = True

    @property
    def passed(self) -> bool:
        return all(t.reachable and t.passed for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {"preprocess": self.preprocess.to_dict(), "source": self.source,
                "targets": [t.to_dict() for t in self.targets], "passed": self.passed, "checked": self.checked,
                "images": self.images, "ferry": package_version("ferry")}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def source_digest(source: str | Path) -> str:
    """sha256 of a model file (with the weight files beside it: an IR's .bin, ONNX external data), of every file of
    a model directory (names and bytes, in sorted order), or of the Python file/module behind a `module:factory`
    spec."""
    spec = str(source)
    if is_factory_spec(spec):
        mod = spec.rpartition(":")[0]
        if mod.endswith(".py"):
            return sha256_file(Path(mod))
        import importlib.util

        found = importlib.util.find_spec(mod)
        if found is not None and found.origin and Path(found.origin).is_file():
            return sha256_file(Path(found.origin))
        return hashlib.sha256(spec.encode()).hexdigest()
    p = Path(spec)
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(str(f.relative_to(p)).encode() + b"\0")
            h.update(sha256_file(f).encode())
        return h.hexdigest()
    parts = _weight_files(p)
    if not parts:
        return sha256_file(p)
    h = hashlib.sha256(sha256_file(p).encode())  # the file, then each weight file beside it, by name
    for f in parts:
        h.update(f.name.encode() + b"\0" + sha256_file(f).encode())
    return h.hexdigest()


def _weight_files(p: Path) -> list[Path]:
    """The files a model file keeps its weights in: an IR's .bin, an ONNX file's external data. A model file alone
    keeps its plain sha256 (what sha256sum prints)."""
    if p.suffix.lower() == ".xml" and p.with_suffix(".bin").is_file():
        return [p.with_suffix(".bin")]
    if p.suffix.lower() == ".onnx" and p.is_file():
        from ferry.runtimes.onnx_graph import external_locations, load_onnx

        try:
            shell = load_onnx(p, load_external=False)
        except Exception:  # noqa: BLE001 - a bad file (or no onnx) is the loader's to report, not the digest's
            return []
        return [p.parent / n for n in external_locations(shell) if (p.parent / n).is_file()]
    return []


def versions(*dists: str) -> dict[str, str]:
    return {d: package_version(d) for d in dists}


def package_version(dist: str) -> str:
    """The installed version of `dist` (or of its `-cpu` build: tensorflow-cpu), else "not installed"."""
    for name in (dist, f"{dist}-cpu"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def find_entry(model_path: str | Path) -> tuple[Preprocess, TargetEntry] | None:
    """The contract and entry of a file ferry wrote, from the ferry.json beside it (for `ferry inspect`)."""
    p = Path(model_path)
    manifest = p.parent / MANIFEST_NAME
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        for t in data.get("targets", []):
            if t.get("path") and Path(t["path"]).name == p.name:
                known = set(TargetEntry.__dataclass_fields__)
                return (Preprocess.from_dict(data["preprocess"], source=str(manifest)),
                        TargetEntry(**{k: v for k, v in t.items() if k in known}))
    except (ValueError, KeyError, TypeError) as exc:
        raise FerryError(f"{manifest}: not a ferry manifest ({exc}); re-run ferry convert") from None
    return None
