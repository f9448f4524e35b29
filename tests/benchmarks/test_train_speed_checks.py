"""The equal-work checks of benchmarks/train_speed.py fail when the work or the loss differs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import train_speed  # a script beside the others, not a package


def test_losses_within_seed_noise_are_the_same():
    plain, genkit = [20.10, 20.21, 20.15], [20.12, 20.25, 20.08]
    assert train_speed.same_loss(genkit, plain) > train_speed.SAME_LOSS_P


def test_the_losses_of_unequal_epochs_differ():
    """The issue's CPU figures: genkit after 2 epochs, the plain loop after 10."""
    genkit, plain = [20.56, 20.60, 20.52], [19.39, 19.35, 19.42]
    assert train_speed.same_loss(genkit, plain) < train_speed.SAME_LOSS_P


def test_one_seed_is_no_evidence_either_way():
    assert train_speed.same_loss([20.5], [19.4]) == 1.0


def test_unequal_steps_fail_loudly():
    results = {
        "plain": train_speed.Result("plain", steps=[1407, 1407]),
        "genkit": train_speed.Result("genkit", steps=[1407, 1404]),
    }
    with pytest.raises(train_speed.UnequalWork, match=r"UNEQUAL: optimiser steps per seed differ"):
        train_speed.check_equal_work(results, {})


def test_unequal_layers_fail_loudly():
    shapes = {"plain": [(16, 512)], "genkit": [(16, 256)]}
    with pytest.raises(train_speed.UnequalWork, match=r"the layers \(fan_in, fan_out\) differ"):
        train_speed.check_equal_work({}, shapes)


def test_the_default_initialisation_passes_and_another_fails():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 32))
    assert train_speed.check_default_init(model, "m") == [(512, 32), (784, 512)]
    nn.init.xavier_uniform_(model[0].weight)
    with pytest.raises(train_speed.UnequalWork, match=r"m: a \(512, 784\) layer is not initial"):
        train_speed.check_default_init(model, "m")
