import sys

from dispatch_api.cli import main

sys.exit(main())
