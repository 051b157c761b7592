"""`python -m spdmd.daemon` runs the daemon, like the `spdmd` command."""

import sys

from spdmd.daemon.main import main

sys.exit(main())
