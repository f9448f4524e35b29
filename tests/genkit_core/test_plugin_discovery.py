"""Broken plugins found through real entry points: each is one line naming it, the rest work.

Every plugin here is a throwaway distribution (``NAME-VERSION.dist-info`` with ``METADATA`` and
``entry_points.txt``, plus its module) in a temporary directory put on ``PYTHONPATH`` of a
``python -m genkit_core`` subprocess, which finds it exactly as it finds an installed package.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

_HEAD = (
    "from genkit_core import Component, Likelihood, hookimpl\n"
    "from genkit_plugins.networks.mlp import MLPEncoder\n"
)


def _hook(*components: str) -> str:
    return f"@hookimpl\ndef genkit_components():\n    return [{', '.join(components)}]\n"


# distribution, version, entry point name, module, module source, Requires-Dist
PLUGINS = [
    ("good-plugin", "0.1", "good", "good_plugin",
     "class Wide(MLPEncoder):\n    '''A wide MLP.'''\n" + _hook("Component('wide', Wide)"),
     "genkit-lvm>=0.1,<0.2"),
    ("broken-import", "0.2", "broken_import", "broken_import",
     "import missing_dependency_xyz\n", "genkit-lvm"),
    ("half-done", "0.1", "half_done", "half_done",
     "class HalfDone(Likelihood):\n    '''Forgot log_prob and sample.'''\n"
     "    def mean(self, params):\n        return params[:, 0]\n"
     + _hook("Component('half', HalfDone)"),
     "genkit-lvm"),
    ("dict-params", "0.1", "dict_params", "dict_params",
     "class DictParams(MLPEncoder):\n    '''Params as a dict.'''\n    Params = dict\n"
     + _hook("Component('dicty', DictParams)"), "genkit-lvm"),
    ("wide-clone", "0.3", "wide_clone", "wide_clone",
     "class Wider(MLPEncoder):\n    '''Another wide MLP.'''\n" + _hook("Component('wide', Wider)"),
     "genkit-lvm"),
    ("future-plugin", "2.0", "future", "future_plugin", _hook(), "genkit-lvm>=0.3"),
]  # fmt: skip

EXPECTED_PROBLEMS = [
    "plugin 'broken_import' (broken-import 0.2): failed to import 'broken_import': "
    "ModuleNotFoundError: No module named 'missing_dependency_xyz'",
    "plugin 'half_done' (half-done 0.1): component 'half' (HalfDone) does not implement the "
    "likelihood methods: log_prob, sample",
    "plugin 'dict_params' (dict-params 0.1): component 'dicty' (DictParams): Params must be a "
    "pydantic BaseModel subclass, got <class 'dict'>",
    "plugin 'wide_clone' (wide-clone 0.3): encoder 'wide' is registered by both plugin 'good' "
    "(good-plugin 0.1) and plugin 'wide_clone' (wide-clone 0.3); the second was ignored.",
    "plugin 'future' (future-plugin 2.0): requires genkit-lvm>=0.3 but 0.1.0 is installed; "
    "it was not loaded.",
]


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding every throwaway plugin distribution."""
    site = tmp_path_factory.mktemp("site")
    for dist, version, ep, module, source, requires in PLUGINS:
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\nRequires-Dist: {requires}\n"
        )
        (info / "entry_points.txt").write_text(f"[genkit]\n{ep} = {module}\n")
        (site / f"{module}.py").write_text(_HEAD + source)
    return site


def _genkit(plugin_path: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "genkit_core", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _spec(tmp_path: Path, encoder: str, likelihood: str = "bernoulli") -> Path:
    spec = {
        "model": "vae",
        "latent_dim": 2,
        "data": {"type": "digits", "max_train": 64, "max_test": 32},
        "encoder": {"type": encoder, "hidden": [16]},
        "decoder": {"type": "mlp", "hidden": [16]},
        "likelihood": {"type": likelihood},
        "train": {"epochs": 1, "batch_size": 32, "device": "cpu", "progress": False},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_plugins_lists_the_working_plugins_and_one_line_per_problem(plugin_path, tmp_path):
    result = _genkit(plugin_path, tmp_path, "plugins")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    (wide,) = [line for line in lines if line.split()[:2] == ["encoder", "wide"]]
    assert "good-plugin 0.1" in wide
    assert any(line.split()[:2] == ["likelihood", "bernoulli"] for line in lines)
    problems = [line.removeprefix("problem: ") for line in lines if line.startswith("problem: ")]
    assert len(problems) == len(EXPECTED_PROBLEMS)
    for expected in EXPECTED_PROBLEMS:
        assert any(p.startswith(expected) for p in problems), (expected, problems)


def test_train_with_a_working_plugin_warns_about_the_others_and_trains(plugin_path, tmp_path):
    result = _genkit(plugin_path, tmp_path, "train", str(_spec(tmp_path, "wide")), "-q")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("genkit: warning")]
    plugins = [line for line in warnings if line.startswith("genkit: warning: plugin '")]
    assert len(plugins) == len(EXPECTED_PROBLEMS)  # (one epoch also leaves no unit active)
    assert "Traceback" not in result.stderr
    assert (tmp_path / "runs" / "spec" / "model.safetensors").is_file()


def test_train_with_unknown_components_is_one_line_and_exit_1(plugin_path, tmp_path):
    result = _genkit(plugin_path, tmp_path, "train", str(_spec(tmp_path, "wdie", "half")))
    assert result.returncode == 1
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("genkit: error")]
    assert "encoder: unknown encoder 'wdie'; did you mean 'wide'? known: conv, mlp, wide" in error
    assert re.search(
        r"likelihood: unknown likelihood 'half'; known: bernoulli, [a-z0-9_, ]*mse[a-z0-9_, ]*; "
        r"likelihood 'half' was refused: plugin 'half_done' \(half-done 0.1\): component 'half' "
        r"\(HalfDone\) does not implement the likelihood methods: log_prob, sample",
        error,
    )
    assert "Traceback" not in result.stderr
