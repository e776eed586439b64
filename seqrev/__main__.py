"""Entry point for ``python -m seqrev``."""

import sys

from seqrev.cli import main

sys.exit(main())
