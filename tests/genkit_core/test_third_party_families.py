"""A model family from a third-party package: a new objective and a new posterior, installed
through a real entry point, trained by the ordinary command without any change to genkit_core.

The package is a throwaway distribution (``dist-info`` with ``entry_points.txt``) on the
``PYTHONPATH`` of a ``python -m genkit_core`` subprocess, which finds it exactly as it finds
an installed one. Its code is the worked example of docs/plugins.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

PACKAGE = '''
"""Renyi-divergence bounds and a full-covariance Gaussian posterior for genkit."""

from typing import Annotated

import torch
from pydantic import Field
from torch import nn
from torch.distributions import MultivariateNormal

from genkit_core import (
    Component, Draw, Objective, ObjectiveOutput, ObjectiveParams, Params, Posterior, hookimpl,
)
from genkit_core.bounds import importance_terms


class RenyiParams(ObjectiveParams):
    alpha: Annotated[float, Field(ge=0, lt=1, description="0: IWAE; towards 1: the ELBO")] = 0.5


class RenyiBound(Objective):
    r"""The variational Renyi bound (Li and Turner, 2016):
    :math:`\\frac{1}{1-\\alpha} \\log \\frac1K \\sum_k w_k^{1-\\alpha}`."""

    Params = RenyiParams

    def term_names(self, model):
        return ("reconstruction", "divergence")

    def forward(self, model, x, y, noise, step):
        w = importance_terms(model, x, y, noise.transpose(0, 1))
        a = self.params.alpha
        k = torch.tensor(float(w.log_w.shape[0]))
        bound = (torch.logsumexp((1 - a) * w.log_w, 0) - k.log()) / (1 - a)
        terms = {"reconstruction": -w.log_px.mean(0), "divergence": (w.log_q - w.log_pz).mean(0)}
        return ObjectiveOutput({"model": -bound.mean()}, terms)


class FullCovariance(Posterior):
    """q(z|x) = N(mu(h), L(h) L(h)^T): a Cholesky factor with a positive diagonal."""

    Params = Params

    def __init__(self, params, in_shape, latent_dim):
        super().__init__(params, in_shape, latent_dim)
        self.head = nn.Linear(self.in_features, latent_dim + latent_dim * latent_dim)

    def forward(self, features):
        L = self.latent_dim
        out = self.head(features.flatten(1))
        mu, raw = out[:, :L], out[:, L:].view(-1, L, L)
        tril = raw.tril(-1) + torch.diag_embed(nn.functional.softplus(raw.diagonal(0, -2, -1)))
        return MultivariateNormal(mu, scale_tril=tril, validate_args=False)

    def sample(self, q, noise):
        z = q.loc + (q.scale_tril @ noise.unsqueeze(-1)).squeeze(-1)
        return Draw(z, q.log_prob(z))

    def code(self, q):
        return q.loc


@hookimpl
def genkit_components():
    return [Component("renyi", RenyiBound), Component("full_covariance", FullCovariance)]
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    info = site / "genkit_renyi-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: genkit-renyi\nVersion: 0.1\nRequires-Dist: genkit-lvm\n"
    )
    (info / "entry_points.txt").write_text("[genkit]\nrenyi = genkit_renyi\n")
    (site / "genkit_renyi.py").write_text(PACKAGE)
    return site


def _genkit(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "genkit_core", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_package_adds_an_objective_and_a_posterior(site: Path, tmp_path: Path):
    listed = json.loads(_genkit(site, "plugins", "--json", cwd=tmp_path).stdout)["components"]
    rows = {(c["kind"], c["name"]): c["package"] for c in listed}
    assert rows[("objective", "renyi")] == "genkit-renyi 0.1"
    assert rows[("posterior", "full_covariance")] == "genkit-renyi 0.1"


def test_a_spec_trains_and_evaluates_with_them(site: Path, tmp_path: Path):
    spec = {
        "model": "vae", "latent_dim": 3,
        "data": {"type": "digits", "max_train": 128, "max_test": 64},
        "encoder": {"type": "mlp", "hidden": [32]}, "decoder": {"type": "mlp", "hidden": [32]},
        "likelihood": {"type": "bernoulli"},
        "posterior": {"type": "full_covariance"},
        "objective": {"type": "renyi", "alpha": 0.5, "samples": 4},
        "train": {"epochs": 2, "batch_size": 32, "device": "cpu", "progress": False},
    }  # fmt: skip
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    trained = _genkit(site, "train", "spec.yaml", "-o", "run", "-q", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    saved = yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text())
    assert saved["objective"] == {"samples": 4, "alpha": 0.5, "type": "renyi"}
    assert saved["divergence"]["estimator"] == "monte_carlo"  # no closed form for this pair
    evaluated = _genkit(site, "eval", "run", "--json", "--iw-samples", "20", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert 0 < report["iw_nll"] <= report["negative_elbo"] + 0.5
