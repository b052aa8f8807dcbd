"""BatchNorm evidence (ferry.doctor.batchnorm): the first layers' input statistics against their running ones.

The mechanism is checked on a seeded model whose BatchNorm statistics are accumulated the way training does
(train mode, cumulative average) under a known contract: the probe must name that contract, and name BGR when the
statistics were accumulated on BGR input (the injected bug). The real-weights check is EfficientNet-Lite0."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import cases  # noqa: E402

from ferry.doctor import LABEL_FREE_RESOLUTION, Runner  # noqa: E402
from ferry.doctor.batchnorm import _onnx_probe, _torch_probe, probe  # noqa: E402
from ferry.doctor.candidates import indistinguishable, normalisation_candidates  # noqa: E402
from ferry.images import load_image  # noqa: E402
from ferry.preprocess.contract import Preprocess  # noqa: E402
from ferry.runtimes import load  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "examples" / "images"
SIZE = [48, 64]


def _photos() -> list[np.ndarray]:
    return [load_image(p) for p in sorted(PHOTOS.glob("*.jpg"))[:8]]


def _tensor(contract: dict, images) -> np.ndarray:
    from ferry.preprocess.reference import preprocess_batch

    return preprocess_batch(images, Preprocess.from_dict({**contract, "size": SIZE, "layout": "NCHW"}))


def _trained_under(contract: dict, images):
    """The seeded classifier with every BatchNorm's running statistics accumulated on `contract`'s tensors."""
    import torch
    import torch_models

    net = torch_models.classifier()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average, what many training steps converge to
    net.train()
    with torch.no_grad():
        net(torch.from_numpy(_tensor(contract, images)))
    return net.eval()


def _ranking(p, images) -> list[tuple[float, Preprocess]]:
    base = Preprocess.from_dict({"size": SIZE, "layout": "NCHW"})
    scored = [(p.score([{"input": _tensor(c.preprocess.to_dict(), images)}]), c.preprocess)
              for c in normalisation_candidates(base)]
    return sorted(scored, key=lambda s: s[0])


@pytest.mark.parametrize("color", ["RGB", "BGR"])
def test_statistics_name_the_contract_they_were_accumulated_on(color):
    images = _photos()
    trained = {**cases.IMAGENET, "color": color}
    net = _trained_under(trained, images)
    p = _torch_probe(net, 3, {"input": _tensor(trained, images[:1])})
    assert p is not None and len(p.layers) == 3
    ranked = _ranking(p, images)
    want = Preprocess.from_dict({**trained, "size": SIZE, "layout": "NCHW"})
    assert ranked[0][1].same_function(want), ranked[0][1]
    # the other colour order with the same numbers in the same channels scores clearly worse
    other = next(s for s, pp in ranked if pp.same_function(want.replace(color="BGR" if color == "RGB" else "RGB")))
    assert other > 3 * ranked[0][0]


def test_module_hooks_and_preserved_onnx_export_agree():
    """Two independent readings of the same layers (torch hooks; torch.onnx with BatchNorm kept, in onnxruntime)
    give the same score, and torch.onnx's default (folded) export gives no evidence."""
    import onnx
    import torch

    images = _photos()
    net = _trained_under(cases.IMAGENET, images)
    feeds = {"input": _tensor(cases.CAFFE_BGR, images)}
    hooks = _torch_probe(net, 3, feeds)
    for training, kept in ((torch.onnx.TrainingMode.PRESERVE, True), (torch.onnx.TrainingMode.EVAL, False)):
        buf = io.BytesIO()
        torch.onnx.export(net, torch.from_numpy(feeds["input"][:1]), buf, dynamo=False, opset_version=17,
                          training=training, do_constant_folding=not kept, input_names=["input"],
                          dynamic_axes={"input": {0: "N"}})
        from_onnx = _onnx_probe(onnx.load_from_string(buf.getvalue()), 3)
        if not kept:
            assert from_onnx is None
            continue
        a, b = hooks.score([feeds]), from_onnx.score([feeds])
        assert np.isfinite(a) and a > 0
        assert abs(a - b) <= 1e-4 * a, (a, b)


def test_keras_probe_reads_the_layer_input(tmp_path):
    import tf_models

    tf, keras = tf_models._tf()
    model = tf_models.build_cnn(keras)
    path = tmp_path / "cnn.keras"
    model.save(path)
    m = load(path)
    x = tf_models.images(1, 4)
    p = probe(m, {"image": x})
    assert p is not None and [lay.name for lay in p.layers] == ["bn"]
    got = p.score([{"image": x}])
    conv = np.asarray(model.get_layer("conv")(x)).reshape(-1, 8).astype(np.float64)
    bn = model.get_layer("bn")
    mr, vr = np.asarray(bn.moving_mean, np.float64), np.asarray(bn.moving_variance, np.float64) + 1e-5
    mb, vb = conv.mean(0), conv.var(0) + 1e-5
    want = np.mean(0.5 * ((mb - mr) ** 2 / vr + vb / vr - 1 - np.log(vb / vr)))
    assert abs(got - want) <= 1e-4 * want


