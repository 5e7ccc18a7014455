"""A throwaway certificate authority for the local control plane, made with the openssl command.

ECDSA P-256 keys keep generation well under a second; everything lives in one directory that is removed
with the control plane.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

_DAYS = "365"


class PKIError(RuntimeError):
    """openssl is missing or refused to make a certificate."""


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class LocalPKI:
    """The files the API server, its clients and the service-account token machinery need."""

    ca: KeyPair
    serving: KeyPair
    admin: KeyPair
    service_account_key: Path
    service_account_pub: Path


def _openssl(*args: str, cwd: Path) -> None:
    try:
        subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise PKIError(
            "openssl is not installed; it is needed to make the local control plane's certificates"
        ) from exc
    except subprocess.CalledProcessError as exc:
        raise PKIError(f"openssl {args[0]} failed: {exc.stderr.strip()}") from exc


def _ec_key(path: Path) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(path), cwd=path.parent)


def _signed_cert(directory: Path, name: str, subject: str, ca: KeyPair, extensions: str) -> KeyPair:
    key = directory / f"{name}.key"
    csr = directory / f"{name}.csr"
    cert = directory / f"{name}.crt"
    ext = directory / f"{name}.ext"
    _ec_key(key)
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr), cwd=directory)
    ext.write_text(extensions)
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key), "-CAcreateserial",
        "-days", _DAYS, "-sha256", "-extfile", str(ext), "-out", str(cert),
        cwd=directory,
    )  # fmt: skip
    csr.unlink()
    ext.unlink()
    return KeyPair(cert=cert, key=key)


def issue_serving_cert(
    directory: Path,
    name: str,
    ca: KeyPair,
    *,
    common_name: str,
    dns_names: tuple[str, ...] = ("localhost",),
    ips: tuple[str, ...] = ("127.0.0.1",),
) -> KeyPair:
    """A TLS server certificate signed by `ca`, valid for the given DNS names and IP addresses."""
    directory.mkdir(parents=True, exist_ok=True)
    alt_names = [*(f"DNS:{dns}" for dns in dns_names), *(f"IP:{ip}" for ip in ips)]
    return _signed_cert(
        directory,
        name,
        f"/CN={common_name}",
        ca,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={','.join(alt_names)}\n",
    )


def create_local_pki(directory: Path, service_ips: tuple[str, ...] = ()) -> LocalPKI:
    """Make a CA, a serving certificate for loopback, an admin client certificate and service-account keys."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = KeyPair(cert=directory / "ca.crt", key=directory / "ca.key")
    _ec_key(ca.key)
    _openssl(
        "req", "-x509", "-new", "-key", str(ca.key), "-sha256", "-days", _DAYS,
        "-subj", "/CN=kuberay-py-local-ca", "-out", str(ca.cert),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    serving = issue_serving_cert(
        directory,
        "apiserver",
        ca,
        common_name="kube-apiserver",
        dns_names=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
        ips=("127.0.0.1", *service_ips),
    )
    admin = _signed_cert(
        directory,
        "admin",
        "/O=system:masters/CN=kuberay-py-admin",
        ca,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    sa_key = directory / "service-account.key"
    sa_pub = directory / "service-account.pub"
    _ec_key(sa_key)
    _openssl("ec", "-in", str(sa_key), "-pubout", "-out", str(sa_pub), cwd=directory)
    return LocalPKI(
        ca=ca, serving=serving, admin=admin, service_account_key=sa_key, service_account_pub=sa_pub
    )
