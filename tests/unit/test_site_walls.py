"""Put walls in the site file: cubbies and a scanner of any transport, each problem named by key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from floorgate.edge.site import ConfigError, ConfigProblem, MqttDevice, SerialScanner, SiteConfig, parse_site

pytestmark = pytest.mark.unit

BASE = """\
[site]
id = "dc1"

[edge]
id = "edge-1"

[[zones]]
id = "A"

[[locations]]
code = "A-01"
zone = "A"
module = "M-A-01"

[[stations]]
id = "PACK-1"
kind = "pack"
scanner = { transport = "serial", port = "/dev/ttyACM0" }
"""


def parse(text: str) -> SiteConfig:
    return parse_site(BASE + text, source="site.toml", environ={}, base_dir=Path("/srv/site"))


def problems_of(text: str) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value.problems


def test_a_wall_names_its_cubbies_in_order_and_a_scanner_of_any_transport() -> None:
    config = parse(
        """
[[walls]]
id = "W1"
cubbies = ["W1-01", "W1-02"]
scanner = { transport = "serial", port = "/dev/ttyACM1" }

[[walls]]
id = "W2"
zone = "A"
cubbies = ["W2-01"]
scanner = { transport = "mqtt" }
"""
    )

    first, second = config.walls
    assert (first.id, first.cubbies, first.zone) == ("W1", ("W1-01", "W1-02"), None)
    assert isinstance(first.scanner, SerialScanner)
    assert isinstance(second.scanner, MqttDevice)
    assert second.scanner.id == "W2"  # an MQTT scanner's id defaults to the wall's
    assert [wall.id for wall in config.owned_walls()] == ["W1", "W2"]


@pytest.mark.parametrize(
    ("wall", "key", "says"),
    [
        ('id = "W1"\ncubbies = []', "walls[0].cubbies", "at least 1"),
        ('id = "W1"\ncubbies = ["W1-01", "W1-01"]', "walls[0].cubbies[1]", "duplicate module 'W1-01'"),
        ('id = "W1"\ncubbies = ["M-A-01"]', "walls[0].cubbies[0]", "duplicate module 'M-A-01'"),
        ('id = "PACK-1"\ncubbies = ["W1-01"]', "walls[0].id", "duplicate station or wall id 'PACK-1'"),
        ('id = "W1"\nzone = "Q"\ncubbies = ["W1-01"]', "walls[0].zone", "unknown zone 'Q'"),
        (
            'id = "W1"\ncubbies = ["W1-01"]\nscanner = { transport = "serial", port = "/dev/ttyACM0" }',
            "walls[0].scanner.port",
            "duplicate serial port",
        ),
    ],
)
def test_a_bad_wall_is_refused_naming_the_key(wall: str, key: str, says: str) -> None:
    problems = problems_of(f"\n[[walls]]\n{wall}\n")

    assert any(key in p.key and says in p.message for p in problems), problems
