"""Trino's credentials and HTTPS for the stack (stack/trino.py): the password file's PBKDF2 hash, the self-signed
certificate made at each start, a client session trusting it, the probes that wait for the server, and the
Airflow connection URI clients use."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import secrets
import ssl
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from akko_orchestrator.stack.process import LOOPBACK, StackError, write_private

TRINO_USER = "akko"  # the one user of the password file
# Trino 476 checks PBKDF2 hashes with PBKDF2WithHmacSHA1 (minimum 1000 iterations). The password is 192 random bits,
# so the count guards nothing a guess could reach; it is kept moderate because Trino derives the hash again for every
# credential not in its cache (e.g. each wrong password).
PBKDF2_ITERATIONS = 100_000
CERT_DAYS = 397  # a server runs for days at most; each start makes a new certificate


# ---------------------------------------------------------------------------------------------------------------
# Credentials: the password hash and the server's certificate.


def pbkdf2_hash(password: str, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    """`iterations:salt:hash` (lower-case hex), the PBKDF2 format of Trino's password file; HMAC-SHA1, as Trino
    476's file authenticator derives it (the hash length is free: Trino derives as many bytes as it reads)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    derived = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, iterations, dklen=32)
    return f"{iterations}:{salt.hex()}:{derived.hex()}"


def write_certificate(keystore: Path, ca_file: Path, days: int = CERT_DAYS) -> None:
    """A new EC P-256 key and a self-signed server certificate for 127.0.0.1 and localhost: `keystore` gets the key
    and the certificate (0600, Trino's PEM keystore), `ca_file` the certificate alone (what clients trust)."""
    # cryptography is a dependency of Airflow; imported here, like psutil, to keep `import ...stack` light.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "akko stack"),
            x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    signing_only = x509.KeyUsage(
        digital_signature=True,  # ECDHE key exchange signed with the EC key: nothing else is needed
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(signing_only, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    write_private(keystore, key_pem + cert_pem)
    write_private(ca_file, cert_pem)  # not secret; 0600 all the same, clients run as the stack's user


# ---------------------------------------------------------------------------------------------------------------
# Probes.


def https_session(ca_file: Path) -> Any:
    """A `requests` session for the Trino client (its `http_session`) that trusts the stack's certificate.

    The client's own `verify=` only sets `Session.verify`, which requests ignores whenever REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE is set (psf/requests#3829: the environment wins over the session), and many machines set them
    to the system bundle. This session does not read the environment (no CA bundle, no proxy: loopback needs none).
    """
    import requests  # a dependency of the Trino client

    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_file)
    return session


def server_state(port: int, ca_file: Path) -> str:
    """`ready`, `starting` or `not answering`, from the coordinator's /v1/info (public: no credential) over HTTPS,
    checking the server's certificate."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
        with urllib.request.urlopen(
            f"https://{LOOPBACK}:{port}/v1/info", timeout=5, context=context
        ) as response:
            info = json.load(response)
    except (OSError, ValueError):  # ssl and URL errors are OSErrors
        return "not answering"
    return "starting" if info.get("starting", True) else "ready"


def query_runs(port: int, ca_file: Path, password: str) -> bool:
    try:
        import trino  # the `cluster` extra
    except ImportError as exc:
        raise StackError("the Trino client is missing: install akko-orchestrator[cluster]") from exc
    try:
        conn = trino.dbapi.connect(
            host=LOOPBACK,
            port=port,
            user=TRINO_USER,
            http_scheme="https",
            auth=trino.auth.BasicAuthentication(TRINO_USER, password),
            http_session=https_session(ca_file),
        )
        with contextlib.closing(conn):
            cursor = conn.cursor()
            cursor.execute("SELECT 1")
            return cursor.fetchall() == [[1]]
    except Exception:  # noqa: BLE001 - any failure means "not yet": the caller retries until its deadline
        return False


def airflow_uri(
    host: str, port: int, user: str, password: str, ca_file: Path, catalog: str = "iceberg"
) -> str:
    """An AIRFLOW_CONN_* URI for the Trino provider's TrinoHook: login and password give basic authentication; the
    query string gives its extras: `protocol=https`, `verify=<CA file>` (passed to requests as the CA bundle),
    `catalog` (a URI path would be the schema, not the catalog)."""
    extras = urlencode({"catalog": catalog, "protocol": "https", "verify": str(ca_file)})
    return f"trino://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/?{extras}"
