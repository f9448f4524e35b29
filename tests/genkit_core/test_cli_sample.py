"""genkit sample and reconstruct: the layout, default file names and the size of a grid."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genkit_core.cli import main


@pytest.fixture
def runs(trained_runs, tmp_path: Path) -> dict[str, Path]:
    """Copies of the session's tiny runs, so files written into them stay in this test."""
    return {k: Path(shutil.copytree(v, tmp_path / k)) for k, v in trained_runs.items()}


def _size(png: Path) -> tuple[int, int]:
    with Image.open(png) as image:
        return image.size


def test_a_cvae_without_a_label_draws_one_row_per_class(runs, capsys):
    assert main(["sample", str(runs["cvae"])]) == 0
    assert capsys.readouterr().out == f"wrote {runs['cvae'] / 'sample.png'} (one row per class)\n"
    # 8x8 digits are drawn at 32x32 with 2 pixels of padding: 8 columns, 10 rows
    assert _size(runs["cvae"] / "sample.png") == (8 * 34 + 2, 10 * 34 + 2)
    assert main(["sample", str(runs["cvae"]), "-n", "3"]) == 0  # 3 of each class
    assert _size(runs["cvae"] / "sample.png") == (3 * 34 + 2, 10 * 34 + 2)


def test_default_file_names_say_what_they_hold(runs, capsys):
    assert main(["sample", str(runs["vae"]), "-n", "8"]) == 0
    assert main(["sample", str(runs["cvae"]), "--label", "3", "-n", "8"]) == 0
    assert main(["reconstruct", str(runs["vae"]), "-n", "4"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {runs['vae'] / 'sample.png'}",
        f"wrote {runs['cvae'] / 'sample_label3.png'}",
        f"wrote {runs['vae'] / 'reconstruct.png'} (each input followed by its reconstruction)",
    ]


@pytest.mark.parametrize(
    ("kind", "argv", "message"),
    [
        pytest.param(
            "vae", ["-n", "100000"],
            "-n 100000: 100000 images are more than the 1024 one grid can show", id="vae",
        ),
        pytest.param(
            "cvae", ["-n", "200"],
            "-n 200 of each of 10 classes: 2000 images are more than the 1024", id="per-class",
        ),
    ],
)  # fmt: skip
def test_an_absurd_grid_is_refused(runs, capsys, kind, argv, message):
    # the original report: -n 100000 wrote a 274 x 425,002 pixel PNG
    assert main(["sample", str(runs[kind]), *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and "load_run(RUN).sample(n)" in err
    assert not (runs[kind] / "sample.png").exists()


def test_reconstruct_refuses_an_absurd_grid_too(runs, capsys):
    assert main(["reconstruct", str(runs["vae"]), "-n", "5000"]) == 1
    assert "-n 5000: 5000 images are more than the 1024" in capsys.readouterr().err


def test_a_label_for_an_ae_or_vae_is_explained_in_english(runs, capsys):
    assert main(["sample", str(runs["vae"]), "--label", "1"]) == 1
    assert "--label needs a cvae trained on class labels; " in capsys.readouterr().err


def test_a_cvae_on_condition_vectors_is_told_where_conditions_come_from(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 16), dtype=np.float32), rng.random((40, 2), dtype=np.float32)
    np.savez(tmp_path / "v.npz", x_train=x[:32], y_train=y[:32], x_test=x[32:], y_test=y[32:])
    spec = tmp_path / "v.yaml"
    spec.write_text(
        f"model: cvae\nlatent_dim: 2\ndata: {{type: tensor_file, path: {tmp_path / 'v.npz'}}}\n"
        "encoder: {type: mlp, hidden: [8]}\ndecoder: {type: mlp, hidden: [8]}\n"
        "train: {epochs: 1, batch_size: 16, device: cpu, progress: false}\n"
    )
    assert main(["train", str(spec), "-o", str(tmp_path / "run"), "-q"]) == 0
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "run")]) == 1
    assert "is a cvae conditioned on vectors, so genkit sample has no condition" in (
        capsys.readouterr().err
    )
