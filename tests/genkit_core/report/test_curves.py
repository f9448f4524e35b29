from __future__ import annotations

from pathlib import Path

import pytest

from genkit_core.errors import RunError
from genkit_core.report.curves import plot_curves, read_metrics, terms
from genkit_core.report.render import figure_png

CSV = (
    (
        "epoch,step,seconds,lr,train_loss,train_reconstruction,train_divergence,"
        "test_loss,test_reconstruction,test_divergence\n"
    )
    + """1,10,0.5,0.001,30.0,29.0,1.0,,,
2,20,0.5,0.001,25.0,23.5,1.5,26.0,24.0,2.0
"""
)


def test_read_metrics_keeps_every_column_and_blank_cells_as_none(tmp_path: Path):
    (tmp_path / "metrics.csv").write_text(CSV)
    metrics = read_metrics(tmp_path / "metrics.csv")
    assert metrics["train_loss"] == [30.0, 25.0]
    assert metrics["test_loss"] == [None, 26.0]
    assert terms(metrics) == ["loss", "divergence", "reconstruction"]


def test_plot_curves_draws_one_panel_per_term_with_train_and_test(tmp_path: Path):
    (tmp_path / "metrics.csv").write_text(CSV)
    fig = plot_curves(read_metrics(tmp_path / "metrics.csv"))
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["loss", "divergence", "reconstruction"]
    train, test = axes[0].get_lines()
    assert list(train.get_ydata()) == [30.0, 25.0]
    assert list(test.get_xdata()) == [2.0] and list(test.get_ydata()) == [26.0]
    assert figure_png(fig).startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(None, "no such file.*csv logger", id="missing"),
        pytest.param("epoch,step\n", "no rows yet", id="empty"),
    ],
)
def test_unreadable_metrics_are_run_errors(tmp_path: Path, text, match):
    if text is not None:
        (tmp_path / "metrics.csv").write_text(text)
    with pytest.raises(RunError, match=match):
        read_metrics(tmp_path / "metrics.csv")


def test_a_metrics_file_of_10_gb_is_refused_without_reading_it(tmp_path: Path) -> None:
    # found by attacking: genkit report read a sparse 10 GB metrics.csv until it was killed
    path = tmp_path / "metrics.csv"
    with path.open("wb") as f:
        f.truncate(10 << 30)
    with pytest.raises(RunError, match=r"metrics\.csv: 10\.0 GiB, larger than the 64\.0 MiB"):
        read_metrics(path)
