"""Importers: read the preprocessing another project already wrote down and turn it into a ferry contract.

Users rarely know their model's preprocessing by heart, but the project they got the model from recorded it:
timm's `pretrained_cfg`, a Hugging Face `preprocessor_config.json`, a Keras application's `preprocess_input`
mode, an Open Model Zoo `accuracy-check.yml`, MMDeploy's `pipeline.json`, a PaddlePaddle `inference.yml`, the
OpenVINO Model API `rt_info['model_info']` of an IR, or a Caffe `mean.binaryproto`. Each importer returns an
`Imported`:

    Imported(preprocess=Preprocess(...), notes=["...", ...], source="...")

`notes` says, in plain words, everything the source describes that the contract cannot say exactly (a
resize ferry has no mode for, an assumed default, a per-pixel mean reduced to per-channel). An empty list
means the translation is exact. Bad input raises `ContractError` with one line naming the source and the fix;
no KeyError or TypeError escapes.

The semantics of each source were read from that project's own code (named in each importer's docstring),
not from its documentation alone. One module per source (timm, hf, keras, omz, openvino, caffe, ultralytics,
mmdeploy, paddle), the shared validation in `_common`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ferry.errors import ContractError
from ferry.preprocess.importers._common import Imported, _short
from ferry.preprocess.importers.caffe import from_caffe_mean_binaryproto
from ferry.preprocess.importers.hf import from_hf
from ferry.preprocess.importers.keras import from_keras
from ferry.preprocess.importers.mmdeploy import from_mmdeploy
from ferry.preprocess.importers.omz import from_omz_accuracy_check
from ferry.preprocess.importers.openvino import from_openvino_rt_info, to_openvino_rt_info
from ferry.preprocess.importers.paddle import from_paddle
from ferry.preprocess.importers.timm import from_timm
from ferry.preprocess.importers.ultralytics import from_ultralytics, ultralytics_names

__all__ = [
    "Imported",
    "IMPORTERS",
    "from_caffe_mean_binaryproto",
    "from_hf",
    "from_keras",
    "from_mmdeploy",
    "from_omz_accuracy_check",
    "from_openvino_rt_info",
    "from_paddle",
    "from_timm",
    "from_ultralytics",
    "import_contract",
    "to_openvino_rt_info",
    "ultralytics_names",
]


# ---- dispatcher --------------------------------------------------------------------------------------------
IMPORTERS: dict[str, Callable[..., Imported]] = {
    "timm": from_timm,
    "hf": from_hf,
    "huggingface": from_hf,
    "keras": from_keras,
    "omz": from_omz_accuracy_check,
    "openvino": from_openvino_rt_info,
    "caffe": from_caffe_mean_binaryproto,
    "ultralytics": from_ultralytics,
    "mmdeploy": from_mmdeploy,
    "paddle": from_paddle,
}


def import_contract(kind: str, source: Any, **options: Any) -> Imported:
    """Import by the source's name: timm, hf, keras, omz, openvino, caffe, ultralytics, mmdeploy or paddle (options
    go to that importer)."""
    if not isinstance(kind, str) or kind.lower() not in IMPORTERS:
        raise ContractError(f"unknown importer {_short(kind)}; the importers are {', '.join(IMPORTERS)}")
    importer = IMPORTERS[kind.lower()]
    try:
        inspect.signature(importer).bind(source, **options)
    except TypeError as exc:
        raise ContractError(f"{kind}: {exc}; see the docstring of {importer.__name__}") from None
    return importer(source, **options)
