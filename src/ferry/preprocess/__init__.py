"""The preprocessing contract, its presets and its reference implementation."""

from ferry.preprocess.contract import Preprocess, Resize, load_contract
from ferry.preprocess.presets import PRESETS, preset

__all__ = ["Preprocess", "Resize", "load_contract", "PRESETS", "preset"]

from ferry.preprocess.importers import Imported, import_contract, to_openvino_rt_info  # noqa: E402

__all__ += ["Imported", "import_contract", "to_openvino_rt_info"]
