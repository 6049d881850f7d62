"""MQTT URL parsing: schemes, default ports, TLS, credentials, and the errors that name what is wrong."""

from __future__ import annotations

import pytest

from floorgate.devices.mqtt.endpoint import InvalidMqttUrl, MqttEndpoint

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1883", MqttEndpoint(host="127.0.0.1", port=1883)),
        ("mqtt://broker.local", MqttEndpoint(host="broker.local", port=1883)),
        ("mqtt://broker.local:11883", MqttEndpoint(host="broker.local", port=11883)),
        ("mqtts://broker.local", MqttEndpoint(host="broker.local", port=8883, tls=True)),
        ("mqtts://broker.local:9883", MqttEndpoint(host="broker.local", port=9883, tls=True)),
        # the aliases other MQTT tools write
        ("tcp://broker.local", MqttEndpoint(host="broker.local", port=1883)),
        ("ssl://broker.local", MqttEndpoint(host="broker.local", port=8883, tls=True)),
        # schemes and host names are case-insensitive; IPv6 literals lose their brackets
        ("MQTTS://broker.local", MqttEndpoint(host="broker.local", port=8883, tls=True)),
        ("mqtt://Broker.Local", MqttEndpoint(host="broker.local", port=1883)),
        ("mqtt://[::1]:1884", MqttEndpoint(host="::1", port=1884)),
        # a trailing slash or path is harmless
        ("mqtt://broker.local:1883/", MqttEndpoint(host="broker.local", port=1883)),
        # credentials in the URL, percent-encoded where they must be
        (
            "mqtt://edge:s3cret@broker.local",
            MqttEndpoint(host="broker.local", port=1883, username="edge", password="s3cret"),
        ),
        (
            "mqtts://edge%40dc1:p%3Ass%2Fw%40rd@broker.local:8884",
            MqttEndpoint(host="broker.local", port=8884, tls=True, username="edge@dc1", password="p:ss/w@rd"),
        ),
        ("mqtt://edge@broker.local", MqttEndpoint(host="broker.local", port=1883, username="edge")),
    ],
)
def test_from_url(url: str, expected: MqttEndpoint) -> None:
    assert MqttEndpoint.from_url(url) == expected


def test_explicit_credentials_win_over_the_urls() -> None:
    endpoint = MqttEndpoint.from_url("mqtt://url-user:url-pass@h", username="cfg-user", password="cfg-pass")
    assert (endpoint.username, endpoint.password) == ("cfg-user", "cfg-pass")


def test_explicit_credentials_fill_in_when_the_url_has_none() -> None:
    endpoint = MqttEndpoint.from_url("mqtt://h", username="edge", password="pw")
    assert (endpoint.username, endpoint.password) == ("edge", "pw")


def test_empty_explicit_credentials_fall_back_to_the_urls() -> None:
    # The site file's defaults are empty strings: they must not blank out credentials in the URL.
    endpoint = MqttEndpoint.from_url("mqtt://u:p@h", username="", password="")
    assert (endpoint.username, endpoint.password) == ("u", "p")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://broker.local", "must start with mqtt:// or mqtts://, not http"),
        ("ws://broker.local:9001", "must start with mqtt:// or mqtts://, not ws"),
        ("broker.local:1883", "must start with mqtt:// or mqtts://"),
        ("broker.local", "must start with mqtt:// or mqtts://, not nothing"),
        ("", "must start with mqtt:// or mqtts://, not nothing"),
        ("mqtt://", "has no host"),
        ("mqtt://:1883", "has no host"),
        ("mqtt://user:pw@", "has no host"),
        ("mqtt://broker.local:port", "has a bad port"),
        ("mqtt://broker.local:70000", "has a bad port"),
        ("mqtt://broker.local:-1", "has a bad port"),
    ],
)
def test_from_url_rejects(url: str, reason: str) -> None:
    with pytest.raises(InvalidMqttUrl) as caught:
        MqttEndpoint.from_url(url)
    assert reason in str(caught.value)
    assert repr(url) in str(caught.value)


def test_a_password_without_a_user_name_is_refused_without_showing_it() -> None:
    with pytest.raises(InvalidMqttUrl, match="a password needs a user name") as caught:
        MqttEndpoint.from_url("mqtt://:s3cret@broker.local")
    assert "s3cret" not in str(caught.value)


def test_invalid_url_is_a_value_error() -> None:
    assert issubclass(InvalidMqttUrl, ValueError)


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("mqtt://edge:s3cret@broker.local", "mqtt://broker.local:1883"),
        ("mqtts://edge:s3cret@broker.local:9883", "mqtts://broker.local:9883"),
        ("ssl://broker.local", "mqtts://broker.local:8883"),
        ("tcp://broker.local:1", "mqtt://broker.local:1"),
    ],
)
def test_url_property_is_normalised_and_never_shows_credentials(url: str, safe: str) -> None:
    endpoint = MqttEndpoint.from_url(url)
    assert endpoint.url == safe
    assert "s3cret" not in endpoint.url
    assert "edge" not in endpoint.url
