"""`python -m nntui` is the `nntui` command."""

import sys

from nntui.cli import main

# guarded: the dashboard's trainer process is spawned, and a spawned child imports __main__
if __name__ == "__main__":
    sys.exit(main())
