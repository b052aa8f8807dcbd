"""`ferry embed MODEL --to onnx|openvino`: a copy of the model that takes raw u8 pixels, the contract inside."""

from __future__ import annotations

from pathlib import Path

from ferry.commands import EXIT_PASS
from ferry.errors import FerryError
from ferry.formats import ONNX


def add_parser(sub) -> None:
    p = sub.add_parser("embed", help="write a copy of a model with the contract inside (ONNX or OpenVINO IR)")
    p.add_argument("model")
    p.add_argument("--to", choices=["onnx", "openvino"], required=True)
    p.add_argument("--preprocess", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--resize-in-graph", action="store_true", help="OpenVINO: resize in the graph too")


def run(args) -> int:
    from ferry.preprocess.contract import load_contract
    from ferry.runtimes import get_runtime, load

    out = Path(args.output)
    src = Path(args.model)
    if out.exists() and not args.force:
        raise FerryError(f"{out}: exists; pass --force to replace it")
    if out.resolve() == src.resolve():
        raise FerryError(f"{out}: is the input model; ferry never overwrites what you gave it")
    model = load(src)
    if args.to == "onnx" and model.format != ONNX:
        raise FerryError(f"{src}: embed --to onnx takes an ONNX model and this is {model.format}; make one first "
                         f"(ferry convert {src} --to onnx), or embed --to openvino, which reads it")
    if args.resize_in_graph and args.to != "openvino":
        import sys

        print("note: --resize-in-graph is for --to openvino (PrePostProcessor's resize); an ONNX embed leaves the "
              "resize to the host", file=sys.stderr)
    contract = model.resolve(load_contract(args.preprocess))
    if args.to == "openvino":
        written = get_runtime("openvino").embed(src, contract, out, resize_in_graph=args.resize_in_graph)
    else:
        written = get_runtime("onnxruntime").embed(src, contract, out)
    size = "of any size, resized in the graph to" if args.resize_in_graph else "at"
    print(f"wrote {written} (takes uint8 NHWC BGR pixels {size} {contract.size[0]}x{contract.size[1]})")
    print(_read_back(written, contract))
    return EXIT_PASS


def _read_back(written: Path, contract) -> str:
    """What the written file's graph computes, read back as `inspect` reads it: a file that does not compute the
    contract is a ferry bug, and it is refused here (exit 2) rather than handed to the app."""
    from ferry.runtimes import load

    read = load(written).embedded
    if read is None or not read.same_function(contract.replace(layout=read.layout, size=read.size), rtol=1e-4):
        raise FerryError(f"{written}: the embedded graph does not compute the contract when read back; report it "
                         "with the contract and the model")
    colour = f"GRAY, 0 = {read.gray_zero_is}" if read.color == "GRAY" else read.color
    return f"read back from the graph: {colour}, gain/offset {read.affine()}, {read.layout}"
