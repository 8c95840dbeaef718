"""`python -m nntui` is the `nntui` command."""

import sys

from nntui.cli import main

sys.exit(main())
