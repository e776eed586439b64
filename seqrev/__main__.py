"""Entry point for ``python -m seqrev``."""

import sys

from seqrev.cli.main import main

sys.exit(main())
