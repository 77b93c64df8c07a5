"""pytest plugin for the conformance suite (being written)."""
