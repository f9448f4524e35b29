"""The digits source reads scikit-learn's file without importing scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from sklearn.datasets import load_digits

from genkit_plugins.data.digits import Digits, DigitsParams, _digits


def test_the_file_read_directly_is_what_load_digits_returns():
    images, labels = _digits()
    want_images, want_labels = load_digits(return_X_y=True)
    np.testing.assert_array_equal(images, want_images)
    np.testing.assert_array_equal(labels, want_labels)


def test_loading_the_digits_does_not_import_scikit_learn():
    code = (
        "import sys\n"
        "from genkit_plugins.data.digits import Digits, DigitsParams\n"
        "bundle = Digits(DigitsParams()).load()\n"
        "print(len(bundle.train), len(bundle.test), 'sklearn' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1438", "359", "False"]


def test_the_split_is_the_seeded_shuffle_of_every_image():
    bundle = Digits(DigitsParams(split_seed=3)).load()
    images, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(3).permutation(len(images))
    test = order[: round(len(images) * 0.2)]
    np.testing.assert_allclose(bundle.test.x.flatten(1).numpy(), images[test] / 16, rtol=1e-6)
    np.testing.assert_array_equal(bundle.test.y.numpy(), labels[test])
