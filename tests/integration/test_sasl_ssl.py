"""The worker end to end over SASL_SSL: a broker of its own with a SCRAM-SHA-512 user
and a TLS listener whose certificates are made here, at test time."""

import datetime as dt
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from accessdrift.kafka.local import KAFKA_VERSION, LocalKafka
from accessdrift.settings import Settings
from tests.helpers import REPO, Isolated, Worker, free_port, free_port_pair, wait_until

USER, PASSWORD = "accessdrift-worker", "scram-secret-of-this-test"


def make_certificates(folder: Path) -> tuple[Path, Path]:
    """A CA, and a server certificate for 127.0.0.1 signed by it: (ca.pem, keystore.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accessdrift test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, keystore = folder / "ca.pem", folder / "keystore.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    keystore.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            # Unencrypted: the JDK's PKCS#8 decryption lacks PBES2 on Java 17.
            serialization.NoEncryption(),
        )
        + server.public_bytes(serialization.Encoding.PEM)
        + ca.public_bytes(serialization.Encoding.PEM)
    )
    return ca_file, keystore


@pytest.fixture
def secured_broker(kafka: Settings, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A second local broker: PLAINTEXT for its administrator, SASL_SSL for accessdrift."""
    ca_file, keystore = make_certificates(tmp_path)
    plain, secured = free_port_pair(), free_port()
    while secured in (plain, plain + 1):
        secured = free_port()
    settings = Settings(data_dir=tmp_path / "broker", kafka_bootstrap=f"127.0.0.1:{plain}")
    home = settings.data_dir / "kafka"
    home.mkdir(parents=True)
    # The jars the session's broker already fetched.
    (home / f"libs-{KAFKA_VERSION}").symlink_to(
        REPO / ".accessdrift" / "kafka" / f"libs-{KAFKA_VERSION}"
    )
    listeners = (
        f"PLAINTEXT://127.0.0.1:{plain},CONTROLLER://127.0.0.1:{plain + 1},"
        f"SASL_SSL://127.0.0.1:{secured}"
    )
    broker = LocalKafka(
        settings,
        extra={
            "listeners": listeners,
            "advertised.listeners": listeners,
            "listener.security.protocol.map": (
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL"
            ),
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(keystore),
        },
    )
    try:
        broker.up()
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{plain}"})
        upsert = UserScramCredentialUpsertion(
            USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), PASSWORD.encode()
        )
        for future in admin.alter_user_scram_credentials([upsert]).values():
            future.result(timeout=30)
        yield secured, ca_file
    finally:
        broker.down()


def over_sasl_ssl(port: int, ca_file: Path, password: str = PASSWORD) -> dict[str, str]:
    return {
        "ACCESSDRIFT_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "ACCESSDRIFT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "ACCESSDRIFT_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "ACCESSDRIFT_KAFKA_SASL_USERNAME": USER,
        "ACCESSDRIFT_KAFKA_SASL_PASSWORD": password,
        "ACCESSDRIFT_KAFKA_SSL_CAFILE": str(ca_file),
    }


def test_the_worker_end_to_end_over_sasl_ssl_with_scram(
    secured_broker: tuple[int, Path], isolated: Isolated, tmp_path: Path
) -> None:
    port, ca_file = secured_broker
    secure = over_sasl_ssl(port, ca_file)
    org, truth = isolated.simulate(tmp_path, 5, 40, "--events-per-second", "0.02")

    refused = isolated.cli("worker", **over_sasl_ssl(port, ca_file, password="wrong"))
    assert refused.returncode == 69  # the broker serves nothing (docs/cli.md)
    assert "refused us" in refused.stderr and "Authentication failed" in refused.stderr, (
        refused.stderr
    )

    worker = Worker(isolated, **secure)
    try:
        sent = isolated.cli("replay", "--format", "canonical", str(org), **secure)
        assert sent.returncode == 0, sent.stderr
        expected = json.loads(truth.read_text())
        wait_until(
            lambda: worker.client.stages().get("resolver:records", 0) >= expected["events"],
            timeout=120,
        )
        evaluated: list[str] = []

        def exact() -> bool:
            ran = isolated.cli("evaluate", str(truth), **secure)
            evaluated[:] = [ran.stdout + ran.stderr]
            return ran.returncode == 0

        try:
            wait_until(exact, timeout=60, interval=1)
        except AssertionError as error:
            raise AssertionError(f"{error}; the last evaluate said:\n{evaluated[0]}") from None
    finally:
        worker.stop()
