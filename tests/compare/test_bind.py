"""The value-binding rule (ferry.compare.bind, issue 15) on hand-made outputs: swaps found by value where shapes
cannot tell, tensor names paired, real differences and equal outputs left alone, strings and NaN harmless."""

from __future__ import annotations

import numpy as np

from ferry.compare.bind import bind
from ferry.compare.tensor import match_outputs

RNG = np.random.default_rng(0)
SRC = {"detection_boxes": RNG.normal(size=(1, 4, 4)), "detection_classes": RNG.normal(size=(1, 4)),
       "detection_scores": RNG.normal(size=(1, 4)), "num_detections": RNG.normal(size=(1,))}


def test_bind_finds_swaps_tensor_names_and_leaves_real_differences_to_the_check():
    ok = bind(SRC, {k: v + 1e-7 for k, v in SRC.items()})
    assert not ok.renames and ok.carries == {k: k for k in SRC}
    swapped = dict(SRC, detection_classes=SRC["detection_scores"], detection_scores=SRC["detection_classes"])
    b = bind(SRC, swapped)  # same shapes: only the values tell these two apart
    assert b.swapped == {"detection_classes": "detection_scores", "detection_scores": "detection_classes"}
    assert "the target's detection_classes carries the source's detection_scores" in b.describe()
    tensors = {f"StatefulPartitionedCall_1:{i}": v for i, v in enumerate(reversed(list(SRC.values())))}
    assert bind(SRC, tensors).unnamed == {"StatefulPartitionedCall_1:0": "num_detections",
                                          "StatefulPartitionedCall_1:1": "detection_scores",
                                          "StatefulPartitionedCall_1:2": "detection_classes",
                                          "StatefulPartitionedCall_1:3": "detection_boxes"}
    wrong = dict(SRC, detection_scores=SRC["detection_scores"] * 1.5)  # a conversion that differs: not a swap
    assert not bind(SRC, wrong).renames
    same = dict(SRC, detection_scores=SRC["detection_classes"].copy())  # equal values: no evidence, no rename
    assert not bind(dict(SRC, detection_scores=SRC["detection_classes"]), same).renames
    labels = np.array([[b"cat", b"dog", b"cow", b"owl"]])  # a string output (a SavedModel's class names)
    assert bind(dict(SRC, label=labels), dict(SRC, label=labels.copy())).carries == {k: k for k in SRC}
    nan = dict(SRC, detection_scores=np.where(SRC["detection_scores"] > 0, np.nan, SRC["detection_scores"]))
    assert not bind(nan, nan).renames  # NaN where NaN: carried, not renamed




def test_match_outputs_pairs_tensor_names_by_value_and_flags_a_swap():
    tensors = {f"StatefulPartitionedCall_1:{i}": v for i, v in enumerate(reversed(list(SRC.values())))}
    mapping, notes = match_outputs(list(SRC), list(tensors), SRC, tensors)
    assert mapping["StatefulPartitionedCall_1:0"] == "num_detections" and "matched by value" in notes[0]
    positional, _ = match_outputs(list(SRC), list(tensors))  # without values: by position, all four wrong
    assert positional["StatefulPartitionedCall_1:0"] == "detection_boxes"
    swapped = dict(SRC, detection_classes=SRC["detection_scores"], detection_scores=SRC["detection_classes"])
    mapping, notes = match_outputs(list(SRC), list(swapped), SRC, swapped)
    assert mapping["detection_classes"] == "detection_classes"  # compared by its name, as an app reads it
    assert "the target's detection_classes (compared with the source's detection_classes) carries the source's " \
           "detection_scores" in notes[-1]


def test_unnamed_outputs_that_drift_past_the_value_tolerance_pair_by_unique_size():
    """An int8 TFLite's output_0/output_2 (mtcnn ONet's boxes and landmarks, 2e-2 of their peak off): each the one
    output of its size, so paired by size; a name the source has never is (a swap needs values), and two outputs
    of one size stay unpaired."""
    src = {"boxes": RNG.normal(size=(1, 4)), "landmarks": RNG.normal(size=(1, 10)), "face": RNG.normal(size=(1, 2))}
    drift = {"output_0": src["boxes"] * 1.05, "output_2": src["landmarks"] * 1.05, "output_1": src["face"]}
    b = bind(src, drift)
    assert b.unnamed == {"output_0": "boxes", "output_2": "landmarks", "output_1": "face"}
    assert b.by_size == {"output_0", "output_2"} and "the one output of its size" in b.describe()
    named = {"boxes": src["boxes"] * 1.05, "landmarks": src["landmarks"] * 1.05, "face": src["face"]}
    assert not bind(src, named).renames  # drift under the source's own names: left to the check
    twins = {"a": RNG.normal(size=(1, 4)), "b": RNG.normal(size=(1, 4))}
    assert not bind(twins, {"output_0": twins["a"] * 1.5, "output_1": twins["b"] * 1.5}).renames


def test_names_both_sides_have_are_kept_when_the_rest_pair_by_position():
    """OpenVINO reads an ONNX whose outputs are Identity copies (output_0 of boxes, output_1 of face) and names the
    second after its input: [output_0, face] against [face, boxes]. Only output_0 is left to pair, with boxes;
    before, all of them paired by position, face with boxes and output_0 with face."""
    src = {"face": RNG.normal(size=(1, 2)), "boxes": RNG.normal(size=(1, 4))}
    mapping, notes = match_outputs(list(src), ["output_0", "face"])
    assert mapping == {"face": "face", "output_0": "boxes"} and "boxes <-> output_0" in notes[0]
    drifted = {"output_0": src["boxes"] * 1.05, "face": src["face"]}  # an int8 box head, past the value tolerance
    mapping, _ = match_outputs(list(src), list(drifted), src, drifted)
    assert mapping == {"face": "face", "output_0": "boxes"}
