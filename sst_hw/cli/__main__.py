"""``python -m sst_hw.cli``: the same as the ``sst-hw`` command."""

import sys

from sst_hw.cli import main

sys.exit(main())
