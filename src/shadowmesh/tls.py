"""TLS contexts from Istio's settings: DestinationRule `tls` (origination to upstreams) and
Gateway server `tls` (termination, with SNI selection among a port's servers).

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

from shadowmesh.routing.table import ServerTLS, UpstreamTLS

# DestinationRule `tls.mode` values shadowmesh originates; ISTIO_MUTUAL needs the mesh's
# own certificates, which shadowmesh does not have.
ORIGINATED_MODES = ("SIMPLE", "MUTUAL")


class TLSConfigError(ValueError):
    """A TLS setting that cannot be put in force (missing file, bad key, unknown cipher)."""


def credential_files(credentials_dir: str | None, name: str
                     ) -> tuple[str, str, str | None, str | None]:
    """`credentialName` -> (tls.crt, tls.key, ca.crt or None, ca.crl or None), laid out like a
    mounted Kubernetes TLS secret; the CA (and its CRL) may also come from a `<name>-cacert`
    secret, as in Istio."""
    if not credentials_dir:
        raise TLSConfigError(f"credentialName {name!r} needs --credentials-dir")
    base = Path(credentials_dir) / name
    split = Path(credentials_dir) / f"{name}-cacert"

    def first(file: str) -> str | None:
        found = next((c for c in (base / file, split / file) if c.exists()), None)
        return str(found) if found is not None else None

    return str(base / "tls.crt"), str(base / "tls.key"), first("ca.crt"), first("ca.crl")


def _sources(paths: list[str | None]) -> tuple[str, ...]:
    """The fingerprinted files, in order, "" for an absent one: `fingerprint(files)` recomputes
    the fingerprint, which tells whether the files still hold what was loaded."""
    return tuple(str(p) if p else "" for p in paths)


def fingerprint(files: tuple[str, ...]) -> str:
    return _fingerprint([f or None for f in files])


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
    crl = settings.ca_crl
    if settings.credential_name:
        cert, key, named_ca, named_crl = credential_files(credentials_dir,
                                                          settings.credential_name)
        ca, crl = ca or named_ca, crl or named_crl
    if settings.mode == "SIMPLE":
        cert = key = None
    elif not cert or not key:
        raise TLSConfigError("tls mode MUTUAL needs clientCertificate and privateKey")
    sni = settings.sni or service
    names = tuple(settings.subject_alt_names or ())
    insecure = bool(settings.insecure_skip_verify)
    fingerprint = _fingerprint([ca, cert, key, crl])
    return UpstreamTLS(
        mode=settings.mode,
        sni=sni,
        subject_alt_names=() if insecure else names,
        fingerprint=fingerprint,
        context=client_context(ca, cert, key, verify=not insecure,
                               check_hostname=not insecure and not names, crl=crl),
        files=_sources([ca, cert, key, crl]),
    )


def client_context(ca: str | None, cert: str | None, key: str | None, *, verify: bool,
                   check_hostname: bool, crl: str | None = None) -> ssl.SSLContext:
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
            if crl:
                load_crl(ctx, crl)
            ctx.check_hostname = check_hostname
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if cert and key:
            ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"TLS settings cannot be loaded: {exc}") from exc
    return ctx


def load_crl(ctx: ssl.SSLContext, crl: str) -> None:
    """`caCrl`: a peer certificate its issuer revoked is refused. Envoy checks the leaf
    against the CRL of its issuer (it fails the handshake when that CRL is missing only
    with `crl_only_verify_leaf_cert` off; the leaf is what Istio's caCrl is about)."""
    ctx.load_verify_locations(cafile=crl)
    # For a Gateway server the CRL is found in the store of the context the SNI callback
    # switches to, but the flag is read from the listener's context: `SNISelector` sets it
    # there too.
    ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF


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
        # OpenSSL's (and Envoy's) name for the SSL library, which Python shortens to "SSL"
        library = "SSL routines" if exc.library in (None, "SSL") else exc.library
        reason = exc.reason or type(exc).__name__
        return f"TLS_error:|{library}:{reason}:TLS_error_end"
    return f"TLS_error:|{exc}:TLS_error_end"


def connect_failure(exc: OSError, tls: bool) -> str:
    """A connect that failed below TLS, or a handshake the upstream cut (uvloop reports a
    peer's fatal alert, e.g. a refused client certificate, as a reset without an errno)."""
    if tls and isinstance(exc, ConnectionResetError) and exc.errno is None:
        return "TLS_error:|connection reset by peer during handshake:TLS_error_end"
    return f"delayed connect error: {exc.errno or exc}"


# Gateway server modes shadowmesh terminates; PASSTHROUGH, AUTO_PASSTHROUGH and ISTIO_MUTUAL
# are not served.
TERMINATED_MODES = ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL")

_VERSIONS = {
    "TLSV1_0": ssl.TLSVersion.TLSv1,
    "TLSV1_1": ssl.TLSVersion.TLSv1_1,
    "TLSV1_2": ssl.TLSVersion.TLSv1_2,
    "TLSV1_3": ssl.TLSVersion.TLSv1_3,
}


def server_tls(settings: Any, hosts: tuple[str, ...],
               credentials_dir: str | None) -> ServerTLS | None:
    """Gateway `ServerTLSSettings` of an HTTPS server -> its TLS, or None when the mode is
    not one shadowmesh terminates."""
    if settings is None or settings.mode not in TERMINATED_MODES:
        return None
    ca, crl = settings.ca_certificates, settings.ca_crl
    # One certificate, or two of different key types (RSA and ECDSA): `tlsCertificates` or
    # `credentialNames`; OpenSSL keeps one per key type and picks the one the client can use.
    pairs: list[tuple[str | None, str | None]] = [
        (c.server_certificate, c.private_key) for c in settings.tls_certificates]
    if not pairs and not settings.credential_name and not settings.credential_names:
        pairs = [(settings.server_certificate, settings.private_key)]
    for name in ((settings.credential_name,) if settings.credential_name else ()) \
            + tuple(settings.credential_names):
        cert, key, named_ca, named_crl = credential_files(credentials_dir, name)
        pairs.append((cert, key))
        ca, crl = ca or named_ca, crl or named_crl
    if not ca:
        ca = next((c.ca_certificates for c in settings.tls_certificates if c.ca_certificates),
                  None)
    if not all(cert and key for cert, key in pairs):
        raise TLSConfigError(f"tls mode {settings.mode} needs a server certificate and key")
    if settings.mode != "SIMPLE" and not ca:
        raise TLSConfigError(f"tls mode {settings.mode} needs caCertificates")
    verifying = settings.mode != "SIMPLE"
    names = tuple(h.rpartition("/")[2].lower() for h in hosts) or ("*",)
    files: list[str | None] = [f for pair in pairs for f in pair]
    return ServerTLS(
        hosts=names,
        mode=settings.mode,
        fingerprint=_fingerprint(files + ([ca, crl] if verifying else [])),
        crl=bool(verifying and crl),
        context=server_context(settings, [(str(c), str(k)) for c, k in pairs],
                               ca if verifying else None, crl if verifying else None),
        files=_sources(files + ([ca, crl] if verifying else [])),
    )


def server_context(settings: Any, pairs: list[tuple[str, str]], ca: str | None,
                   crl: str | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # Envoy's server defaults: TLS 1.2 to 1.3.
    ctx.minimum_version = _VERSIONS.get(settings.min_protocol_version, ssl.TLSVersion.TLSv1_2)
    ctx.maximum_version = _VERSIONS.get(settings.max_protocol_version, ssl.TLSVersion.TLSv1_3)
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        if settings.cipher_suites:
            ctx.set_ciphers(":".join(settings.cipher_suites))
        for cert, key in pairs:
            ctx.load_cert_chain(cert, key)
        if settings.mode != "SIMPLE" and ca:
            ctx.load_verify_locations(cafile=ca)
            if crl:
                load_crl(ctx, crl)
            ctx.verify_mode = (ssl.CERT_REQUIRED if settings.mode == "MUTUAL"
                               else ssl.CERT_OPTIONAL)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"TLS settings cannot be loaded: {exc}") from exc
    return ctx


def check_crls(servers: list[ServerTLS], port: int) -> None:
    """OpenSSL checks revocation per listener, not per SNI server: on a port where one
    server has `caCrl`, every server that verifies client certificates needs one (without,
    its clients would all be refused for want of a CRL)."""
    verifying = [s for s in servers if s.mode != "SIMPLE"]
    if any(s.crl for s in verifying) and not all(s.crl for s in verifying):
        raise TLSConfigError(
            f"caCrl on port {port}: every MUTUAL or OPTIONAL_MUTUAL server on the port needs "
            "one when one has (shadowmesh checks revocation per port)")


def _sni_rank(pattern: str, name: str) -> int:
    """How well a server's host matches the SNI name: exact beats the longest wildcard
    suffix, which beats `*`; -1 for no match (Envoy's filter chain match)."""
    if pattern == name:
        return 1 << 16
    if pattern == "*":
        return 0
    if pattern.startswith("*") and name.endswith(pattern[1:]):
        return len(pattern)
    return -1


class TerminatedSSLObject(ssl.SSLObject):
    """The TLS side of a client connection on an HTTPS listener; keeps the name the client
    asked for (its SNI), which the access log reports as `requested_server_name`."""

    requested_server_name: str | None = None


def requested_server_name(ssl_object: object) -> str | None:
    """The SNI of a client connection an `SNISelector` terminated (None without SNI)."""
    if isinstance(ssl_object, TerminatedSSLObject):
        return ssl_object.requested_server_name
    return None


class SNISelector:
    """The TLS of one HTTPS listener: the context its server is created with, whose SNI
    callback hands each handshake to the context of the server the client named.

    OpenSSL takes the verify mode, the protocol versions and the ciphers of a connection
    from the listener's context, not from the one the callback switches to: those are
    per port (the first server's versions and ciphers; client certificates asked for when
    any server wants them, and required at the handshake when every server does).
    `update` puts a reload's certificates in force for new connections; connections
    already open keep theirs.

    `refused` are the hosts of servers on the port that shadowmesh does not serve
    (PASSTHROUGH, AUTO_PASSTHROUGH, ISTIO_MUTUAL): a client that names one of them better
    than any served server is refused at the handshake, never answered by another server's
    certificate and routes."""

    def __init__(self, servers: tuple[ServerTLS, ...], refused: tuple[str, ...] = ()) -> None:
        self.base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.base.sslobject_class = TerminatedSSLObject
        self.base.sni_callback = self._pick
        self.servers: tuple[ServerTLS, ...] = ()
        self.refused: tuple[str, ...] = ()
        # Contexts whose server requires a client certificate the handshake did not (a
        # port that mixes MUTUAL with other modes): checked once the handshake is done.
        self.require_cert: frozenset[int] = frozenset()
        self.update(servers, refused)

    def update(self, servers: tuple[ServerTLS, ...], refused: tuple[str, ...] = ()) -> None:
        self.refused = refused
        if servers == self.servers:
            return
        first = servers[0].context
        base = self.base
        base.minimum_version = first.minimum_version
        base.maximum_version = first.maximum_version
        base.set_ciphers(":".join(c["name"] for c in first.get_ciphers()))
        base.set_alpn_protocols(["http/1.1"])
        modes = {s.mode for s in servers}
        if modes == {"MUTUAL"}:
            base.verify_mode = ssl.CERT_REQUIRED
            self.require_cert = frozenset()
        elif modes & {"MUTUAL", "OPTIONAL_MUTUAL"}:
            base.verify_mode = ssl.CERT_OPTIONAL
            self.require_cert = frozenset(id(s.context) for s in servers if s.mode == "MUTUAL")
        else:
            base.verify_mode = ssl.CERT_NONE
            self.require_cert = frozenset()
        if any(s.crl for s in servers):  # `check_crls` made sure every verifying one has one
            base.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        else:
            base.verify_flags &= ~ssl.VERIFY_CRL_CHECK_LEAF
        self.servers = servers

    def select(self, name: str | None) -> ServerTLS | None:
        best: ServerTLS | None = None
        best_rank = -1
        for server in self.servers:
            for pattern in server.hosts:
                rank = _rank(pattern, name)
                if rank > best_rank:
                    best, best_rank = server, rank
        if best is not None and any(_rank(p, name) > best_rank for p in self.refused):
            return None  # the client asked for a server shadowmesh does not serve
        return best

    def _pick(self, obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> int | None:
        if isinstance(obj, TerminatedSSLObject):
            obj.requested_server_name = name
        server = self.select(name)
        if server is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME  # no server for this name
        obj.context = server.context
        return None

    def lacks_required_cert(self, obj: ssl.SSLObject | None) -> bool:
        """The handshake chose a MUTUAL server on a mixed port and no certificate came."""
        if not self.require_cert or obj is None:
            return False
        return id(obj.context) in self.require_cert and not obj.getpeercert()


def _rank(pattern: str, name: str | None) -> int:
    if pattern == "*":
        return 0
    return -1 if name is None else _sni_rank(pattern, name.lower())


SAN_MISMATCH = "TLS_error:|SSL routines:CERTIFICATE_VERIFY_FAILED:TLS_error_end"
