"""The conformance suite: semantic cases, dialect drivers, CLI and pytest plugin."""
