"""``python -m rnnkit.cli`` (used by torchrun, which needs a module or script)."""

import sys

from rnnkit.cli import main

sys.exit(main())
