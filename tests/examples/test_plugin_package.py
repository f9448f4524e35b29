"""examples/plugin, built and installed for real into a fresh virtual environment.

The environment sees this one's packages (torch, genkit, setuptools) through a ``.pth`` file, so
nothing is downloaded: pip builds the plugin offline (``--no-index --no-build-isolation``) with
the setuptools of genkit's ``dev`` extra. Then genkit finds it through its entry point alone.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "plugin"


def _can_build_wheels() -> bool:
    """setuptools builds wheels by itself from 70.1; before that it needs the wheel package."""
    try:
        import setuptools
    except ImportError:
        return False
    try:
        import wheel  # noqa: F401
    except ImportError:
        return Version(setuptools.__version__) >= Version("70.1")
    return True


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A virtual environment with examples/plugin installed; returns (python, a working dir)."""
    if not _can_build_wheels():
        pytest.skip("building the plugin offline needs setuptools>=70.1 (genkit's dev extra)")
    work = tmp_path_factory.mktemp("plugin")
    env_dir = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    own_site = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=work
    )
    shared = [*site.getsitepackages(), *(p for p in sys.path if p.endswith("site-packages"))]
    dirs = list(dict.fromkeys([*shared, str(ROOT)]))
    (Path(own_site.stdout.strip()) / "_genkit_test_env.pth").write_text(
        f"import site; list(map(site.addsitedir, {dirs!r}))\n"
    )
    source = work / "genkit-student-t"
    shutil.copytree(
        PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         str(source), cwd=work)  # fmt: skip
    return python, work


def test_genkit_plugins_lists_the_installed_package(venv):
    python, work = venv
    lines = _run(python, "-m", "genkit_core", "plugins", cwd=work).stdout.splitlines()
    rows = {tuple(line.split()[:2]): line for line in lines}
    assert "genkit-student-t 0.1.0" in rows[("likelihood", "student_t")]
    assert "genkit-student-t 0.1.0" in rows[("encoder", "residual_mlp")]
    assert "genkit-lvm" in rows[("encoder", "mlp")]
    assert not [line for line in lines if line.startswith("problem")]


def test_the_example_spec_trains_with_the_installed_plugin(venv):
    python, work = venv
    spec = PLUGIN / "vae_student_t.yaml"
    _run(python, "-m", "genkit_core", "train", str(spec), "-o", "run", "-q",
         "--set", "train.epochs=1", "--set", "data.max_train=128", "--set", "data.max_test=64",
         "--set", "train.device=cpu", cwd=work)  # fmt: skip
    assert (work / "run" / "model.safetensors").is_file()
    assert "type: student_t" in (work / "run" / "spec.yaml").read_text()


def test_the_plugins_own_tests_find_genkits_fixtures(venv):
    python, work = venv
    chosen = "entry_point or hook or unknown"  # the fixtures and the entry point, not training
    result = _run(python, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", "-k", chosen,
                  cwd=work / "genkit-student-t")  # fmt: skip
    assert "3 passed" in result.stdout, result.stdout
