"""A test CA made with the openssl command line: a server certificate for the loopback host and client
certificates whose common name is a device's or an edge's id (what mosquitto's `use_identity_as_username`
takes as the user name)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# P-256 keys: quick to make, and every TLS stack on the floor speaks them.
_NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True, kw_only=True)
class Identity:
    """A certificate and its private key, both PEM files."""

    cert_file: Path
    key_file: Path


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError(
            "the openssl command is needed to make test certificates (apt-get install openssl)"
        )
    subprocess.run([openssl, *args], check=True, capture_output=True)


@dataclass(frozen=True, kw_only=True)
class CertificateAuthority:
    """A certificate authority in `folder` that signs server and client certificates for one test."""

    folder: Path

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def _key(self) -> Path:
        return self.folder / "ca.key"

    @classmethod
    def create(cls, folder: Path, *, name: str = "FloorGate test CA") -> CertificateAuthority:
        folder.mkdir(parents=True, exist_ok=True)
        ca = cls(folder=folder)
        _openssl(
            "req", "-x509", *_NEW_KEY, "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", str(ca._key), "-out", str(ca.ca_file),
        )  # fmt: skip
        return ca

    def server(self, name: str = "localhost") -> Identity:
        """A server certificate for `name` and 127.0.0.1, so a client may connect by either."""
        return self._sign(name, f"subjectAltName=DNS:{name},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")

    def client(self, common_name: str) -> Identity:
        """A client certificate whose CN is `common_name` (a module's, scanner's or edge's id)."""
        return self._sign(common_name, "extendedKeyUsage=clientAuth\n")

    def _sign(self, common_name: str, extensions: str) -> Identity:
        stem = self.folder / common_name
        identity = Identity(cert_file=stem.with_suffix(".crt"), key_file=stem.with_suffix(".key"))
        request, extfile = stem.with_suffix(".csr"), stem.with_suffix(".ext")
        extfile.write_text(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n" + extensions
        )
        _openssl(
            "req", "-new", *_NEW_KEY, "-subj", f"/CN={common_name}",
            "-keyout", str(identity.key_file), "-out", str(request),
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(request), "-CA", str(self.ca_file), "-CAkey", str(self._key),
            "-CAcreateserial", "-days", "2", "-extfile", str(extfile), "-out", str(identity.cert_file),
        )  # fmt: skip
        return identity
