"""Saved references (`check --save-reference DIR`, then `check DIR TARGET...`): the source's outputs per photo on
disk, so a deployment machine without torch or TensorFlow checks its targets against them.

DIR holds `reference.json` (the index) and `outputs/<photo sha256>.npz` (one compressed file per photo, written as
the photo's group is run, so nothing is held in memory). The index records each output file's sha256, so an
edited or truncated file is refused (exit 2, one line) rather than compared. A `SavedReference` stands where the
source's run would in `ferry.check`: groups, accumulators, workers, tables and JSON run unchanged.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferry.errors import FerryError
from ferry.io import sha256_file
from ferry.preprocess.contract import Preprocess, load_contract
from ferry.runtimes.base import Model, TensorInfo

INDEX = "reference.json"
KIND = "ferry-reference"
RUNTIME = "saved"


def is_reference(path: str | Path) -> bool:
    """A folder with a reference.json: what `--save-reference` wrote."""
    return Path(path).is_dir() and (Path(path) / INDEX).is_file()


def _versions(runtime: str) -> dict[str, str]:
    import importlib
    import platform

    import ferry

    out = {"ferry": ferry.__version__, "numpy": np.__version__, "python": platform.python_version()}
    module = {"tflite": "ai_edge_litert", "opencv": "cv2", "coreml": "coremltools"}.get(runtime, runtime)
    try:
        out[runtime] = str(getattr(importlib.import_module(module), "__version__", "?"))
    except ImportError:
        pass
    return out


class ReferenceWriter:
    """Writes DIR into a temporary folder beside it, one photo at a time, and renames it into place at the end."""

    def __init__(self, dest: str | Path, force: bool = False):
        self.dest = Path(dest)
        check_dest(self.dest, force)
        try:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.", dir=self.dest.parent))
        except OSError as exc:
            raise FerryError(f"{self.dest.parent}: cannot write here ({exc.strerror}); choose another "
                             "--save-reference folder") from None
        (self.tmp / "outputs").mkdir()
        self.photos: dict[str, dict[str, Any]] = {}
        self.names: list[str] | None = None

    def add(self, files: list[Path], outs: list[dict[str, np.ndarray]]) -> None:
        """Write each photo's outputs (in the source's output order) as outputs/<sha256>.npz."""
        for f, out in zip(files, outs, strict=True):
            sha = sha256_file(f)
            if sha in self.photos:
                continue
            if self.names is None:
                self.names = list(out)
            dest = self.tmp / "outputs" / f"{sha}.npz"
            np.savez_compressed(dest, *[np.asarray(out[n]) for n in self.names])
            self.photos[sha] = {"name": Path(f).name, "size": Path(f).stat().st_size,
                                "file": f"outputs/{sha}.npz", "file_sha256": sha256_file(dest)}

    def finish(self, src: Model, contract: Preprocess, plan, labels: list[str] | None) -> None:
        from ferry.convert.manifest import source_digest  # with an IR's .bin, ONNX external data

        path = Path(src.path)
        index = {
            "kind": KIND, "version": 1,
            "source": {"path": str(src.path), "format": src.format, "runtime": src.runtime,
                       "sha256": source_digest(path) if path.is_file() else None},
            "contract": contract.to_dict(),
            "inputs": [i.to_dict() for i in src.inputs],
            "outputs": self.names or [o.name for o in src.outputs],
            "task": plan.to_dict() if plan is not None else None,
            "labels": labels,
            "versions": _versions(src.runtime),
            "photos": self.photos,
        }
        from ferry.io import replace_dir, to_json

        try:
            (self.tmp / INDEX).write_text(to_json(index), encoding="utf-8")
            replace_dir(self.tmp, self.dest)
        except BaseException:
            self.abandon()
            raise

    def abandon(self) -> None:
        """Remove the temporary folder: a run that fails midway leaves DIR as it was (absent, or the old one)."""
        shutil.rmtree(self.tmp, ignore_errors=True)


def check_dest(dest: str | Path, force: bool) -> None:
    """Where --save-reference may write. It never replaces what is not a saved reference, even with --force: a
    model file, a folder of photos or a SavedModel given as DIR is a slip, and --force would have deleted it."""
    d = Path(dest)
    if not d.exists():
        return
    if not d.is_dir():
        raise FerryError(f"{d}: is a file; --save-reference writes a folder: give a new folder name")
    if not is_reference(d):
        raise FerryError(f"{d}: a folder that is not a saved reference; --save-reference replaces only a folder it "
                         "wrote (even with --force): give a new folder name")
    if not force:
        raise FerryError(f"{d}: exists; pass --force to replace it")


def _brief(c: Preprocess) -> str:
    def nums(v) -> str:
        return "/".join(f"{x:g}" for x in v)

    size = "x".join(map(str, c.size)) if c.size else "the model's size"
    return f"{c.color}, scale {c.scale:g}, mean {nums(c.mean)}, std {nums(c.std)}, {size}, {c.resize.mode}"


def refuse_other_contract(ref: SavedReference, preprocess) -> None:
    """--preprocess with a saved reference as the source. The saved outputs were made with DIR's contract, and the
    targets are fed that contract too unless --target-preprocess says otherwise; another --preprocess would change
    only the targets' feed while the table still called it the source's, so it is refused. The same contract
    (a script that passes its --preprocess to both runs) is accepted."""
    if preprocess is None:
        return
    own = ref.resolve(ref.declared)
    given = ref.resolve(load_contract(preprocess).with_model_defaults(own.size, own.layout))
    if not given.same_function(own):
        raise FerryError(f"{ref.path}: a saved reference's outputs were made with its own contract ({_brief(own)}); "
                         "--preprocess cannot change them: drop it, or give --target-preprocess to test what your "
                         "app feeds the targets")


@dataclass
class SavedReference(Model):
    """The source's outputs read back from DIR; `outputs_for(files)` stands where the source's run would."""

    photos: dict[str, dict[str, Any]] = field(default_factory=dict)
    output_names: list[str] = field(default_factory=list)
    labels: list[str] | None = None
    source_info: dict[str, Any] = field(default_factory=dict)

    def outputs_for(self, files: list[Path]) -> list[dict[str, np.ndarray]]:
        return [self._load(self.photo_entry(f)) for f in files]

    def photo_entry(self, f: Path) -> dict[str, Any]:
        entry = self.photos.get(sha256_file(f))
        if entry is None:
            raise FerryError(f"{f}: not among the {len(self.photos)} photos {self.path} was made from; check "
                             "with those photos, or make the reference again with --save-reference")
        return entry

    def _load(self, entry: dict[str, Any]) -> dict[str, np.ndarray]:
        path = Path(self.path) / entry["file"]
        fix = "make the reference again with --save-reference"
        if not path.is_file():
            raise FerryError(f"{path}: missing from the saved reference; {fix}")
        if sha256_file(path) != entry.get("file_sha256"):
            raise FerryError(f"{path}: its sha256 is not the one {INDEX} records (edited or truncated); {fix}")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = [z[f"arr_{i}"] for i in range(len(self.output_names))]
        except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input, one line
            raise FerryError(f"{path}: unreadable ({exc}); {fix}") from None
        return dict(zip(self.output_names, arrays, strict=True))


def open_reference(path: str | Path) -> SavedReference:
    """Read DIR's index; a truncated or edited reference.json is bad input (one line, exit 2)."""
    d = Path(path)
    fix = "make it again with `ferry check SOURCE TARGET --images PHOTOS --save-reference DIR`"
    try:
        index = json.loads((d / INDEX).read_text(encoding="utf-8"))
        if index.get("kind") != KIND:
            raise ValueError("not a ferry reference")
        inputs = [TensorInfo(i["name"], tuple(i["shape"]) if i.get("shape") is not None else None, i["dtype"])
                  for i in index["inputs"]]
        contract = load_contract(index["contract"])
        names = [str(n) for n in index["outputs"]]
        photos = dict(index["photos"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FerryError(f"{d / INDEX}: not a readable saved reference ({exc}); {fix}") from None
    src = index.get("source") or {}
    notes = [f"saved reference of {src.get('path')} ({src.get('runtime')}), {len(photos)} photos"]
    return SavedReference(RUNTIME, d, KIND, inputs, [TensorInfo(n, None, "float32") for n in names],
                          declared=contract, notes=notes, photos=photos, output_names=names,
                          labels=index.get("labels"), source_info=src)


def subset_note(ref: SavedReference, files: list[Path]) -> str | None:
    """Said when the photos checked are fewer than the reference holds (fine, but worth knowing)."""
    seen = {sha256_file(f) for f in files}
    missing = [f for f in files if ref.photos.get(sha256_file(f)) is None]
    if missing:
        ref.photo_entry(missing[0])  # raises, naming it
    if len(seen) < len(ref.photos):
        return f"{len(seen)} of the reference's {len(ref.photos)} photos checked"
    return None


