"""The site file loader: defaults, the documented example, and problems named by key and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from floorgate.edge.site import (
    ConfigError,
    ConfigProblem,
    HidScanner,
    MqttDevice,
    MqttScale,
    SerialScale,
    SiteConfig,
    load_site,
    parse_site,
)
from floorgate.web.roles import ROLE_PERMISSIONS, Permission, Role

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "site.example.toml"
EXAMPLE_ENV = {
    "FLOORGATE_MQTT_PASSWORD": "mqtt-password-from-env",
    "FLOORGATE_ERP_TOKEN": "erp-token-from-env",
    "FLOORGATE_WEBHOOK_SECRET": "whsec_c2VjcmV0LWZyb20tdGhlLWVudmlyb25tZW50",
}
MINIMAL = """\
[site]
id = "dc1"

[edge]
id = "edge-1"
"""
# Marks the line a broken file's problem must be reported on.
MARK = "# <-"


def parse(text: str, *, environ: dict[str, str] | None = None, base_dir: Path | None = None) -> SiteConfig:
    return parse_site(text, source="site.toml", environ=environ or {}, base_dir=base_dir or Path("/srv/site"))


def problems_of(text: str, *, environ: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        parse(text, environ=environ)
    return caught.value.problems


def marked_line(text: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if MARK in line)


# ---------------------------------------------------------------------------------------------
# Files that load


def test_the_documented_example_loads_with_every_section() -> None:
    config = load_site(EXAMPLE, environ=EXAMPLE_ENV)

    assert config.site.id == "dc1"
    assert config.edge.data_dir == EXAMPLE.parent / "data"
    assert config.edge.zones == ("A", "B")
    assert config.store.url == f"sqlite:///{EXAMPLE.parent / 'data' / 'floorgate.db'}"
    assert config.mqtt is not None
    endpoint = config.mqtt.endpoint()
    assert (endpoint.host, endpoint.port, endpoint.tls) == ("127.0.0.1", 1883, False)
    assert endpoint.password == "mqtt-password-from-env"
    assert config.tokens_by_value() == {
        "erp-token-from-env": Role.ERP,
        "change-me-viewer-token": Role.VIEWER,
    }
    assert config.webhooks[0].secret.get_secret_value() == EXAMPLE_ENV["FLOORGATE_WEBHOOK_SECRET"]
    assert config.webhooks[0].wants("pick.confirmed")
    assert not config.webhooks[0].wants("order.received")
    assert config.webhooks[1].wants("device.offline")
    assert [zone.scan_verify for zone in config.zones] == [False, True]
    assert [location.module for location in config.locations] == ["A-01-01", "B-01-01"]
    pack_1, pack_2, zone_a, put_a = config.stations
    assert pack_1.scale == SerialScale(
        transport="serial",
        port="/dev/ttyUSB0",
        baud=9600,
        protocol="mt-sics",
        stability="flag+time",
        settle_s=0.8,
        poll_interval_s=0.2,
    )
    assert isinstance(pack_1.scanner, HidScanner)
    assert (pack_1.tolerance_g, pack_1.tolerance_pct, pack_1.tare_g) == (15.0, 2.0, 120.0)
    assert pack_2.scale == MqttScale(transport="mqtt", id="scale-pack-2", stability="time", settle_s=1.5)
    assert zone_a.scanner == MqttDevice(transport="mqtt", id="ZONE-A")
    assert (zone_a.mode, put_a.mode) == ("pick", "putaway")
    assert put_a.scanner == MqttDevice(transport="mqtt", id="PUT-A")
    assert config.counts.variance_exception_pct == 5.0


def test_counts_and_station_modes_default_and_a_pack_station_has_no_mode() -> None:
    config = parse(MINIMAL, base_dir=Path("/srv/site"))
    assert config.counts.variance_exception_pct == 5.0
    text = (
        MINIMAL
        + '[counts]\nvariance_exception_pct = 150\n[[stations]]\nid = "P"\nkind = "pack"\nmode = "putaway"\n'
    )
    problems = {p.key: p.message for p in problems_of(text)}
    assert "counts.variance_exception_pct" in problems, problems
    assert "kind = 'zone'" in problems["stations[0].mode"], problems


def test_a_minimal_file_loads_with_defaults() -> None:
    config = parse(MINIMAL, base_dir=Path("/srv/site"))

    assert config.edge.data_dir == Path("/srv/site/data")
    assert config.edge.zones is None
    assert config.edge.retire_finished_orders_after_h == 72
    assert config.edge.delete_events_after_days == 30
    assert config.edge.delete_finished_orders_after_days == 30
    assert config.edge.delete_resolved_exceptions_after_days == 30
    assert config.store.url == "sqlite:////srv/site/data/floorgate.db"
    assert config.mqtt is None
    assert (config.http.host, config.http.port) == ("127.0.0.1", 8000)
    sections = (config.tokens, config.webhooks, config.zones, config.locations, config.stations)
    assert all(section == () for section in sections)
    assert config.tokens_by_value() == {}


def test_relative_paths_are_taken_from_the_site_file_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    site_file = folder / "site.toml"
    site_file.write_text(MINIMAL.replace('id = "edge-1"', 'id = "edge-1"\ndata_dir = "../var/fg"'))

    config = load_site(site_file, environ={})

    assert config.edge.data_dir == tmp_path / "var" / "fg"
    assert config.store.url == f"sqlite:///{tmp_path / 'var' / 'fg' / 'floorgate.db'}"


def test_a_relative_sqlite_store_url_is_anchored_to_the_site_file_folder() -> None:
    config = parse(MINIMAL + '[store]\nurl = "sqlite:///db/fg.db?timeout=5"\n', base_dir=Path("/srv/site"))

    assert config.store.url == "sqlite:////srv/site/db/fg.db?timeout=5"


def test_mqtt_devices_default_their_id_to_the_station_id() -> None:
    text = MINIMAL + textwrap.dedent("""
        [[stations]]
        id = "PACK-9"
        kind = "pack"
        scale = { transport = "mqtt" }
        scanner.transport = "mqtt"
    """)

    (station,) = parse(text).stations

    assert station.scale == MqttScale(transport="mqtt", id="PACK-9")
    assert station.scanner == MqttDevice(transport="mqtt", id="PACK-9")


def test_scale_stability_polling_and_checksum_settings_load() -> None:
    text = MINIMAL + textwrap.dedent("""
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        scale = { transport = "serial", port = "/dev/ttyS1", protocol = "nci", stability = "time", settle_s = 2, poll_interval_s = 0.5 }
        [[stations]]
        id = "PACK-2"
        kind = "pack"
        scale = { transport = "serial", port = "/dev/ttyS2", protocol = "toledo-continuous", checksum = "off" }
        [[stations]]
        id = "PACK-3"
        kind = "pack"
        scale = { transport = "mqtt", stability = "flag+time", settle_s = 0.5 }
    """)

    nci_scale, toledo_scale, mqtt_scale = (station.scale for station in parse(text).stations)

    assert isinstance(nci_scale, SerialScale)
    assert (nci_scale.stability, nci_scale.settle_s, nci_scale.poll_interval_s) == ("time", 2.0, 0.5)
    assert isinstance(toledo_scale, SerialScale)
    assert toledo_scale.checksum == "off"
    assert (toledo_scale.stability, toledo_scale.poll_interval_s) == (None, None)
    assert mqtt_scale == MqttScale(transport="mqtt", id="PACK-3", stability="flag+time", settle_s=0.5)


def test_a_scale_left_without_settings_keeps_the_protocol_defaults() -> None:
    text = MINIMAL + textwrap.dedent("""
        [[stations]]
        id = "P"
        kind = "pack"
        scale = { transport = "serial", port = "/dev/x", protocol = "mt-sics" }
    """)

    (station,) = parse(text).stations

    assert isinstance(station.scale, SerialScale)
    assert (station.scale.stability, station.scale.settle_s) == (None, None)
    assert (station.scale.poll_interval_s, station.scale.checksum) == (None, "auto")


def test_the_edge_owns_only_the_zones_it_names() -> None:
    text = MINIMAL + 'zones = ["B"]\n[[zones]]\nid = "A"\n[[zones]]\nid = "B"\n'

    config = parse(text)

    assert [zone.id for zone in config.owned_zones()] == ["B"]


def test_the_edge_runs_the_stations_of_its_zones_and_those_of_no_zone() -> None:
    text = MINIMAL + textwrap.dedent("""\
        zones = ["B"]
        [[zones]]
        id = "A"
        [[zones]]
        id = "B"
        [[stations]]
        id = "SA"
        kind = "zone"
        zone = "A"
        [[stations]]
        id = "PACK"
        kind = "pack"
        [[stations]]
        id = "SB"
        kind = "zone"
        zone = "B"
    """)

    config = parse(text)

    assert [station.id for station in config.owned_stations()] == ["PACK", "SB"]


def test_a_loaded_config_cannot_be_changed() -> None:
    config = load_site(EXAMPLE, environ=EXAMPLE_ENV)

    with pytest.raises(ValidationError):
        config.http.port = 9000
    assert isinstance(config.stations, tuple)
    assert isinstance(config.edge.zones, tuple)


# ---------------------------------------------------------------------------------------------
# Broken files: each problem names its key and its line

BROKEN = {
    "wrong type": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [http]
        port = "8000"  # <-
        """,
        "http.port",
        "must be an integer (got '8000')",
    ),
    "unknown key with a suggestion": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        tolerence_g = 15  # <-
        """,
        "stations[0].tolerence_g",
        "unknown key; did you mean 'tolerance_g'?",
    ),
    "unknown section with a suggestion": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[station]]  # <-
        id = "PACK-1"
        """,
        "station",
        "did you mean 'stations'?",
    ),
    "missing required key, at its table's header": (
        """
        [site]  # <-
        [edge]
        id = "edge-1"
        """,
        "site.id",
        "required key is missing",
    ),
    "missing token, at its array-of-tables header": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[tokens]]
        token = "t-1"
        role = "viewer"
        [[tokens]]  # <-
        role = "erp"
        """,
        "tokens[1].token",
        "required key is missing (or give token_env)",
    ),
    "bad enum value": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[tokens]]
        token = "t-1"
        role = "boss"  # <-
        """,
        "tokens[0].role",
        "must be 'viewer', 'supervisor', 'erp' or 'admin' (got 'boss')",
    ),
    "bad device transport in an inline table": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        scanner = { transport = "usb" }  # <-
        """,
        "stations[0].scanner.transport",
        "must be one of 'serial', 'hid', 'mqtt' (got 'usb')",
    ),
    "bad key inside an inline table": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        scale = { transport = "serial", port = "/dev/ttyUSB0", protocol = "mt-sic" }  # <-
        """,
        "stations[0].scale.protocol",
        "must be 'mt-sics', 'toledo-continuous' or 'nci' (got 'mt-sic')",
    ),
    "bad baud rate in a dotted key": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        scale.transport = "serial"
        scale.port = "/dev/ttyUSB0"
        scale.protocol = "nci"
        scale.baud = 9601  # <-
        """,
        "stations[0].scale.baud",
        "must be a standard baud rate",
    ),
    "missing key in a sub-table of the second station": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        [[stations]]
        id = "PACK-2"
        kind = "pack"
        [stations.scale]  # <-
        transport = "serial"
        protocol = "mt-sics"
        """,
        "stations[1].scale.port",
        "required key is missing",
    ),
    "bad MQTT URL": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [mqtt]
        url = "http://broker:1883"  # <-
        """,
        "mqtt.url",
        "must start with mqtt:// or mqtts://",
    ),
    "bad webhook URL": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[webhooks]]
        url = "ftp://erp.example.com/hooks"  # <-
        secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        """,
        "webhooks[0].url",
        "must be an http:// or https:// URL",
    ),
    "unknown event type in a multi-line array": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[webhooks]]
        url = "https://erp.example.com/hooks"
        secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        events = [
            "pick.*",
            "pack.verifed",  # <-
        ]
        """,
        "webhooks[0].events[1]",
        "did you mean 'pack.verified'?",
    ),
    "site id that is not MQTT-safe": (
        """
        [site]
        id = "dc/1"  # <-
        [edge]
        id = "edge-1"
        """,
        "site.id",
        "no '/', '+', '#' or spaces (got 'dc/1')",
    ),
    "negative tolerance": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        [[stations]]
        id = "PACK-2"
        kind = "pack"
        tolerance_g = -3  # <-
        """,
        "stations[1].tolerance_g",
        "must be >= 0 (got -3)",
    ),
    "unknown zone in a location": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[zones]]
        id = "A"
        [[locations]]
        code = "B-01-01"
        zone = "B"  # <-
        """,
        "locations[0].zone",
        "unknown zone 'B'; declared zones: A",
    ),
    "unknown zone in a station": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[zones]]
        id = "ZONE-A"
        [[stations]]
        id = "START-A"
        kind = "zone"
        zone = "ZONE-B"  # <-
        """,
        "stations[0].zone",
        "unknown zone 'ZONE-B'; did you mean 'ZONE-A'?",
    ),
    "zone station without its zone": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]  # <-
        id = "START-A"
        kind = "zone"
        """,
        "stations[0].zone",
        "required when kind = 'zone'",
    ),
    "duplicate location code, naming both": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[zones]]
        id = "A"
        [[locations]]
        code = "A-01-01"
        zone = "A"
        [[locations]]
        code = "A-01-01"  # <-
        zone = "A"
        """,
        "locations[1].code",
        "duplicate location code 'A-01-01': already used by locations[0].code (line 8)",
    ),
    "duplicate module, naming both": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[zones]]
        id = "A"
        [[locations]]
        code = "A-01-01"
        zone = "A"
        module = "M-1"
        [[locations]]
        code = "A-01-02"
        zone = "A"
        module = "M-1"  # <-
        """,
        "locations[1].module",
        "duplicate module 'M-1': already used by locations[0].module (line 10)",
    ),
    "token_env that is not set": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[tokens]]
        token_env = "FLOORGATE_MISSING_TOKEN"  # <-
        role = "erp"
        """,
        "tokens[0].token_env",
        "environment variable FLOORGATE_MISSING_TOKEN is not set",
    ),
    "token and token_env together": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[tokens]]
        token = "t-1"
        token_env = "HOME"  # <-
        role = "erp"
        """,
        "tokens[0].token_env",
        "give token or token_env, not both",
    ),
    "two stations on one serial port": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        scale = { transport = "serial", port = "/dev/ttyUSB0", protocol = "nci" }
        [[stations]]
        id = "PACK-2"
        kind = "pack"
        scanner = { transport = "serial", port = "/dev/ttyUSB0" }  # <-
        """,
        "stations[1].scanner.port",
        "duplicate serial port '/dev/ttyUSB0': already used by stations[0].scale.port (line 8)",
    ),
    "unknown scale stability mode": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        [stations.scale]
        transport = "serial"
        port = "/dev/ttyUSB0"
        protocol = "nci"
        stability = "timed"  # <-
        """,
        "stations[0].scale.stability",
        "must be 'flag', 'time' or 'flag+time' (got 'timed')",
    ),
    "settle time out of range": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        scale = { transport = "mqtt", stability = "time", settle_s = 0 }  # <-
        """,
        "stations[0].scale.settle_s",
        "must be >= 0.1 (got 0)",
    ),
    "settle time without a time-based stability": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        [stations.scale]
        transport = "mqtt"
        settle_s = 1.5  # <-
        """,
        "stations[0].scale.settle_s",
        "only used with stability = 'time' or 'flag+time'",
    ),
    "poll interval on a streaming scale": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        [stations.scale]
        transport = "serial"
        port = "/dev/ttyUSB0"
        protocol = "toledo-continuous"
        poll_interval_s = 0.5  # <-
        """,
        "stations[0].scale.poll_interval_s",
        "only for polled protocols (mt-sics, nci): toledo-continuous streams by itself",
    ),
    "unknown toledo checksum setting": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        [stations.scale]
        transport = "serial"
        port = "/dev/ttyUSB0"
        protocol = "toledo-continuous"
        checksum = true  # <-
        """,
        "stations[0].scale.checksum",
        "must be 'on', 'off' or 'auto' (got true)",
    ),
    "checksum on a protocol that has none": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        [stations.scale]
        transport = "serial"
        port = "/dev/ttyUSB0"
        protocol = "mt-sics"
        checksum = "on"  # <-
        """,
        "stations[0].scale.checksum",
        "only for protocol = 'toledo-continuous', not mt-sics",
    ),
    "poll interval on an mqtt scale": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        [stations.scale]
        transport = "mqtt"
        poll_interval_s = 0.5  # <-
        """,
        "stations[0].scale.poll_interval_s",
        "unknown key",
    ),
    "webhook retry cap below its base": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [webhook_delivery]  # <-
        retry_base_s = 30
        retry_max_s = 5
        """,
        "webhook_delivery",
        "retry_max_s (5) must not be below retry_base_s (30)",
    ),
    "webhook attempts of zero": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [webhook_delivery]
        max_attempts = 0  # <-
        """,
        "webhook_delivery.max_attempts",
        "must be >= 1 (got 0)",
    ),
    "a negative retention for finished orders": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        retire_finished_orders_after_h = -1  # <-
        """,
        "edge.retire_finished_orders_after_h",
        "must be >= 0 (got -1)",
    ),
    "an event log kept less than a day": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        delete_events_after_days = 0  # <-
        """,
        "edge.delete_events_after_days",
        "must be >= 1 (got 0)",
    ),
    "finished orders leaving the store before memory": (
        """
        [site]
        id = "dc1"
        [edge]  # <-
        id = "edge-1"
        retire_finished_orders_after_h = 240
        delete_finished_orders_after_days = 7
        """,
        "edge",
        "delete_finished_orders_after_days (7) must not be shorter than retire_finished_orders_after_h "
        "(240 h = 10 days)",
    ),
    "resolved exceptions kept less than a day": (
        """
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        delete_resolved_exceptions_after_days = 0.5  # <-
        """,
        "edge.delete_resolved_exceptions_after_days",
        "must be >= 1 (got 0.5)",
    ),
}


@pytest.mark.parametrize(("text", "key", "message"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_file_names_the_key_and_the_line(text: str, key: str, message: str) -> None:
    text = textwrap.dedent(text).lstrip("\n")

    problems = problems_of(text, environ={"HOME": "/root"})

    assert [(p.key, p.line) for p in problems] == [(key, marked_line(text))]
    assert message in problems[0].message


def test_a_toml_syntax_error_is_reported_with_its_line() -> None:
    text = MINIMAL + "[http]\nport = 80 80\n"

    (problem,) = problems_of(text)

    assert problem.line == 7
    assert problem.key == ""
    assert problem.message.startswith("TOML syntax error: ")
    with pytest.raises(ConfigError, match=r"^site\.toml:7: TOML syntax error: "):
        parse(text)


def test_every_problem_in_the_file_is_reported_at_once() -> None:
    text = textwrap.dedent("""\
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [http]
        port = 70000
        [[zones]]
        id = "A"
        [[locations]]
        code = "A-01"
        zone = "Z"
        [[stations]]
        id = "PACK-1"
        kind = "pack"
        tolerance_g = -3
        tare_g = "heavy"
        """)

    with pytest.raises(ConfigError) as caught:
        parse(text)

    assert [(p.key, p.line) for p in caught.value.problems] == [
        ("http.port", 6),
        ("locations[0].zone", 11),
        ("stations[0].tolerance_g", 15),
        ("stations[0].tare_g", 16),
    ]
    assert str(caught.value).splitlines() == [
        "site.toml:6: http.port: must be <= 65535 (got 70000)",
        "site.toml:11: locations[0].zone: unknown zone 'Z'; declared zones: A",
        "site.toml:15: stations[0].tolerance_g: must be >= 0 (got -3)",
        "site.toml:16: stations[0].tare_g: must be a number (got 'heavy')",
    ]


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "site.toml"

    with pytest.raises(ConfigError, match="file not found") as caught:
        load_site(missing, environ={})

    assert str(caught.value) == f"{missing}: file not found"


def test_a_folder_is_not_a_site_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        load_site(tmp_path, environ={})


def test_a_file_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    site_file = tmp_path / "site.toml"
    site_file.write_bytes(MINIMAL.encode() + b'name = "\xff"\n')

    with pytest.raises(ConfigError) as caught:
        load_site(site_file, environ={})

    assert [(p.line, p.message) for p in caught.value.problems] == [(6, "is not UTF-8 text")]


# ---------------------------------------------------------------------------------------------
# Secrets stay secret

SECRETS = (
    "tok-in-file-7f3a",
    "tok-from-env-91c2",
    "mqtt-pw-5d1e",
    "url-pw-77aa",
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
)


def secret_site(extra: str = "") -> str:
    return textwrap.dedent(f"""\
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [store]
        url = "postgresql+psycopg://fg:url-pw-77aa@db/floorgate"
        [mqtt]
        url = "mqtts://fg:url-pw-77aa@broker.example.com"
        username = "fg"
        password = "mqtt-pw-5d1e"
        [[tokens]]
        token = "tok-in-file-7f3a"
        role = "admin"
        [[tokens]]
        token_env = "FG_TOKEN"
        role = "viewer"
        [[webhooks]]
        url = "https://erp.example.com/hooks"
        secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        {extra}""")


def test_secrets_do_not_appear_in_the_repr_of_a_loaded_config() -> None:
    config = parse(secret_site(), environ={"FG_TOKEN": "tok-from-env-91c2"})

    shown = repr(config) + str(config) + repr(config.tokens) + repr(config.store) + repr(config.mqtt)
    assert config.tokens_by_value() == {"tok-in-file-7f3a": Role.ADMIN, "tok-from-env-91c2": Role.VIEWER}
    assert [secret for secret in SECRETS if secret in shown] == []
    assert "postgresql+psycopg://fg:***@db/floorgate" in shown


def test_secrets_do_not_appear_in_error_messages() -> None:
    text = textwrap.dedent("""\
        [site]
        id = "dc1"
        [edge]
        id = "edge-1"
        [mqtt]
        url = "ftp://fg:url-pw-77aa@broker"
        pasword = "mqtt-pw-5d1e"
        [[tokens]]
        token = "tok-in-file-7f3a"
        role = "admin"
        [[tokens]]
        token = "tok-in-file-7f3a"
        role = "boss"
        [[tokens]]
        token = 12345
        role = "erp"
        [[tokens]]
        token_env = "FG_TOKEN"
        role = "viewer"
        [[webhooks]]
        url = "https://erp.example.com/hooks"
        secret = "not-a-whsec-tok-in-file-7f3a"
        [[webhooks]]
        url = "https://erp.example.com/hooks"
        secret = 0.5
        """)

    with pytest.raises(ConfigError) as caught:
        parse(text, environ={"FG_TOKEN": "tok from env 91c2"})

    message = str(caught.value)
    assert {p.key for p in caught.value.problems} >= {
        "mqtt.url",
        "mqtt.pasword",
        "tokens[1]",
        "tokens[1].role",
        "tokens[2].token",
        "tokens[3].token_env",
        "webhooks[0].secret",
        "webhooks[1].secret",
    }
    leaked = [s for s in (*SECRETS, "tok from env 91c2", "12345", "0.5", "not-a-whsec") if s in message]
    assert leaked == []


# ---------------------------------------------------------------------------------------------
# Roles


def test_roles_grant_their_permissions_and_no_others() -> None:
    assert Role.VIEWER.permissions == {Permission.READ}
    assert Role.SUPERVISOR.permissions == {
        Permission.READ,
        Permission.RESOLVE,
        Permission.OVERRIDE,
        Permission.REPLAY,
        Permission.START_COUNTS,
        Permission.RECOUNT,
    }
    assert Role.ERP.permissions == {
        Permission.READ,
        Permission.WRITE_MASTER_DATA,
        Permission.WRITE_ORDERS,
        Permission.START_COUNTS,
    }
    assert Role.ADMIN.permissions == set(Permission)
    assert set(ROLE_PERMISSIONS) == set(Role)


def test_the_erp_writes_orders_but_cannot_resolve_or_override() -> None:
    assert Role.ERP.allows(Permission.WRITE_ORDERS)
    assert not Role.ERP.allows(Permission.RESOLVE)
    assert not Role.ERP.allows(Permission.OVERRIDE)
    assert not Role.SUPERVISOR.allows(Permission.WRITE_ORDERS)


# ---------------------------------------------------------------------------------------------
# Whatever the text, the loader answers with a config or a ConfigError

SITE_LINES = [
    "[site]",
    "[edge]",
    "[store]",
    "[mqtt]",
    "[http]",
    "[[tokens]]",
    "[[webhooks]]",
    "[[zones]]",
    "[[locations]]",
    "[[stations]]",
    "[stations.scale]",
    "[stations.scanner]",
    'id = "A"',
    'id = "dc/1"',
    "id = 3",
    'zone = "A"',
    'zone = "B"',
    'kind = "zone"',
    'kind = "pack"',
    'code = "A-1"',
    'module = "M1"',
    'transport = "mqtt"',
    'transport = "serial"',
    'port = "/dev/ttyS0"',
    "port = 70000",
    'url = "mqtt://h:1"',
    'url = "sqlite:///x.db"',
    'token = "t"',
    'token_env = "T"',
    'secret_env = "S"',
    'role = "erp"',
    "tolerance_g = -1",
    "tare_g = nan",
    'data_dir = "~nobody-here/x"',
    'zones = ["A", "A"]',
    'scale = { transport = "serial", port = "/dev/ttyS0", protocol = "nci" }',
    'scanner = { transport = "hid" }',
    'events = ["*", "pick.*", "x.*"]',
    '"quoted.key" = 1',
    "a.b.c = 1",
    "x = '''\n[not a table]\n'''",
    "",
]


def problems_or_none(text: str) -> list[ConfigProblem] | None:
    """The problems of a broken text, or None when it loads."""
    try:
        parse(text, environ={"T": "x", "S": "y"})
    except ConfigError as err:
        return err.problems
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text_gives_a_config_or_a_config_error(text: str) -> None:
    problems = problems_or_none(text)

    assert problems is None or problems


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SITE_LINES), max_size=30))
def test_site_like_text_gives_a_config_or_problems_on_real_lines(lines: list[str]) -> None:
    text = "\n".join(lines)

    problems = problems_or_none(text)

    line_count = max(1, len(text.splitlines()))
    assert problems is None or problems
    assert all(p.line is None or 1 <= p.line <= line_count for p in problems or [])


def test_webhook_delivery_settings_default_to_hours_of_retries_and_can_be_tightened() -> None:
    base = '[site]\nid = "dc1"\n[edge]\nid = "edge-1"\n'
    defaults = parse(base).webhook_delivery
    assert (defaults.max_attempts, defaults.retry_base_s, defaults.retry_max_s) == (16, 1.0, 3600.0)
    tight = parse(base + "[webhook_delivery]\nmax_attempts = 3\nretry_base_s = 0.1\nretry_max_s = 0.5\n")
    assert (tight.webhook_delivery.max_attempts, tight.webhook_delivery.retry_max_s) == (3, 0.5)
