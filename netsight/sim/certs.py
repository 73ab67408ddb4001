"""A throwaway certificate authority and server certificate for the simulation.

Clients verify the API server's certificate against the CA in the
kubeconfig, exactly as with a real cluster, so the simulation makes its own
CA at start and signs a certificate for 127.0.0.1, ::1 and localhost. Keys
live only in memory and in a private temporary directory (ssl needs files).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

# Long enough for any session, short enough that a leaked CA is worthless soon.
VALIDITY = datetime.timedelta(days=7)
# Clocks of clients and the sim may differ a little.
BACKDATE = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class ServerCertificates:
    ca_pem: bytes
    cert_file: str
    key_file: str
    directory: str

    def remove(self) -> None:
        for path in (self.cert_file, self.key_file):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.directory)
        except OSError:
            logger.debug("Could not remove certificate directory %s.", self.directory)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "NetSight simulated cluster"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_certificates() -> ServerCertificates:
    """A new CA and a server certificate it signs; files in a 0700 temp dir."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("netsight-sim-ca")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("netsight-sim-apiserver"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    directory = tempfile.mkdtemp(prefix="netsight-sim-")
    cert_file = os.path.join(directory, "server.crt")
    key_file = os.path.join(directory, "server.key")
    with open(cert_file, "wb") as handle:
        handle.write(server_cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            server_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    return ServerCertificates(ca_pem, cert_file, key_file, directory)
