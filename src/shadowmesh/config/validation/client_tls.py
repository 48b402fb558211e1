"""TLS to upstreams (DestinationRule `tls`): Istio's `agent.ValidateTLS`."""

from __future__ import annotations

from shadowmesh.config.models.destination_rule import ClientTLSSettings
from shadowmesh.config.validation.gofmt import quote

CONFIGMAP_PREFIX = "configmap://"


def client_tls_problems(namespace: str, tls: ClientTLSSettings) -> list[str]:
    problems: list[str] = []
    credential = tls.credential_name or ""
    if credential.startswith(CONFIGMAP_PREFIX):
        # `configmap://name` or `configmap://namespace/name`, in the rule's own namespace
        reference = credential.removeprefix(CONFIGMAP_PREFIX)
        parts = reference.split("/")
        if not reference or len(parts) > 2 or any(not part for part in parts):
            problems.append(
                f"invalid configmap:// credentialName: invalid resource name {quote(credential)}"
            )
        elif (len(parts) == 2 and parts[0] != namespace) or not namespace:
            problems.append(
                "invalid configmap:// credentialName: namespace must match the configuration "
                f"namespace {quote(namespace)}"
            )
    if tls.insecure_skip_verify:
        # skipping verification and naming what to verify against contradict each other
        if tls.mode == "SIMPLE" and (
            tls.ca_certificates or tls.credential_name or tls.subject_alt_names is not None
        ):
            problems.append(
                "cannot specify CaCertificates or CredentialName or SubjectAltNames when "
                "InsecureSkipVerify is set true"
            )
        if tls.mode == "MUTUAL" and (tls.ca_certificates or tls.subject_alt_names is not None):
            problems.append(
                "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set "
                "true"
            )
    if tls.mode in ("SIMPLE", "MUTUAL") and credential:
        if tls.client_certificate or tls.ca_certificates or tls.private_key or tls.ca_crl:
            problems.append(
                "cannot specify client certificates or CA certificate or CA CRL If credentialName "
                "is set"
            )
        return problems  # the certificates come from the named credential
    if tls.mode == "MUTUAL":
        if not tls.client_certificate:
            problems.append("client certificate required for mutual tls")
        if not tls.private_key:
            problems.append("private key required for mutual tls")
    return problems
