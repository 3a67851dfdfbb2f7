"""``python -m ohf_persistence.cli``."""

import sys

from . import main

sys.exit(main())
