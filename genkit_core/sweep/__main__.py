"""``python -m genkit_core.sweep DIR``: one sweep worker (``genkit sweep`` starts these)."""

import sys

from .worker import main

sys.exit(main())