def test_folded_onnx_has_no_batchnorm_evidence(classifier_onnx):
    m = load(classifier_onnx)
    assert probe(m, {"input": np.zeros((1, 3, *SIZE), np.float32)}) is None


@pytest.mark.slow
def test_effnet_batchnorm_names_the_true_contract_and_follows_a_swapped_stem():
    """Real weights: EfficientNet-Lite0's first three BatchNorms name (x-127)/128 in RGB, at least 1.5x closer than
    any other answer (measured 2.0x); with the stem's colour filters reversed (a model that wants BGR) they name BGR."""
    import torch

    sys.path.insert(0, str(ROOT / "examples"))
    from efficientnet_lite0 import efficientnet_lite0

    images = [load_image(PHOTOS / n) for n in ("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg")]
    true = Preprocess.from_dict(cases.EFFNET_TRUE)
    for color in ("RGB", "BGR"):
        net = efficientnet_lite0()
        if color == "BGR":
            with torch.no_grad():
                net._conv_stem.weight.copy_(net._conv_stem.weight.flip(1))
        runner = Runner(None, images)  # only its tensors are used
        want = true.replace(color=color)
        feeds = {"input": runner.tensor(want)[:1]}
        p = _torch_probe(net, 3, feeds)
        scored = sorted(((p.score([{"input": runner.tensor(c.preprocess)}]), c.preprocess)
                         for c in normalisation_candidates(true)), key=lambda s: s[0])
        assert indistinguishable(scored[0][1], want, LABEL_FREE_RESOLUTION), (color, scored[0][1])
        rest = [s for s, pp in scored if not indistinguishable(pp, want, LABEL_FREE_RESOLUTION)]
        assert min(rest) >= 1.5 * scored[0][0], (color, min(rest), scored[0][0])


def test_label_free_doctor_uses_the_evidence_and_survives_a_probe_that_fails(monkeypatch):
    """The seeded torch module (BatchNorm accumulated on ImageNet RGB) through diagnose(): the evidence is shown per
    candidate and decides; a probe that raises drops it for every candidate, with a note, instead of failing."""
    import torch_models

    from ferry.doctor import batchnorm, diagnose

    images = _photos()
    net = _trained_under(cases.IMAGENET, images)
    monkeypatch.setattr(torch_models, "calibrated", lambda: net, raising=False)
    spec = "torch_models:calibrated"  # the imported module, so the patched factory is found
    wrong = {**cases.CAFFE_BGR, "size": SIZE, "layout": "NCHW"}
    runner = Runner(load(spec), images)
    d = diagnose(spec, [], preprocess=wrong, runner=runner)
    assert all("batchnorm" in c.evidence for c in d.candidates)
    assert indistinguishable(d.best, Preprocess.from_dict({**cases.IMAGENET, "size": SIZE, "layout": "NCHW"}),
                             LABEL_FREE_RESOLUTION)

    def broken(self, feeds):
        raise RuntimeError("injected")

    monkeypatch.setattr(batchnorm.Probe, "score", broken)
    d = diagnose(spec, [], preprocess=wrong, runner=Runner(load(spec), images))
    assert not any("batchnorm" in c.evidence for c in d.candidates)
    assert any("BatchNorm evidence not used: RuntimeError: injected" in n for n in d.notes)


def test_reference_without_a_contract_is_diagnosed_on_its_own_batchnorm(monkeypatch, tmp_path):
    """A torch source with no contract as --reference: its contract is found label-free from its BatchNorm (which
    the exported ONNX has folded away), then the ONNX is diagnosed against it with parity."""
    import torch
    import torch_models

    from ferry.doctor import diagnose

    images = _photos()
    net = _trained_under(cases.IMAGENET, images)
    monkeypatch.setattr(torch_models, "calibrated", lambda: net, raising=False)
    exported = tmp_path / "calibrated.onnx"
    torch.onnx.export(net, torch.randn(1, 3, *SIZE), exported, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "N"}})
    files = sorted(PHOTOS.glob("*.jpg"))[:8]
    wrong = {**cases.CAFFE_BGR, "size": SIZE, "layout": "NCHW"}
    d = diagnose(exported, files, reference="torch_models:calibrated", preprocess=wrong)
    assert d.mode == "reference" and d.confident and d.candidates[0].evidence["parity"]
    assert d.best.same_function(Preprocess.from_dict({**cases.IMAGENET, "size": SIZE, "layout": "NCHW"}))
    assert any("carries no preprocessing contract: diagnosed without labels" in n for n in d.notes)
