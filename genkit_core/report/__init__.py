"""Looking at a trained run: loss curves, samples, reconstructions, the latent map,
interpolations and traversals, as PNG figures and one self-contained HTML page.

``genkit report RUN_DIR`` writes the page; ``genkit plot RUN_DIR latent|curves|interpolate|
traverse`` writes one figure. See ``docs/report.md``.
"""

from __future__ import annotations

from .figures import PLOTS, Picture
from .view import RunView, open_run
from .writing import REPORT, write_plot, write_report

__all__ = ["PLOTS", "REPORT", "Picture", "RunView", "open_run", "write_plot", "write_report"]
