"""Programs built on libbatchat: batchat-server (and later the REPL and bots)."""
