"""``python -m dispatch_api``: see :mod:`dispatch_api.cli`."""

import sys

from dispatch_api.cli import main

if __name__ == "__main__":  # not when a spawned solver worker imports it
    sys.exit(main())
