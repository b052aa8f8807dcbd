"""Core ML on any platform: the ML Program read from its spec, run by a numpy interpreter, and the ImageType input
translated to and from ferry's contract.

    mil.py        the MIL program of an .mlpackage (spec + weights/weight.bin) and the numpy interpreter
    ops.py        one numpy function per MIL op, written from the MIL op reference (coremltools' op docstrings)
    imagetype.py  contract <-> ImageType(scale, bias, color_layout) (+ the per-channel std ferry folds in)
    spec.py       reading the package: the Manifest, the Model protobuf, the image input

Core ML itself predicts only on macOS; on Linux ferry still checks a converted model end to end from the raw
image, because every step between the pixels and the outputs is defined precisely enough to reproduce.
"""
