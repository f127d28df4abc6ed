"""``python -m evaluation``: the evaluation command line."""

import sys

from evaluation.cli import main

sys.exit(main())
