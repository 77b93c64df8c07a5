"""``python -m frontends.repl``: the same as ``batchat-repl``."""

import sys

from . import main

sys.exit(main())
