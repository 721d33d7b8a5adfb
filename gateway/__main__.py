"""`python -m gateway` runs the `imaging-gateway` command."""

import sys

from gateway.cli import main

sys.exit(main())
