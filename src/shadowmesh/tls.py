"""TLS contexts from Istio's settings: DestinationRule `tls` (origination to upstreams).

A context is built once, when the routing table is compiled, from the files the settings
name; the cluster's connections are opened with it and stay pooled, so a request pays no
handshake. The files' contents are part of the cluster's identity (`UpstreamTLS.fingerprint`),
so a reload after a certificate was renewed opens new connections with the new one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
from pathlib import Path
from typing import Any

from shadowmesh.routing.table import UpstreamTLS

# DestinationRule `tls.mode` values shadowmesh originates; ISTIO_MUTUAL needs the mesh's
# own certificates, which shadowmesh does not have.
ORIGINATED_MODES = ("SIMPLE", "MUTUAL")


class TLSConfigError(ValueError):
    """A TLS setting that cannot be put in force (missing file, bad key, unknown cipher)."""


def credential_files(credentials_dir: str | None, name: str) -> tuple[str, str, str | None]:
    """`credentialName` -> (tls.crt, tls.key, ca.crt or None), laid out like a mounted
    Kubernetes TLS secret."""
    if not credentials_dir:
        raise TLSConfigError(f"credentialName {name!r} needs --credentials-dir")
    base = Path(credentials_dir) / name
    ca = base / "ca.crt"
    return str(base / "tls.crt"), str(base / "tls.key"), str(ca) if ca.exists() else None


def _fingerprint(paths: list[str | None]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if path:
            try:
                digest.update(Path(path).read_bytes())
            except OSError as exc:
                raise TLSConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
        digest.update(b"\0")
    return digest.hexdigest()


def upstream_tls(settings: Any, service: str, credentials_dir: str | None) -> UpstreamTLS | None:
    """DestinationRule `ClientTLSSettings` -> what the cluster's connections use, or None
    for plain text (DISABLE, and ISTIO_MUTUAL, which shadowmesh does not originate)."""
    if settings is None or settings.mode not in ORIGINATED_MODES:
        return None
    cert, key, ca = settings.client_certificate, settings.private_key, settings.ca_certificates
    if settings.credential_name:
        cert, key, named_ca = credential_files(credentials_dir, settings.credential_name)
        ca = ca or named_ca
    if settings.mode == "SIMPLE":
        cert = key = None
    elif not cert or not key:
        raise TLSConfigError("tls mode MUTUAL needs clientCertificate and privateKey")
    sni = settings.sni or service
    names = tuple(settings.subject_alt_names or ())
    insecure = bool(settings.insecure_skip_verify)
    fingerprint = _fingerprint([ca, cert, key])
    return UpstreamTLS(
        mode=settings.mode,
        sni=sni,
        subject_alt_names=() if insecure else names,
        fingerprint=fingerprint,
        context=client_context(ca, cert, key, verify=not insecure,
                               check_hostname=not insecure and not names),
    )


def client_context(ca: str | None, cert: str | None, key: str | None, *, verify: bool,
                   check_hostname: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # Envoy's client default
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        if verify:
            # Istio verifies upstream certificates by default: against caCertificates, else
            # the system's roots.
            if ca:
                ctx.load_verify_locations(cafile=ca)
            else:
                ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
            ctx.check_hostname = check_hostname
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if cert and key:
            ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"TLS settings cannot be loaded: {exc}") from exc
    return ctx


def _dns_match(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower(), name.lower()
    if pattern == name:
        return True
    # A certificate's `*.example.com` covers exactly one label.
    if pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:] and not name.startswith(".")
    return False


def peer_matches(cert: dict[str, Any] | None, names: tuple[str, ...]) -> bool:
    """The upstream's certificate carries one of `names` (DestinationRule
    `subjectAltNames`) among its DNS, URI or IP subject alternative names."""
    if not cert:
        return False
    for kind, value in cert.get("subjectAltName", ()):
        for name in names:
            if kind == "DNS" and _dns_match(value, name):
                return True
            if kind == "URI" and value == name:
                return True
            if kind == "IP Address":
                try:
                    if ipaddress.ip_address(value.strip()) == ipaddress.ip_address(name):
                        return True
                except ValueError:
                    continue
    return False


def failure_reason(exc: BaseException) -> str:
    """An upstream handshake failure as Envoy words it in the transport failure reason."""
    if isinstance(exc, ssl.SSLError):
        library = exc.library or "SSL routines"
        reason = exc.reason or type(exc).__name__
        return f"TLS_error:|{library}:{reason}:TLS_error_end"
    return f"TLS_error:|{exc}:TLS_error_end"


def connect_failure(exc: OSError, tls: bool) -> str:
    """A connect that failed below TLS, or a handshake the upstream cut (uvloop reports a
    peer's fatal alert, e.g. a refused client certificate, as a reset without an errno)."""
    if tls and isinstance(exc, ConnectionResetError) and exc.errno is None:
        return "TLS_error:|connection reset by peer during handshake:TLS_error_end"
    return f"delayed connect error: {exc.errno or exc}"


SAN_MISMATCH = "TLS_error:|SSL routines:CERTIFICATE_VERIFY_FAILED:TLS_error_end"
