"""`python -m bot` does what the `coreflect` command does."""

import sys

from bot.cli import main

sys.exit(main())
