"""A seeded grayscale Keras CNN saved as legacy HDF5 (`gray.hdf5`), the kind of file issue 15 names: 1-channel
NHWC 40x56 input -> conv, batch norm with randomised moving statistics, relu, max pool, conv, global average,
dense 6 logits. Built once per version of this file and of TensorFlow/Keras, in the tests' cache."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import tf_models

SEED = 4321
HEIGHT, WIDTH = 40, 56
# A model trained on 0 = white pixels (inverted scans), normalised with a mean and std of its own.
CONTRACT = {"color": "GRAY", "gray_zero_is": "white", "scale": 1 / 255, "mean": [0.2], "std": [0.3],
            "layout": "NHWC"}


def _build(keras):
    keras.utils.set_random_seed(SEED)
    inp = keras.Input(shape=(HEIGHT, WIDTH, 1), name="page")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inp)
    bn = keras.layers.BatchNormalization(name="bn")
    x = keras.layers.ReLU(name="relu")(bn(x))
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(12, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, keras.layers.Dense(6, name="logits")(x), name="gray_cnn")
    rng = np.random.default_rng(SEED)
    bn.set_weights([rng.uniform(0.5, 1.5, 8).astype(np.float32), rng.normal(0.0, 0.2, 8).astype(np.float32),
                    rng.normal(0.0, 0.5, 8).astype(np.float32), rng.uniform(0.5, 2.0, 8).astype(np.float32)])
    return model


def gray_hdf5() -> Path:
    """The cached `gray.hdf5`."""
    key = hashlib.sha256(Path(__file__).read_bytes())
    key.update(tf_models._key().encode())
    final = tf_models.cache_root() / f"gray-keras-{key.hexdigest()[:16]}"
    if not (final / "gray.hdf5").is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".gray-keras.", dir=final.parent))
        try:
            _, keras = tf_models._tf()
            with warnings.catch_warnings():  # the legacy-HDF5 warning
                warnings.simplefilter("ignore")
                _build(keras).save(tmp / "gray.hdf5")
            tmp.chmod(0o755)
            try:
                os.replace(tmp, final)
            except OSError:  # another worker got there first
                if not (final / "gray.hdf5").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final / "gray.hdf5"
