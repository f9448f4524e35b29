"""``python -m genkit_core.sweep DIR``: one sweep worker, started by hand (``genkit sweep`` starts
its workers with ``python -c``, so that nothing in the working directory is imported: see
``runner.start_worker``).
"""

import sys

from .worker import main

sys.exit(main())
