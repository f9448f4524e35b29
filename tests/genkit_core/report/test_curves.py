from __future__ import annotations

from pathlib import Path

from genkit_core.record import read_history
from genkit_core.report.curves import plot_curves, terms
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


def test_an_older_runs_metrics_csv_keeps_every_column_and_blank_cells_as_none(tmp_path: Path):
    (tmp_path / "metrics.csv").write_text(CSV)
    metrics = read_history(tmp_path)
    assert metrics["train_loss"] == [30.0, 25.0]
    assert metrics["test_loss"] == [None, 26.0]
    assert terms(metrics) == ["loss", "divergence", "reconstruction"]


def test_plot_curves_draws_one_panel_per_term_with_train_and_test(tmp_path: Path):
    (tmp_path / "metrics.csv").write_text(CSV)
    fig = plot_curves(read_history(tmp_path))
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["loss", "divergence", "reconstruction"]
    train, test = axes[0].get_lines()
    assert list(train.get_ydata()) == [30.0, 25.0]
    assert list(test.get_xdata()) == [2.0] and list(test.get_ydata()) == [26.0]
    assert figure_png(fig).startswith(b"\x89PNG")
