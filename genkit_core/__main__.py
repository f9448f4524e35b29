"""``python -m genkit_core``: the ``genkit`` command (``torchrun -m genkit_core`` runs it too)."""

import sys

from .cli import main

sys.exit(main())
