"""The cases, one module per part of docs/protocol.md. Importing a module
registers its cases; ``_engine.all_cases`` imports them all."""
