"""``python -m glossator``: the same as the ``glossator`` command."""

from __future__ import annotations

import sys

from glossator.cli import main

sys.exit(main())
