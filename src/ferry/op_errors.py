"""Turn a converter's or runtime's failure into one line: which op, which node, and the way around it.

Converters fail with pages of MLIR locations or C++ stack text. What the user needs is the op type, the node that
holds it, and what to do: another route, another opset, or a runtime that has the op. The patterns below are the
messages these exact versions print (seen in tests/convert/test_op_errors.py, which triggers each for real).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ferry.errors import FerryError


class ConversionError(FerryError):
    """A target that cannot be produced or loaded. `op`/`node` name the culprit when the tool said which."""

    def __init__(self, message: str, op: str | None = None, node: str | None = None, tool: str = ""):
        super().__init__(message)
        self.op, self.node, self.tool = op, node, tool


@dataclass(frozen=True)
class _Pattern:
    regex: str
    tool: str  # the tool whose messages it reads ("" = any)


# group "op" (and optionally "node") from the message text
_PATTERNS = [
    _Pattern(r"'tf\.(?P<op>\w+)' op is neither a custom op nor a flex op", "tf.lite"),
    _Pattern(r"TF Select ops: (?P<op>[\w, ]+)", "tf.lite"),
    _Pattern(r"Can't create layer \"(?P<node>[^\"]*)\" of type \"(?P<op>[^\"]+)\"", ""),
    _Pattern(r"Could not find an implementation for (?P<op>\w+)\(\d+\) node with name '(?P<node>[^']*)'", ""),
    _Pattern(r"No conversion rule found for operations: (?P<op>[\w, ]+)", ""),
    _Pattern(r"No translator found for (?P<op>\w+) node", ""),  # OpenVINO's TFLite frontend
    _Pattern(r"translation is incomplete due to operation \d+ of type (?P<op>\w+)", ""),
    _Pattern(r"[Uu]nsupported ops: Counter\(\{'(?P<op>\w+)'", "tf2onnx"),
    _Pattern(r"Exporting the operator '?(?P<op>[\w:.]+)'? to ONNX opset version \d+ is not supported", ""),
    _Pattern(r"Unsupported (?P<op>[\w]+) operation", ""),
]
_TFLITE_NODE = re.compile(r'fused\["(?P<op>\w+):", "(?P<node>[^"@]+)@')

# What to do, per tool, when an op is missing.
_WAYS_AROUND = {
    "tf.lite": "TFLite's builtin ops lack it and the Flex (TF Select) delegate is not part of ai-edge-litert: "
               "deploy this model to OpenVINO or ONNX Runtime, which have it, or replace the op in the model",
    "opencv": "OpenCV DNN has no layer for it: run this model with ONNX Runtime or OpenVINO, or cut the graph "
              "before the op and do that step in your app",
    "onnxruntime": "try a lower opset when exporting, or run it in OpenVINO",
    "openvino.convert_model": "convert through ONNX instead (ferry convert picks it with --route onnx), or from "
                              "the framework model directly",
    "tf2onnx": "try a newer opset, or convert the SavedModel to OpenVINO directly",
    "torch.onnx.export": "use a newer opset, or rewrite the op with supported torch ops; OpenVINO can also "
                         "convert the torch module directly",
}


def find_op(text: str, tool: str = "") -> tuple[str | None, str | None]:
    """(op type, node name) named in a tool's error text, or (None, None)."""
    for pat in _PATTERNS:
        if pat.tool and pat.tool not in tool:
            continue
        m = re.search(pat.regex, text)
        if m:
            op = m.group("op").split(",")[0].strip()
            node = m.groupdict().get("node")
            if node is None and tool.startswith("tf.lite"):
                loc = next((x for x in _TFLITE_NODE.finditer(text) if x.group("op") == op), None)
                node = loc.group("node") if loc else None
            return op, node or None
    return None, None


def first_line(text: str) -> str:
    for line in text.strip().splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "File ", "<unknown>", "loc(")):
            return line[:300]
    return text.strip()[:300]


def explain(exc: BaseException, tool: str, path: str | Path) -> ConversionError:
    """A one-line ConversionError for `exc`, raised by `tool` while converting or loading `path`."""
    text = f"{exc}"
    op, node = find_op(text, tool)
    key = next((k for k in _WAYS_AROUND if tool.startswith(k)), "")
    if op:
        where = f" (node {node})" if node else ""
        way = _WAYS_AROUND.get(key, "use another route or runtime")
        return ConversionError(f"{path}: {tool} cannot handle op {op}{where}: {way}", op=op, node=node, tool=tool)
    return ConversionError(f"{path}: {tool} failed: {type(exc).__name__}: {first_line(text)}", tool=tool)


# ONNX ops that OpenCV DNN 4.14's importer has no layer for, among those our converters emit for detectors.
# Verified by tests/convert/test_op_errors.py (a one-node model per op must fail in cv2.dnn.readNetFromONNX).
OPENCV_MISSING_ONNX_OPS = ("NonMaxSuppression", "Loop", "If", "RoiAlign")


def opencv_blockers(onnx_path: Path) -> list[tuple[str, str]]:
    """(op type, node name) of the nodes in an ONNX file that OpenCV DNN cannot import."""
    from ferry.runtimes.onnx_graph import load_onnx

    model = load_onnx(onnx_path)
    found = [(n.op_type, n.name) for n in model.graph.node if n.op_type in OPENCV_MISSING_ONNX_OPS]
    return sorted(found, key=lambda f: OPENCV_MISSING_ONNX_OPS.index(f[0]))  # the most telling op first


# OpenCV DNN's importer names the node it stopped at: "Node [Shape@ai.onnx]:(onnx_node!Shape_83) parse error: ...
# error: (-215:Assertion failed) !isDynamicShape in function 'parseShape'" (OpenCV 4.14); ferry's own one line
# (ferry.runtimes.opencv.load) keeps it as "node Shape_83 (Shape): (-215:Assertion failed) ...".
_OPENCV_NODE = re.compile(r"Node \[(?P<op>[\w.]+)@[\w.]*\]:\((?:onnx_node!)?(?P<node>[^)]*)\) parse error:"
                          r"(?:.*error: )?(?P<detail>[^\n]*)")
_FERRY_NODE = re.compile(r"node (?P<node>\S+) \((?P<op>[\w.]+)\): (?P<detail>[^\n]*)")


def opencv_log(text: str) -> tuple[str | None, str | None, str]:
    """(op type, node name, the refusal) from OpenCV DNN's load error, raw or as ferry reports it; the op and node
    are None when OpenCV named none (the refusal is then the message's first line)."""
    for pattern in (_OPENCV_NODE, _FERRY_NODE):
        m = pattern.search(text)
        if m:
            return m.group("op"), m.group("node"), m.group("detail").strip()[:300]
    lines = [ln.strip() for ln in text.splitlines() if "error:" in ln] or [first_line(text)]
    return None, None, lines[0].split("error: ", 1)[-1][:300]
