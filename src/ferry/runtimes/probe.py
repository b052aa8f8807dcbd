"""Read back what embedded preprocessing really does, by running it.

An embedded contract is metadata plus graph nodes; the metadata can lie (a hand-edited PPP, a re-export that
kept the old rt_info). So ferry runs the preprocessing part of the graph alone on probe images and solves for
the per-channel affine map and channel order. The probe is exact for what an embedding may contain: a
per-pixel channel permutation, an affine map per channel, and a layout change; or, for a one-channel output, a
BGR->gray conversion (OpenCV's or PIL's fixed-point weights, told apart on colours where they round differently),
its polarity, and an affine map.
"""

from __future__ import annotations

import dataclasses
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
    gray_layout = _one_channel_layout(out.shape, height, width)
    if gray_layout is not None:
        return probe_gray(run, height, width, gray_layout)
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


def _one_channel_layout(shape: tuple[int, ...], height: int, width: int) -> str | None:
    """NCHW or NHWC when the probe's output is one channel at the probe's size (a gray embedding), else None."""
    if shape[1] == 1 and tuple(shape[2:]) == (height, width):
        return "NCHW"
    if shape[3] == 1 and tuple(shape[1:3]) == (height, width):
        return "NHWC"
    return None


def _gray_probe_pixels() -> np.ndarray:
    """BGR pixels that pin a gray embedding down: black, white, each primary, a gray ramp, and colours where
    OpenCV's and PIL's weights round to different levels (so the read-back can say whose conversion it is)."""
    from ferry.preprocess.gray import gray_levels

    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (20000, 3), dtype=np.uint8)
    differ = colours[gray_levels(colours, "opencv") != gray_levels(colours, "pil")][:16]
    ramp = np.repeat(np.arange(0, 256, 17, dtype=np.uint8)[:, None], 3, axis=1)
    primaries = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 0, 0], [255, 255, 255]], dtype=np.uint8)
    return np.concatenate([primaries, ramp, differ, colours[:16]])


def probe_gray(run: Callable[[np.ndarray], np.ndarray], height: int, width: int, layout: str) -> Preprocess:
    """Solve `run` (u8 NxHxWx3 BGR -> one-channel tensor) as a GRAY contract: whose gray weights (OpenCV's or
    PIL's, returned as resize.semantics), which polarity, and the affine map after it.

    A map g -> a*g + b with a < 0 is the same function as 0 = white with gain -a; ferry reads a negative gain as
    white polarity (what `embed` writes for `gray_zero_is: white`), and `verify_embedded` accepts either form."""
    from ferry.preprocess.contract import Resize
    from ferry.preprocess.gray import gray_levels

    pixels = _gray_probe_pixels()
    per_image = height * width
    count = -(-len(pixels) // per_image)
    tiled = np.resize(pixels, (count * per_image, 3)).reshape(count, height, width, 3)
    out = np.concatenate([np.asarray(run(tiled[i:i + 1]), dtype=np.float64) for i in range(count)])
    values = (out[:, 0] if layout == "NCHW" else out[..., 0]).reshape(-1)
    fits = {sem: _line_fit(gray_levels(tiled, sem).reshape(-1).astype(np.float64), values)
            for sem in ("opencv", "pil")}
    semantics, (gain, offset, residual) = min(fits.items(), key=lambda kv: kv[1][2])
    if gain == 0 or residual > 0.01 * abs(gain):
        raise FerryError("embedded preprocessing maps BGR pixels to one channel, but not as cv2.cvtColor's "
                         "BGR2GRAY or PIL's convert('L') rounds them; ferry reads back only those")
    zero = "black"
    if gain < 0:  # (255 - g) * A + B = -A g + (255 A + B)
        zero, gain, offset = "white", -gain, offset + 255.0 * gain
    return Preprocess(color="GRAY", gray_zero_is=zero, scale=1.0, mean=(-offset / gain,), std=(1.0 / gain,),
                      layout=layout, size=(height, width), resize=Resize(semantics=semantics))


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares y = a*x + b: (a, b, max residual)."""
    a, b = np.polyfit(x, y, 1)
    return float(a), float(b), float(np.abs(y - (a * x + b)).max())


def _verify_gray(declared: Preprocess, probed: Preprocess) -> tuple[Preprocess, list[str]]:
    """`verify_embedded` for a one-channel graph: the polarity and map must match in either of the two equal
    forms (0 = black with gain a, or 0 = white with gain -a), and the gray weights the contract's semantics."""
    shaped = declared.replace(size=probed.size, layout=probed.layout, dtype=probed.dtype)
    graph = probed.replace(resize=shaped.resize)
    (gain,), (offset,) = graph.affine()
    flipped = graph.replace(gray_zero_is="white" if graph.gray_zero_is == "black" else "black",
                            mean=(-(offset + 255.0 * gain) / -gain,), std=(1.0 / -gain,))
    same = shaped.color == "GRAY" and any(shaped.same_function(g, rtol=1e-4) for g in (graph, flipped))
    weights_ok = declared.resize.semantics == probed.resize.semantics
    if same and weights_ok:
        return declared, []
    whose = {"opencv": "cv2.cvtColor's", "pil": "PIL's convert('L')"}
    return probed.replace(resize=dataclasses.replace(declared.resize, semantics=probed.resize.semantics)), [
        "the file's preprocessing metadata does not match what its graph computes; ferry uses the graph: "
        f"metadata color={declared.color}" + (f" gray_zero_is={declared.gray_zero_is}" if declared.color == "GRAY"
                                              else "")
        + f" gain/offset={declared.affine()} gray weights={whose[declared.resize.semantics]}, graph color=GRAY "
        f"gray_zero_is={probed.gray_zero_is} gain/offset={probed.affine()} gray weights="
        f"{whose[probed.resize.semantics]}"
    ]


def verify_embedded(declared: Preprocess | None, probed: Preprocess) -> tuple[Preprocess, list[str]]:
    """The contract to trust, and notes when the metadata and the graph disagree (the graph wins)."""
    if declared is None:
        return probed, ["no ferry metadata in the file: the embedded preprocessing was read from the graph alone"]
    if probed.color == "GRAY" or declared.color == "GRAY":
        if probed.color == "GRAY":
            return _verify_gray(declared, probed)
        return probed, [f"the file's preprocessing metadata says GRAY but its graph keeps 3 channels ({probed.color}); "
                        "ferry uses the graph"]
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
