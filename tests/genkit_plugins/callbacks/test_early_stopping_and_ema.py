"""early_stopping and ema: what they compute, what they save, and that resuming is exact.

The EMA is checked against the average computed by hand from every step's weights; early
stopping against the rows of the run's own record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from genkit_core import Callback, Params, SpecError, TrainingRun
from genkit_core.cli import main
from genkit_core.files import read_tensors
from genkit_core.record import read_history
from genkit_core.testing import tiny_spec
from genkit_core.training import Trainer, TrainingInterrupted
from genkit_core.training.step import TrainStep

SPEC = tiny_spec(
    train={"epochs": 6, "batch_size": 32, "seed": 0, "device": "cpu", "progress": False,
           "lr": 0.01},
)  # fmt: skip
"""genkit's tiny VAE on 256 digits: 8 steps of 32 an epoch."""


def _spec(callbacks: list[dict[str, Any]], **train: Any) -> dict[str, Any]:
    return {**SPEC, "callbacks": callbacks, "train": {**SPEC["train"], **train}}


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return read_tensors(run / "model.safetensors")[0]


class _Watch(Callback):
    """Keeps the trainable weights after every step and at each save (test only)."""

    def __init__(self) -> None:
        super().__init__(None)  # type: ignore[arg-type]
        self.steps: list[list[torch.Tensor]] = []
        self.saved: list[dict[str, torch.Tensor]] = []

    def on_step_end(self, run: TrainingRun, step: int) -> None:
        self.steps.append([p.detach().clone() for p in run.model.parameters()])

    def on_save(self, run: TrainingRun) -> None:
        self.saved.append({k: v.clone() for k, v in run.model.state_dict().items()})


def test_the_saved_model_is_the_exponential_average_of_every_steps_weights(tmp_path: Path):
    decay = 0.9
    watch = _Watch()
    Trainer(_spec([{"type": "ema", "decay": decay}], epochs=2), tmp_path / "run", stream=None,
            callbacks=[watch]).fit()  # fmt: skip
    average = watch.steps[0]
    for weights in watch.steps[1:]:
        average = [decay * a + (1 - decay) * w for a, w in zip(average, weights, strict=True)]
    saved = _weights(tmp_path / "run")
    model_names = list(watch.saved[-1])
    params = [n for n in model_names if n in saved][: len(average)]
    got = [saved[n] for n in params]
    assert len(got) == len(average)
    for g, want in zip(got, average, strict=True):
        torch.testing.assert_close(g, want, rtol=1e-5, atol=1e-6)
    # the last step's raw weights differ from what was saved: training went on from them
    assert not all(torch.equal(g, w) for g, w in zip(got, watch.steps[-1], strict=True))


def test_early_stopping_stops_when_the_metric_stalls_and_keeps_the_best_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    run = tmp_path / "run"
    cb = {"type": "early_stopping", "patience": 1, "min_delta": 1e6}  # nothing beats epoch 1
    result = Trainer(_spec([cb]), run, stream=None).fit()
    history = read_history(run)
    assert history["epoch"] == [1.0, 2.0]  # stopped after one epoch without improvement
    report = json.loads((run / "early_stopping.json").read_text())
    assert report["best_epoch"] == 1 and report["stopped_epoch"] == 2
    assert report["weights_from_epoch"] == 1 and report["best"] == history["test_loss"][0]
    assert result.steps == 16
    # the saved weights are epoch 1's: the same as a run of one epoch
    Trainer(_spec([], epochs=1), tmp_path / "one", stream=None).fit()
    one, saved = _weights(tmp_path / "one"), _weights(run)
    assert all(torch.equal(saved[k], one[k]) for k in one)
    # a stopped run stays stopped, and counts as finished for compare
    assert main(["train", "--resume", str(run), "-q"]) == 0
    assert read_history(run)["epoch"] == [1.0, 2.0]
    capsys.readouterr()
    assert main(["compare", str(run), "--no-page", "--iw-samples", "5"]) == 0
    assert "skipping" not in capsys.readouterr().err


def test_a_metric_the_rows_lack_is_one_readable_error_before_the_first_step(tmp_path: Path):
    class CountSteps(Callback):
        steps = 0

        def on_step_end(self, run: TrainingRun, step: int) -> None:
            CountSteps.steps += 1

    cb = {"type": "early_stopping", "metric": "test_lost"}
    counter = CountSteps(Params())
    with pytest.raises(SpecError, match=r"no 'test_lost'; they have train_loss.*test_loss"):
        Trainer(_spec([cb]), tmp_path / "run", stream=None, callbacks=[counter]).fit()
    assert CountSteps.steps == 0


CALLBACKS = [
    {"type": "pictures"},
    {"type": "early_stopping", "patience": 1, "min_delta": 1.5},
    {"type": "ema", "decay": 0.95},
]


def test_ctrl_c_and_resume_with_early_stopping_and_ema_end_as_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    reference = tmp_path / "reference"
    Trainer(_spec(CALLBACKS, checkpoint_every=5), reference, stream=None).fit()
    stopped = json.loads((reference / "early_stopping.json").read_text())
    assert (stopped["stopped_epoch"], stopped["weights_from_epoch"]) == (5, 4)  # of 6 epochs
    run = tmp_path / "run"
    trainer = Trainer(_spec(CALLBACKS, checkpoint_every=5), run, stream=None)
    original = TrainStep.__call__

    def ctrl_c_at_step_19(self: TrainStep, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if int(self.step_t) == 19:
            trainer.signals.requested = True

    monkeypatch.setattr(TrainStep, "__call__", ctrl_c_at_step_19)
    with pytest.raises(TrainingInterrupted):
        trainer.fit()
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "-q"]) == 0
    got, want = _weights(run), _weights(reference)
    assert all(torch.equal(got[k], want[k]) for k in want), "weights differ"
    rows = [read_history(r) for r in (run, reference)]
    for r in rows:
        r.pop("seconds")
    assert rows[0] == rows[1]
    for name in ("early_stopping.json",):
        assert (run / name).read_text() == (reference / name).read_text()


@pytest.mark.parametrize(
    ("name", "params"),
    [
        pytest.param("ema", {"decay": 0.9}, id="ema"),
        pytest.param("early_stopping", {"patience": 1, "min_delta": 1.0}, id="early_stopping"),
        pytest.param("pictures", {}, id="pictures"),
    ],
)
def test_the_built_in_callbacks_keep_the_contract(name: str, params: dict[str, Any]) -> None:
    from genkit_core import get_registry
    from genkit_core.testing import check_component

    check_component(get_registry().get("callback", name).cls, params, name=name)


def test_the_contract_catches_a_callback_that_forgets_its_state() -> None:
    from genkit_core import PluginError
    from genkit_core.testing import check_component

    class Forgetful(Callback):
        """Counts steps, but saves nothing: a resumed run counts from 0 again."""

        def __init__(self, params: Any):
            super().__init__(params)
            self.steps = 0

        def on_step_end(self, run: TrainingRun, step: int) -> None:
            self.steps += 1

        def state_dict(self) -> dict[str, Any]:
            return {"steps": self.steps}

        def load_state_dict(self, state: dict[str, Any]) -> None:
            pass  # forgets

    with pytest.raises(PluginError, match=r"state_dict\(\) after a resumed run differs"):
        check_component(Forgetful)
