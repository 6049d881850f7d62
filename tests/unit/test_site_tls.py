"""The site file's TLS keys ([mqtt] and [http] ca_file, cert_file, key_file) and named tokens: usable files
load into the edge's settings, and a missing, unreadable or mismatched file is a problem naming key and path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from floorgate.devices.mqtt.endpoint import InvalidTlsFiles, TlsFiles
from floorgate.edge.site import ConfigError, ConfigProblem, SiteConfig, parse_site
from tests.support.certificates import CertificateAuthority, Identity

pytestmark = pytest.mark.unit

HEAD = '[site]\nid = "dc1"\n[edge]\nid = "edge-1"\n'


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertificateAuthority, Identity, Identity]:
    ca = CertificateAuthority.create(tmp_path_factory.mktemp("pki"))
    return ca, ca.client("edge-1"), ca.server()


def parse(text: str, base_dir: Path) -> SiteConfig:
    return parse_site(HEAD + text, source="site.toml", environ={}, base_dir=base_dir)


def problems(text: str, base_dir: Path) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        parse(text, base_dir)
    return caught.value.problems


def mqtt_table(ca: Path, identity: Identity, url: str = "mqtts://broker:8883") -> str:
    return (
        f'[mqtt]\nurl = "{url}"\nca_file = "{ca}"\n'
        f'cert_file = "{identity.cert_file}"\nkey_file = "{identity.key_file}"\n'
    )


def test_the_mqtt_tls_files_reach_the_endpoint_and_make_a_context(
    pki: tuple[CertificateAuthority, Identity, Identity], tmp_path: Path
) -> None:
    ca, edge, _ = pki

    mqtt = parse(mqtt_table(ca.ca_file, edge), tmp_path).mqtt

    assert mqtt is not None
    endpoint = mqtt.endpoint()
    assert endpoint.tls_files == TlsFiles(
        ca_file=ca.ca_file, cert_file=edge.cert_file, key_file=edge.key_file
    )
    context = endpoint.ssl_context()
    assert context is not None
    assert context.check_hostname


def test_relative_tls_paths_are_taken_from_the_site_file_folder(
    pki: tuple[CertificateAuthority, Identity, Identity],
) -> None:
    ca, edge, _ = pki
    folder = ca.folder
    text = (
        f'[mqtt]\nurl = "mqtts://broker"\nca_file = "{ca.ca_file.name}"\n'
        f'cert_file = "{edge.cert_file.name}"\nkey_file = "{edge.key_file.name}"\n'
    )

    mqtt = parse(text, folder).mqtt

    assert mqtt is not None
    assert mqtt.ca_file == ca.ca_file
    assert mqtt.key_file == edge.key_file


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ('[mqtt]\nurl = "mqtts://b"\nca_file = "{missing}"\n', "mqtt.ca_file", "no file at {missing}"),
        ('[mqtt]\nurl = "mqtts://b"\nca_file = "{folder}"\n', "mqtt.ca_file", "{folder} is a folder"),
        (
            '[mqtt]\nurl = "mqtts://b"\nca_file = "{garbage}"\n',
            "mqtt.ca_file",
            "cannot use {garbage} as a CA",
        ),
        (
            '[mqtt]\nurl = "mqtts://b"\ncert_file = "{cert}"\n',
            "mqtt.key_file",
            "is missing: cert_file = '{cert}' needs its private key",
        ),
        ('[mqtt]\nurl = "mqtts://b"\nkey_file = "{key}"\n', "mqtt.key_file", "is given without cert_file"),
        (
            '[mqtt]\nurl = "mqtts://b"\ncert_file = "{cert}"\nkey_file = "{other_key}"\n',
            "mqtt.key_file",
            "cannot use {cert} with the key {other_key}",
        ),
        ('[mqtt]\nurl = "mqtt://b"\nca_file = "{ca}"\n', "mqtt.ca_file", "applies to TLS only"),
        ('[http]\ncert_file = "{cert}"\n', "http.key_file", "needs its private key"),
        ('[http]\ncert_file = "{missing}"\nkey_file = "{key}"\n', "http.cert_file", "no file at {missing}"),
    ],
    ids=[
        "missing",
        "folder",
        "not-pem",
        "cert-without-key",
        "key-without-cert",
        "mismatched-key",
        "plain-mqtt",
        "http-cert-without-key",
        "http-missing-cert",
    ],
)
def test_an_unusable_tls_file_is_a_problem_naming_the_key_and_the_path(
    pki: tuple[CertificateAuthority, Identity, Identity], tmp_path: Path, table: str, key: str, message: str
) -> None:
    ca, edge, server = pki
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    names = {
        "missing": tmp_path / "nowhere" / "ca.crt",
        "folder": tmp_path,
        "garbage": garbage,
        "ca": ca.ca_file,
        "cert": edge.cert_file,
        "key": edge.key_file,
        "other_key": server.key_file,
    }

    found = problems(table.format(**names), tmp_path)

    assert [problem.key for problem in found] == [key]
    assert message.format(**names) in found[0].message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_a_key_the_edge_cannot_read_is_a_problem(
    pki: tuple[CertificateAuthority, Identity, Identity], tmp_path: Path
) -> None:
    _, edge, _ = pki
    locked = tmp_path / "locked.key"
    locked.write_bytes(edge.key_file.read_bytes())
    locked.chmod(0)

    found = problems(f'[http]\ncert_file = "{edge.cert_file}"\nkey_file = "{locked}"\n', tmp_path)

    assert [(p.key, p.message) for p in found] == [
        ("http.key_file", f"cannot read {locked}: Permission denied")
    ]


def test_https_is_on_with_a_certificate_and_off_without(
    pki: tuple[CertificateAuthority, Identity, Identity], tmp_path: Path
) -> None:
    _, _, server = pki

    served = parse(f'[http]\ncert_file = "{server.cert_file}"\nkey_file = "{server.key_file}"\n', tmp_path)

    assert served.http.https
    assert served.http.cert_file == server.cert_file
    assert not parse("", tmp_path).http.https


def test_a_tls_file_gone_after_loading_fails_the_context_with_its_path(tmp_path: Path) -> None:
    files = TlsFiles(ca_file=tmp_path / "gone.crt")

    with pytest.raises(InvalidTlsFiles, match=r"gone\.crt"):
        files.context()


def test_named_tokens_give_their_names_and_unnamed_ones_none(tmp_path: Path) -> None:
    config = parse(
        '[[tokens]]\ntoken = "sue-token"\nrole = "supervisor"\nname = "sue"\n'
        '[[tokens]]\ntoken = "tablet-token"\nrole = "supervisor"\n',
        tmp_path,
    )

    assert config.token_names() == {"sue-token": "sue"}
    assert set(config.tokens_by_value()) == {"sue-token", "tablet-token"}
