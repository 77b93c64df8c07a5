"""Benchmarks: batchat-server against ngircd and miniircd, same run, same load.

``python -m benchmarks`` (or ``tox -e bench``) starts each server on loopback
as its own process, drives it from a separate load-generator process and
prints a table (see docs/performance.md). The generator (``generator``,
``workloads``, ``wire``) never imports ``libbatchat``: it speaks both wire
formats with its own minimal framing, so it measures the server from outside.
"""
