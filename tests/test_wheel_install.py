"""genkit's wheel, built and installed into a fresh environment that cannot see this repository.

The environment reuses this one's third-party packages (torch, pip, ...) through a ``.pth``
file, so nothing is downloaded, but not genkit's own (its sources, metadata or editable
install): whatever genkit there is comes from the wheel. It then trains on the bundled digits.
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SPEC = """\
model: vae
latent_dim: 2
data: {type: digits, max_train: 128, max_test: 64}
encoder: {type: mlp, hidden: [32]}
decoder: {type: mlp, hidden: [32]}
likelihood: {type: bernoulli}
train: {epochs: 1, batch_size: 32, device: cpu, num_workers: 0}
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, run_python) -> Path:
    """``python -m build --wheel --no-isolation`` on a copy of what the wheel is made from."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("genkit_core", "genkit_plugins"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    run_python(Path(sys.executable), "-m", "build", "--wheel", "--no-isolation",
               "--outdir", str(work / "dist"), str(source), cwd=work)  # fmt: skip
    (built,) = (work / "dist").glob("genkit_lvm-*.whl")
    return built


def test_the_wheel_ships_both_packages_typed(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "genkit_core/py.typed" in names and "genkit_plugins/py.typed" in names
    assert "genkit_plugins/data/digits.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[genkit]\nbuiltins = genkit_plugins" in text
    assert not [n for n in names if n.startswith(("tests/", "docs/", "examples/"))]


def test_genkit_trains_from_the_installed_wheel_alone(wheel, tmp_path, fresh_venv, run_python):
    python = fresh_venv(tmp_path / "venv", with_genkit=False)
    work = tmp_path / "work"
    work.mkdir()
    find = "import importlib.util as u; s = u.find_spec('genkit_core'); print(s and s.origin)"
    assert run_python(python, "-c", find, cwd=work).stdout.strip() == "None"  # no repository
    run_python(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel),
               cwd=work)  # fmt: skip
    installed = Path(run_python(python, "-c", find, cwd=work).stdout.strip())
    assert installed.is_relative_to(tmp_path / "venv" / "lib")  # its own site-packages

    (work / "spec.yaml").write_text(SPEC)
    genkit = python.parent / "genkit"
    result = run_python(genkit, "train", "spec.yaml", "-o", "run", "-q", cwd=work)
    assert "trained vae in run" in result.stdout
    assert (work / "run" / "model.safetensors").is_file()
    assert len((work / "run" / "metrics.csv").read_text().splitlines()) == 2  # header + 1 epoch
    assert "plugin" not in result.stderr  # no plugin problem: the built-ins came from the wheel
