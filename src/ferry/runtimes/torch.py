"""PyTorch as a source: TorchScript, ExportedProgram (.pt2) and nn.Module factories.

A factory is named `package.module:function` or `path/to/file.py:function` and returns an nn.Module in eval
mode, or `(module, example_input)` so ferry knows the input shape. Plain torch.save pickles are refused: they
can run code when loaded, and they hold weights without the architecture.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferry.errors import FerryError, require
from ferry.formats import EXPORTED_PROGRAM, TORCH_MODULE, TORCHSCRIPT, detect_format
from ferry.preprocess.contract import Preprocess
from ferry.runtimes.base import Model, NativeRecipe, TensorInfo

NAME = "torch"


def _torch():
    return require("torch", "torch")


@dataclass
class TorchModel(Model):
    _module: Any = None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = _torch()
        args = [torch.from_numpy(np.ascontiguousarray(feeds[i.name])) for i in self.inputs if i.name in feeds]
        try:
            with torch.inference_mode():
                out = self._module(*args)
        except Exception as exc:
            raise FerryError(f"{self.path}: the torch model failed: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:300] if str(exc) else ''}") from None
        return _flatten(out, self.outputs)


def _flatten(out: Any, infos: list[TensorInfo]) -> dict[str, np.ndarray]:
    if isinstance(out, dict):
        return {str(k): v.detach().cpu().numpy() for k, v in out.items()}
    if not isinstance(out, list | tuple):
        out = [out]
    names = [o.name for o in infos] if len(infos) == len(out) else [f"output{i}" for i in range(len(out))]
    return {n: v.detach().cpu().numpy() for n, v in zip(names, out, strict=True)}


def load(path: str | Path) -> TorchModel:
    spec = str(path)
    fmt = detect_format(spec)
    torch = _torch()
    example = None
    if fmt == TORCHSCRIPT:
        try:
            module = torch.jit.load(spec, map_location="cpu")
        except Exception as exc:
            raise FerryError(f"{spec}: cannot load the TorchScript file ({type(exc).__name__}); re-save it") from None
        inputs = [TensorInfo("input", (None, _input_channels(module), None, None), "float32")]
    elif fmt == EXPORTED_PROGRAM:
        try:
            program = torch.export.load(spec)
        except Exception as exc:
            raise FerryError(f"{spec}: cannot load the ExportedProgram ({type(exc).__name__}); re-export it") from None
        module = program.module()
        inputs = _program_inputs(program)
    elif fmt == TORCH_MODULE:
        module, example = _from_factory(spec)
        inputs = [TensorInfo("input", tuple(example.shape) if example is not None
                             else (None, _input_channels(module), None, None), "float32")]
    else:
        raise FerryError(f"{spec}: torch cannot load a {fmt} file")
    if fmt != EXPORTED_PROGRAM:  # an ExportedProgram's module is already traced in eval mode; it refuses eval()
        module.eval()
    outputs = _outputs(module, inputs, example)
    notes = [] if example is not None or fmt == EXPORTED_PROGRAM else [
        "torch files do not record input shapes; the contract must give the size"]
    return TorchModel(runtime=NAME, path=Path(spec), format=fmt, inputs=inputs, outputs=outputs,
                      notes=notes, _module=module)


def _input_channels(module) -> int:
    """The channels the first convolution takes (a 4-D weight [out, in, kh, kw], the first registered), 3 when there
    is none: TorchScript and a bare module record no input shape, and a GRAY model (a CRNN: khmer-ocr-ocm's) was
    taken for a colour one, its right contract refused as making the wrong shape."""
    try:
        for p in module.parameters():
            if p.ndim == 4:
                return int(p.shape[1])
    except Exception:  # noqa: BLE001 - a module whose parameters cannot be listed: the common case
        pass
    return 3


def _program_inputs(program) -> list[TensorInfo]:
    infos = []
    user_inputs = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            val = node.meta.get("val")
            shape = tuple(int(d) if str(d).isdigit() else None for d in val.shape) if val is not None else None
            dtype = str(val.dtype).replace("torch.", "") if val is not None else "float32"
            infos.append(TensorInfo(node.name, shape, dtype))
    return infos


def _outputs(module, inputs: list[TensorInfo], example) -> list[TensorInfo]:
    """Output names: `output_names` on the module if it has them, else output0.. (matched by position); with the
    factory's example input, the shapes one forward pass gives (inspect printed `?` for them)."""
    names = getattr(module, "output_names", None)
    shapes: list = []
    if example is not None:
        try:
            with _torch().inference_mode():
                out = module(example)
            if isinstance(out, dict):
                names = names or [str(k) for k in out]
                out = list(out.values())
            out = out if isinstance(out, list | tuple) else [out]
            shapes = [tuple(int(d) for d in o.shape) if hasattr(o, "shape") else None for o in out]
        except Exception:  # noqa: BLE001 - the shapes are for the report; a run that fails is reported by check
            shapes = []
    if names:
        return [TensorInfo(str(n), shapes[i] if i < len(shapes) else None, "float32") for i, n in enumerate(names)]
    if len(shapes) > 1:
        return [TensorInfo(f"output{i}", sh, "float32") for i, sh in enumerate(shapes)]
    return [TensorInfo("output0", shapes[0] if shapes else None, "float32")]


# The factory modules loaded, by the name the spec gives them (FILE.py or a dotted module): read_preprocess looks
# there for `ferry_preprocess`.
_FACTORY_MODULES: dict[str, Any] = {}


def _importable(folder: Path) -> None:
    """Put `folder` first on sys.path, as `python FILE.py` does for the file's folder: a factory file imports the
    model class beside it (`from mobilenetv2_bottle import ...`), and the `ferry` console script, unlike
    `python -m`, does not have the working directory on the path for `module:function`."""
    entry = str(folder)
    if entry not in sys.path:
        sys.path.insert(0, entry)


def _from_factory(spec: str):
    mod_name, _, fn_name = spec.rpartition(":")
    try:
        if mod_name.endswith(".py"):
            file = Path(mod_name)
            if not file.is_file():
                raise FerryError(f"{file}: no such Python file for the model factory {spec}")
            _importable(file.resolve().parent)
            key = f"ferry_user_factory_{abs(hash(str(file.resolve())))}"
            loader = importlib.util.spec_from_file_location(key, file)
            module = importlib.util.module_from_spec(loader)
            sys.modules[key] = module
            loader.loader.exec_module(module)
        else:
            _importable(Path.cwd())
            module = importlib.import_module(mod_name)
        _FACTORY_MODULES[mod_name] = module
    except FerryError:
        raise
    except Exception as exc:
        raise FerryError(f"{spec}: cannot import {mod_name} ({type(exc).__name__}: {exc})") from None
    factory = getattr(module, fn_name, None)
    if factory is None:
        raise FerryError(f"{spec}: {mod_name} has no {fn_name}")
    try:
        made = factory()
    except FerryError:
        raise
    except Exception as exc:  # the user's own code failed: one line here, the traceback under --debug
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise FerryError(f"{spec}: {fn_name}() raised {type(exc).__name__}: {first} (fix the factory; --debug shows "
                         "the traceback)") from exc
    example = None
    if isinstance(made, tuple):
        made, example = made
    torch = _torch()
    if not isinstance(made, torch.nn.Module):
        raise FerryError(f"{spec}: the factory returned {type(made).__name__}, not a torch.nn.Module")
    return made, example


def read_preprocess(path: str | Path) -> Preprocess | None:
    """torch files carry no preprocessing; a factory module may define `ferry_preprocess` (a dict or YAML)."""
    spec = str(path)
    if detect_format(spec) != TORCH_MODULE:
        return None
    mod_name = spec.rpartition(":")[0]
    module = _FACTORY_MODULES.get(mod_name) or sys.modules.get(mod_name)
    value = getattr(module, "ferry_preprocess", None) if module else None
    if isinstance(value, str):
        import yaml

        value = yaml.safe_load(value)
    if isinstance(value, dict):
        return Preprocess.from_dict(value, source=f"{mod_name}.ferry_preprocess")
    return None


def native(preprocess: Preprocess) -> NativeRecipe:
    from ferry.runtimes.onnxruntime import numpy_recipe

    return numpy_recipe(NAME, preprocess, "out = model(torch.from_numpy(x))")
