"""Socket adapters that drive the sans-IO core, and the SQLite account store."""
