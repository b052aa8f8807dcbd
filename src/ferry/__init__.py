"""ferry: carry a vision model to deployment runtimes with its preprocessing, and prove parity.

`import ferry` is light: numpy and the contract only. Every runtime (torch, TensorFlow, OpenVINO, ...) is imported
inside the module that needs it.
"""

from ferry.errors import ContractError, FerryError
from ferry.preprocess import PRESETS, Preprocess, Resize, load_contract, preset

__version__ = "0.1.0"
__all__ = ["Preprocess", "Resize", "PRESETS", "preset", "load_contract", "FerryError", "ContractError"]
