"""`python -m podfleet` runs the CLI."""

import sys

from podfleet.cli import main

sys.exit(main())
