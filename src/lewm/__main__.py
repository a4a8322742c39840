"""`python -m lewm` (also what torchrun launches): the CLI."""

import sys

from lewm.cli import main

sys.exit(main())
