"""What LiteRT runs and the converters do not read, rewritten in a copy before converting (ferry.convert.
tflite_rewrite): MediaPipe's Convolution2DTransposeBias as builtin TRANSPOSE_CONV, sparse weights (DENSIFY) stored
dense. Found on mediapipe-rpi4 0.8.8: selfie_segmentation.tflite (LiteRT ran it, XNNPACK knows the op; onnx, openvino
and opencv were 'unreachable (op Convolution2DTransposeBias)') and pose_detection.tflite (onnx and opencv
'unreachable (op DENSIFY)'). Seeded files spelled as MediaPipe spells them (tests/models/mediapipe_ops), real
converters and runtimes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mediapipe_ops
import numpy as np
import pytest

from ferry.cli import main
from ferry.convert.tflite_rewrite import DENSIFY, TRANSPOSE_CONV_BIAS, with_builtin_equivalents

pytest.importorskip("tf2onnx")
pytest.importorskip("openvino")


def _ops(path: Path) -> list[str]:
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if isinstance(v, int)}
    out = []
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            out.append(code.customCode.decode() if code.customCode else
                       names[max(int(code.builtinCode), int(code.deprecatedBuiltinCode))])
    return out


def _litert(path: Path, x: np.ndarray, delegates: bool = True) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kw = {} if delegates else {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    it = Interpreter(str(path), **kw)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def test_the_rewritten_copy_has_builtins_only_and_gives_the_same_outputs():
    src = mediapipe_ops.mediapipe_files() / "transpose_bias.tflite"
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    assert _ops(src).count(TRANSPOSE_CONV_BIAS) == 2
    rewrite = with_builtin_equivalents(src)
    assert rewrite is not None and rewrite.replaced == {TRANSPOSE_CONV_BIAS: 2}
    assert TRANSPOSE_CONV_BIAS not in _ops(rewrite.path) and _ops(rewrite.path).count("TRANSPOSE_CONV") == 2
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before  # the user's file untouched
    x = np.random.default_rng(3).random((1, 8, 8, 3), dtype=np.float32)
    ref = _litert(src, x)  # XNNPACK runs MediaPipe's op
    assert ref.shape == (1, 33, 33, 2) and 0.05 < ref.std()  # a real output, not a flat one
    np.testing.assert_allclose(_litert(rewrite.path, x), ref, atol=1e-5)
    np.testing.assert_allclose(_litert(rewrite.path, x, delegates=False), ref, atol=1e-5)  # the reference kernels


def test_an_unknown_padding_is_not_guessed():
    """TfLitePadding 0 (unknown) on the first op: that op is left as it is (LiteRT refuses it too), the second one,
    which says VALID, is rewritten."""
    src = mediapipe_ops.mediapipe_files() / "transpose_bias_unknown_padding.tflite"
    rewrite = with_builtin_equivalents(src)
    assert rewrite is not None and rewrite.replaced == {TRANSPOSE_CONV_BIAS: 1}
    assert _ops(rewrite.path).count(TRANSPOSE_CONV_BIAS) == 1


def test_a_file_without_the_op_is_not_copied():
    import tflite_models

    assert with_builtin_equivalents(tflite_models.tflite_sources() / "cnn.tflite") is None
    assert with_builtin_equivalents(Path(__file__)) is None  # not a flatbuffer: the converter gives its verdict


@pytest.fixture(scope="module")
def converted(tmp_path_factory, photos):
    tmp = tmp_path_factory.mktemp("mp-custom")
    contract = tmp / "contract.json"
    contract.write_text(json.dumps(mediapipe_ops.CONTRACT))
    src = mediapipe_ops.mediapipe_files() / "transpose_bias.tflite"
    out = tmp / "out"
    rc = main(["convert", str(src), "--to", "onnx,openvino,opencv", "--preprocess", str(contract), "-o", str(out),
               "--images", *map(str, photos), "--json"])
    return rc, src, contract, out, json.loads((out / "ferry.json").read_text())


def test_mediapipe_transposed_convolutions_convert_and_pass(converted):
    """Red without the rewrite: every target 'unreachable (op Convolution2DTransposeBias)', exit 1."""
    rc, _, _, out, data = converted
    assert rc == 0, data
    targets = {t["format"]: t for t in data["targets"]}
    assert set(targets) == {"onnx", "openvino", "opencv"}
    for name, t in targets.items():
        assert t["passed"] is True, (name, t)
        assert f"{TRANSPOSE_CONV_BIAS} x2 rewritten as builtin TRANSPOSE_CONV" in t["route"], t["route"]


def test_a_wrong_feed_of_the_converted_file_fails(converted, photos, capsys):
    """The parity check still bites after the rewrite: the plain ONNX conversion fed BGR where the source takes RGB."""
    _, src, contract, out, _ = converted
    from ferry.convert.exporters import tflite_to_onnx

    plain = out.parent / "plain.onnx"
    tflite_to_onnx(src, plain)
    swapped = out.parent / "bgr.json"
    swapped.write_text(json.dumps({**mediapipe_ops.CONTRACT, "color": "BGR"}))
    capsys.readouterr()
    assert main(["check", str(src), str(plain), "--images", *map(str, photos), "--preprocess", str(contract),
                 "--target-preprocess", str(swapped), "--runtimes", "onnxruntime"]) == 1
    assert main(["check", str(src), str(plain), "--images", *map(str, photos), "--preprocess", str(contract),
                 "--runtimes", "onnxruntime"]) == 0


def test_sparse_weights_are_stored_dense_with_litert_s_values():
    src = mediapipe_ops.mediapipe_files() / "sparse.tflite"
    assert _ops(src).count(DENSIFY) >= 1
    rewrite = with_builtin_equivalents(src)
    assert rewrite is not None and rewrite.replaced == {DENSIFY: _ops(src).count(DENSIFY)}
    assert DENSIFY not in _ops(rewrite.path)
    x = np.random.default_rng(4).random((1, 8, 8, 3), dtype=np.float32)
    ref = _litert(src, x)
    assert 0.05 < np.abs(ref).max()
    np.testing.assert_allclose(_litert(rewrite.path, x), ref, atol=1e-6)


def test_a_sparse_file_converts_and_passes_and_a_feed_without_std_fails(tmp_path, photos):
    """Red without the rewrite: onnx and opencv 'unreachable (op DENSIFY)' (tf2onnx reads the sparse buffer as
    dense), exit 1."""
    src = mediapipe_ops.mediapipe_files() / "sparse.tflite"
    contract = tmp_path / "contract.json"
    contract.write_text(json.dumps(mediapipe_ops.SPARSE_CONTRACT))
    out = tmp_path / "out"
    rc = main(["convert", str(src), "--to", "onnx,opencv", "--preprocess", str(contract), "-o", str(out),
               "--images", *map(str, photos), "--json"])
    data = json.loads((out / "ferry.json").read_text())
    assert rc == 0, data
    for t in data["targets"]:
        assert t["passed"] is True and "densified by LiteRT's own DENSIFY" in t["route"], t
    plain = tmp_path / "plain.onnx"  # no contract embedded: a feed without the std must fail against the source
    from ferry.convert.exporters import tflite_to_onnx

    tflite_to_onnx(src, plain)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**mediapipe_ops.SPARSE_CONTRACT, "std": [1.0, 1.0, 1.0]}))
    assert main(["check", str(src), str(plain), "--images", *map(str, photos), "--preprocess", str(contract),
                 "--runtimes", "onnxruntime"]) == 0
    assert main(["check", str(src), str(plain), "--images", *map(str, photos), "--preprocess", str(contract),
                 "--target-preprocess", str(wrong), "--runtimes", "onnxruntime"]) == 1
