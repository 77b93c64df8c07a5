"""batchat-repl: the interactive client, on the library's client layer."""
