"""The preprocessing contract, its presets and its reference implementation."""

from ferry.preprocess.contract import Preprocess, Resize, load_contract
from ferry.preprocess.presets import PRESETS, preset

__all__ = ["Preprocess", "Resize", "load_contract", "PRESETS", "preset"]
