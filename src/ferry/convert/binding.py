"""Output names bound by value: each named output of a converted file must carry the values of the source's output
of that name, checked on a probe image before the file is written.

Why (issue 15): converters bind names by position, by sorted dict key or by internal tensor name, and each route
had a rename step that assumed an order. A Keras dict model converted to Core ML named its [1, 4, 4] boxes
`detection_scores`; its TFLite outputs (`StatefulPartitionedCall_1:0..4`) were matched by position in the wrong
order. A name carried by the wrong tensor is worse than no name: an app reads the wrong array without error.

`verify` runs the source and the target on one seeded image and pairs the outputs by value (ferry.compare.bind:
same element count, within VALUE_TOL of the source output's own peak): bound, swapped (a source output's name on
another output's values) or unnamed (a name no source output has, such as a tensor name). It gives swapped and
unnamed outputs their true names in the file, in formats whose names ferry can rewrite (ONNX, OpenVINO IR, Core
ML). A TFLite signature cannot be renamed: an unnamed output (`output_0`) gets
its source's name in a "ferry_output_names" metadata map that ferry's runtime reads, and a swapped one (a source's
name on another's tensor, which an app's signature runner would read) makes ferry refuse the target, naming both.
An output that matches no source output by value is left to the check, which reports the numbers: that is a
conversion that differs, not a name on the wrong tensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferry.compare.bind import VALUE_TOL, Binding, bind
from ferry.op_errors import ConversionError

__all__ = ["VALUE_TOL", "Binding", "bind", "probe_image", "rename_onnx_outputs", "verify"]

def probe_image(contract) -> np.ndarray:
    """A seeded u8 BGR photo-sized noise image: every head of a random-weight model gives distinct values on it."""
    h, w = contract.size if contract.size else (64, 64)
    rng = np.random.default_rng(20261202)
    return rng.integers(0, 256, (int(h), int(w), 3), dtype=np.uint8)


def verify(path: Path, runtime: str, source, contract, final: Path) -> list[str]:
    """Bind the staged target's output names by value and repair them in the file, or raise ConversionError
    naming both outputs of a swap ferry cannot rewrite. Returns notes for the manifest (what was renamed)."""
    from ferry.errors import FerryError
    from ferry.runtimes import load

    img = probe_image(contract)
    try:
        src_outs = source.run_image([img], contract)
        tgt_outs = load(path, runtime).run_image([img], contract)
    except FerryError:
        return []  # the target does not run here: the check says why, with the photos
    b = bind(src_outs, tgt_outs)
    if not b.renames:
        return []
    if (runtime == "tflite" and b.swapped) or not _rename(path, runtime, b.renames):
        raise ConversionError(f"{final}: output names bound to the wrong tensors ({b.describe()}); ferry cannot "
                              f"rename {runtime} outputs, so the file is not written: report this route with the "
                              "source's output names and shapes", tool="ferry output binding")
    again = bind(src_outs, load(path, runtime).run_image([img], contract))
    if again.renames:  # the rename did not take: never write a file whose names are known to be wrong
        raise ConversionError(f"{final}: output names still bound to the wrong tensors after renaming "
                              f"({again.describe()})", tool="ferry output binding")
    if runtime == "tflite":
        return [f"TFLite signature names its outputs {', '.join(b.unnamed)}; bound by value on a probe image, "
                f"{b.describe()}: the names are kept in metadata {_tflite_key()} for ferry (an app calling "
                "LiteRT sees the signature's)"]
    return [f"output names repaired by value on a probe image: {b.describe()}; each now has its source's name"]


def _tflite_key() -> str:
    from ferry.runtimes.tflite import NAMES_METADATA

    return NAMES_METADATA


def _rename(path: Path, runtime: str, renames: dict[str, str]) -> bool:
    """Give each output in `renames` its new name in the file (swaps at once, through temporary names)."""
    if runtime in ("onnxruntime", "opencv"):
        rename_onnx_outputs(path, renames)
        return True
    if runtime == "openvino":
        _rename_openvino(path, renames)
        return True
    if runtime == "coreml":
        _rename_coreml(path, renames)
        return True
    if runtime == "tflite":  # only names that are no source's (output_0): a map ferry's runtime reads
        _name_tflite(path, renames)
        return True
    return False


def _name_tflite(path: Path, renames: dict[str, str]) -> None:
    import json

    from ferry.runtimes.tflite import NAMES_METADATA, output_names_map, write_metadata

    named = {**output_names_map(path), **renames}
    write_metadata(path, NAMES_METADATA, json.dumps(named, sort_keys=True).encode())


def rename_onnx_outputs(path: Path, renames: dict[str, str]) -> None:
    """Rename graph outputs (and every node edge of those names) of an ONNX file in place, all at once."""
    from ferry.errors import require
    from ferry.io import atomic_write_bytes

    onnx = require("onnx", "onnx")
    model = onnx.load(str(path))
    mapping = dict(renames)
    for node in model.graph.node:
        node.output[:] = [mapping.get(o, o) for o in node.output]
        node.input[:] = [mapping.get(i, i) for i in node.input]
    for o in model.graph.output:
        o.name = mapping.get(o.name, o.name)
    for vi in model.graph.value_info:
        vi.name = mapping.get(vi.name, vi.name)
    atomic_write_bytes(path, model.SerializeToString())


def _rename_openvino(path: Path, renames: dict[str, str]) -> None:
    from ferry.errors import require

    ov = require("openvino", "openvino")
    model = ov.Core().read_model(str(path))
    ports = {o.get_any_name(): o for o in model.outputs if o.get_names()}
    for old, new in renames.items():
        ports[old].get_tensor().set_names({f"__ferry_tmp_{new}"})
    for new in renames.values():
        next(o for o in model.outputs if o.get_names() == {f"__ferry_tmp_{new}"}).get_tensor().set_names({new})
    tmp = path.with_name(path.stem + ".renamed.xml")
    ov.save_model(model, str(tmp), compress_to_fp16=False)
    del model
    tmp.replace(path)
    tmp.with_suffix(".bin").replace(path.with_suffix(".bin"))


def _rename_coreml(path: Path, renames: dict[str, str]) -> None:
    import shutil

    from ferry.coreml.spec import coremltools

    ct = coremltools()
    model = ct.models.MLModel(str(path), skip_model_load=True)
    spec = model.get_spec()
    for old, new in renames.items():
        ct.utils.rename_feature(spec, old, f"__ferry_tmp_{new}")
    for new in renames.values():
        ct.utils.rename_feature(spec, f"__ferry_tmp_{new}", new)
    fixed = ct.models.MLModel(spec, weights_dir=model.weights_dir, skip_model_load=True)
    tmp = path.with_name(path.stem + ".renamed.mlpackage")
    fixed.save(str(tmp))
    shutil.rmtree(path)
    tmp.rename(path)
