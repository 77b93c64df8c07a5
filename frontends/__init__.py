"""The programs built on libbatchat: batchat-server, batchat-repl, batchat-bot.

In the source tree this is ``frontends/``; installed, the package is named
``batchat_frontends`` so it cannot clash with another project's
``frontends``. Imports inside it are relative, so both names work.
"""
