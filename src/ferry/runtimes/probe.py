"""Read back what embedded preprocessing really does, by running it.

An embedded contract is metadata plus graph nodes; the metadata can lie (a hand-edited PPP, a re-export that
kept the old rt_info). So ferry runs the preprocessing part of the graph alone on probe images and solves for
the per-channel affine map and channel order. The probe is exact for what an embedding may contain: a
per-pixel channel permutation, an affine map per channel, and a layout change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ferry.errors import FerryError
from ferry.preprocess.contract import Preprocess

PROBE_LEVEL = 100.0


def probe_affine(run: Callable[[np.ndarray], np.ndarray], height: int, width: int) -> Preprocess:
    """Solve the function `run` (u8 NxHxWx3 BGR pixels -> normalised tensor) as a contract.

    The returned contract uses scale=1, so mean and std carry the whole map (out = (x - mean) / std); compare it
    with `Preprocess.same_function`, which ignores how a map is split between scale, mean and std.
    """
    probes = np.zeros((4, height, width, 3), dtype=np.uint8)
    for c in range(3):
        probes[c + 1, :, :, c] = int(PROBE_LEVEL)
    # one probe at a time: embedded graphs often have a fixed batch of 1
    out = np.concatenate([np.asarray(run(probes[i:i + 1]), dtype=np.float64) for i in range(4)])
    if out.ndim != 4 or out.shape[0] != 4:
        raise FerryError(f"embedded preprocessing gives shape {list(out.shape)}, not an image batch")
    if out.shape[1] == 3 and out.shape[3] != 3:
        layout = "NCHW"
        per_channel = out.mean(axis=(2, 3))
    elif out.shape[3] == 3:
        layout = "NHWC"
        per_channel = out.mean(axis=(1, 2))
    else:
        raise FerryError(f"embedded preprocessing gives shape {list(out.shape)} with no 3-channel axis")
    offset = per_channel[0]
    response = (per_channel[1:] - offset) / PROBE_LEVEL  # response[input_c, output_k]
    source = np.argmax(np.abs(response), axis=0)  # which input channel feeds each output channel
    gain = response[source, np.arange(3)]
    if sorted(source.tolist()) != [0, 1, 2] or np.any(gain == 0):
        raise FerryError("embedded preprocessing mixes channels; ferry reads back only permutations")
    if source.tolist() == [2, 1, 0]:
        color = "RGB"
    elif source.tolist() == [0, 1, 2]:
        color = "BGR"
    else:
        raise FerryError(f"embedded preprocessing permutes channels as {source.tolist()}, neither RGB nor BGR")
    std = tuple(float(1.0 / g) for g in gain)
    mean = tuple(float(-o / g) for o, g in zip(offset, gain, strict=True))
    return Preprocess(color=color, scale=1.0, mean=mean, std=std, layout=layout, size=(height, width))


def verify_embedded(declared: Preprocess | None, probed: Preprocess) -> tuple[Preprocess, list[str]]:
    """The contract to trust, and notes when the metadata and the graph disagree (the graph wins)."""
    if declared is None:
        return probed, ["no ferry metadata in the file: the embedded preprocessing was read from the graph alone"]
    shaped = declared.replace(size=probed.size, layout=probed.layout, resize=probed.resize, dtype=probed.dtype)
    if shaped.same_function(probed, rtol=1e-4):
        return declared, []
    if declared.color in ("RGB", "BGR"):
        # OpenVINO folds a reverse_channels step into the first convolution's weights (and reverses the mean
        # and scale constants to match), so the graph's front reads as the other colour order with reversed
        # constants. That is the same model function; say so rather than cry wolf.
        folded = shaped.replace(color="BGR" if declared.color == "RGB" else "RGB", mean=declared.mean[::-1],
                                std=declared.std[::-1])
        if folded.same_function(probed, rtol=1e-4):
            return declared, ["the R/B swap is folded into the first layer's weights; the normalisation in the "
                              "graph matches the metadata (the swap itself is verified end to end by `check`)"]
    return probed, [
        "the file's preprocessing metadata does not match what its graph computes; ferry uses the graph: "
        f"metadata color={declared.color} mean={list(declared.mean)} std={list(declared.std)} "
        f"scale={declared.scale:g}, graph color={probed.color} gain/offset={probed.affine()}"
    ]
