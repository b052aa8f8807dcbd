"""BatchNorm evidence with dead units: a channel whose running variance is ~0 (a ReLU unit that never fired in
training) must not decide the range. cifar-10-model 7.4.0's Keras CNN (trained on 0..255) has four such channels in
its first BatchNorm; photos unlike CIFAR woke them a little under 0..255, their KL reached 1e3-1e4, and the mean
put 0..1 closer. Here the same shape of statistics, seeded."""

from __future__ import annotations

import numpy as np

from ferry.doctor.batchnorm import DEAD_SHARE, Layer


def _layer(rng):
    mean = rng.uniform(1, 12, 32)
    var = rng.uniform(5, 150, 32)
    var[:4], mean[:4] = [1.8e-11, 5e-9, 4.7e-8, 9e-8], 0.0  # dead in training
    return Layer("bn", mean, var, axis=-1)


def _batch(layer, rng, gain: float, woken: float) -> np.ndarray:
    """Activations whose statistics are the running ones times `gain`, the dead units woken to variance `woken`
    (on cifar-10-model's CNN under 0..255 they had 1e-3..1e-2, against a layer median of 35)."""
    x = rng.normal(layer.running_mean, np.sqrt(layer.running_var), (4096, 32))
    x[:, :4] = rng.normal(0, np.sqrt(woken), (4096, 4))
    return x * gain


def test_dead_units_do_not_make_the_smaller_input_win():
    rng = np.random.default_rng(11)
    layer = _layer(rng)
    scores = {}
    for name, gain in (("true", 1.0), ("/255", 1 / 255), ("x2", 2.0)):
        layer.reset()
        layer.add(_batch(layer, rng, gain, woken=0.01))
        scores[name] = layer.divergence()
    assert scores["true"] < scores["/255"] / 3 and scores["true"] < scores["x2"]


def test_without_the_floor_the_dead_units_decide():
    """The trap the floor removes, measured with DEAD_SHARE set to 0 (the old mean over channels)."""
    import ferry.doctor.batchnorm as bn

    rng = np.random.default_rng(11)
    layer = _layer(rng)
    old, bn.DEAD_SHARE = bn.DEAD_SHARE, 0.0
    try:
        layer.add(_batch(layer, rng, 1.0, woken=0.01))
        true = layer.divergence()
        layer.reset()
        layer.add(_batch(layer, rng, 1 / 255, woken=0.01))
        small = layer.divergence()
    finally:
        bn.DEAD_SHARE = old
    assert true > small  # the smaller input won
    assert DEAD_SHARE == old > 0
