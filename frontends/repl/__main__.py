"""``python -m frontends.repl``: the same as ``batchat-repl``."""

import sys

from .cli import main

sys.exit(main())
