"""TLS for the listeners: one certificate and key for every port, and client certificates
checked against a CA when one is given (DICOM PS3.15 Annex B; BCP 195 for the versions).

A client that fails the handshake (a certificate the CA did not sign, a plain connection to a
TLS port) is dropped at the handshake; the listener serves on.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


class TlsError(ValueError):
    """The certificate, key or CA file cannot be used; says which."""


@dataclass(frozen=True)
class TlsEndpoint:
    """A listener's TLS port and the context that serves it (port 0 binds a free one)."""

    port: int
    context: ssl.SSLContext


def server_context(cert_file: Path, key_file: Path, ca_file: Path | None = None) -> ssl.SSLContext:
    """A server context: TLS 1.2 or newer, our certificate, and with `ca_file` the clients'
    certificates required and verified against it.

    Raises:
        TlsError: a file is missing, unreadable, or not what it should be.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # BCP 195
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot use certificate {cert_file} with key {key_file}: {exc}") from exc
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(f"cannot use CA file {ca_file}: {exc}") from exc
        context.verify_mode = ssl.CERT_REQUIRED
    return context
