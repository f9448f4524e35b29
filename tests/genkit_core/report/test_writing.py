"""``genkit report`` and ``genkit plot`` (write_report, write_plot) from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from genkit_core.cli import main

VERBS = {"latent": "latent.png", "curves": "curves.png",
         "interpolate": "interpolation.png", "traverse": "traversal.png"}  # fmt: skip


@pytest.mark.parametrize("verb", ["report", "plot"])
def test_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([verb, "--help"])
    assert exit_info.value.code == 0
    assert "usage: genkit " + verb in capsys.readouterr().out


@pytest.mark.parametrize("verb", list(VERBS))
def test_plot_writes_a_png_into_the_run_dir_by_default(trained_runs, verb, capsys):
    run = trained_runs["cvae"]
    assert main(["plot", str(run), verb, "--device", "cpu"]) == 0
    out = run / VERBS[verb]
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert Image.open(out).format == "PNG"


def test_plot_and_report_write_where_told(trained_runs, tmp_path: Path, capsys):
    assert main(["plot", str(trained_runs["ae"]), "latent", "-o", str(tmp_path / "l.png")]) == 0
    assert (tmp_path / "l.png").stat().st_size > 1000
    assert (
        main(
            ["report", str(trained_runs["ae"]), "-o", str(tmp_path / "r.html"), "--iw-samples", "0"]
        )
        == 0
    )
    assert "<section id='latent'>" in (tmp_path / "r.html").read_text()
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {tmp_path / 'r.html'}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["report", "{tmp}/nothing"], "not a genkit run (no such directory)", id="report"
        ),
        pytest.param(
            ["plot", "{tmp}", "curves"], "not a genkit run (no spec.yaml in it)", id="plot"
        ),
        pytest.param(["plot", "{weightless}", "latent"], "no model.safetensors", id="weights"),
        pytest.param(["plot", "{weightless}", "curves"], "no history.jsonl", id="metrics"),
    ],
)
def test_mistakes_are_one_line(trained_runs, tmp_path: Path, capsys, argv, message):
    weightless = tmp_path / "weightless"
    weightless.mkdir()
    (weightless / "spec.yaml").write_bytes((trained_runs["vae"] / "spec.yaml").read_bytes())
    argv = [a.format(tmp=tmp_path, weightless=weightless) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("genkit: error: ") and message in err
