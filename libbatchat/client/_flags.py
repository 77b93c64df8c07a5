"""The command-line flags the client programs spell the same way."""

from __future__ import annotations

import argparse


def add_tls_flags(
    parser: argparse.ArgumentParser, *, cafile_implies_tls: bool = False
) -> None:
    """Add ``--tls`` and ``--cafile FILE`` (trust a self-signed server's).

    With ``cafile_implies_tls``, ``--cafile`` alone turns TLS on (the
    conformance suite); without, the program refuses ``--cafile`` unless
    ``--tls`` is given too, so a typo cannot silently mean plain TCP.
    """
    parser.add_argument(
        "--tls",
        action="store_true",
        help="speak TLS, verifying the server's certificate and name against "
        "the system's authorities (or --cafile)",
    )
    parser.add_argument(
        "--cafile",
        metavar="FILE",
        help="trust only the certificates in this PEM file (a self-signed "
        "server's certificate, say); implies --tls"
        if cafile_implies_tls
        else "with --tls: trust the certificates in FILE (a self-signed server)",
    )
