"""examples/plugin, built and installed for real into a fresh virtual environment.

The environment sees this one's packages (torch, genkit, setuptools) through a ``.pth`` file, so
nothing is downloaded: pip builds the plugin offline (``--no-index --no-build-isolation``) with
the setuptools of genkit's ``dev`` extra. Then genkit finds it through its entry point alone.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "plugin"


@pytest.fixture(scope="module")
def venv(
    tmp_path_factory: pytest.TempPathFactory, fresh_venv: Callable[..., Path], run_python
) -> tuple[Path, Path]:
    """A virtual environment with examples/plugin installed; returns (python, a working dir)."""
    work = tmp_path_factory.mktemp("plugin")
    python = fresh_venv(work / "venv", with_genkit=True)
    source = work / "genkit-student-t"
    shutil.copytree(
        PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    run_python(python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
               "--no-index", str(source), cwd=work)  # fmt: skip
    return python, work


def test_genkit_plugins_lists_the_installed_package(venv, run_python):
    python, work = venv
    lines = run_python(python, "-m", "genkit_core", "plugins", cwd=work).stdout.splitlines()
    rows = {tuple(line.split()[:2]): line for line in lines}
    assert "genkit-student-t 0.1.0" in rows[("likelihood", "student_t")]
    assert "genkit-student-t 0.1.0" in rows[("encoder", "residual_mlp")]
    assert "genkit-lvm" in rows[("encoder", "mlp")]
    assert not [line for line in lines if line.startswith("problem")]


def test_the_example_spec_trains_with_the_installed_plugin(venv, run_python):
    python, work = venv
    spec = PLUGIN / "vae_student_t.yaml"
    run_python(python, "-m", "genkit_core", "train", str(spec), "-o", "run", "-q",
               "--set", "train.epochs=1", "--set", "data.max_train=128",
               "--set", "data.max_test=64", "--set", "train.device=cpu", cwd=work)  # fmt: skip
    assert (work / "run" / "model.safetensors").is_file()
    assert "type: student_t" in (work / "run" / "spec.yaml").read_text()


def test_the_plugins_own_tests_find_genkits_fixtures(venv, run_python):
    python, work = venv
    chosen = "entry_point or hook or unknown"  # the fixtures and the entry point, not training
    result = run_python(python, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider",
                        "-k", chosen, cwd=work / "genkit-student-t")  # fmt: skip
    assert "3 passed" in result.stdout, result.stdout


def test_genkit_describe_shows_the_installed_components(venv, run_python):
    python, work = venv
    text = run_python(python, "-m", "genkit_core", "describe", "likelihood", "student_t",
                      cwd=work).stdout  # fmt: skip
    assert text.startswith("likelihood student_t  (genkit-student-t 0.1.0)\n")
    assert "likelihood: {type: student_t" in text
    assert "\n  df " in text  # its parameters, from its pydantic model


def test_the_site_built_there_documents_the_installed_components(venv, run_python):
    """``mkdocs build`` on a machine with the plugin: the generated reference lists its parts."""
    pytest.importorskip("mkdocs", reason="the documentation site needs genkit's docs extra")
    python, work = venv
    site = work / "site"
    run_python(python, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(ROOT / "mkdocs.yml"),
               "-d", str(site), cwd=ROOT)  # fmt: skip
    pages = site / "reference" / "components"
    overview = (pages / "index.html").read_text()
    assert "genkit-student-t 0.1.0" in overview
    likelihoods = (pages / "likelihood" / "index.html").read_text()
    encoders = (pages / "encoder" / "index.html").read_text()
    assert 'id="student_t"' in likelihoods and "likelihood: {type: student_t" in likelihoods
    assert 'id="residual_mlp"' in encoders and "provided by genkit-student-t 0.1.0" in encoders
    assert 'id="mlp"' in encoders  # the built-ins beside it
