"""The active-units callback keeps genkit's callback contract and writes one count per epoch."""

from __future__ import annotations

import json

import genkit_student_t

from genkit_core.testing import check_component
from genkit_core.training import Trainer


def test_the_callback_keeps_the_contract_through_ctrl_c_and_resume():
    check_component(genkit_student_t.ActiveUnitsLog)


def test_each_epoch_adds_its_count(genkit_registry, genkit_tiny_spec, tmp_path):
    genkit_registry.register_plugin(genkit_student_t, name="student_t")
    spec = genkit_tiny_spec(callbacks=[{"type": "active_units_log"}])
    spec["train"] = {**spec["train"], "epochs": 2}
    Trainer(spec, tmp_path / "run", registry=genkit_registry, stream=None).fit()
    rows = [json.loads(line) for line in (tmp_path / "run" / "active_units.jsonl").open()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert all(0 <= row["active"] <= spec["latent_dim"] for row in rows)
