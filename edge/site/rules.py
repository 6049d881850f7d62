"""Rules across entries of a site file (zone references, duplicates, either-or keys), checked on the raw TOML.

They run on the parsed TOML rather than the settings so that they are reported alongside the shape
problems pydantic finds, in the same run of `check-config`.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from floorgate.edge.site.fields import POLLED_SCALE_PROTOCOLS, ScaleProtocol
from floorgate.edge.site.lines import KeyLines, Loc, format_key
from floorgate.edge.site.quoting import shorten


def check_rules(data: Mapping[str, Any], environ: Mapping[str, str], keys: KeyLines) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    zones = _entries(data, "zones")
    found += _duplicates(((("zones", i, "id"), zone.get("id")) for i, zone in zones), "zone id", keys)
    zone_ids = {zone["id"] for _, zone in zones if isinstance(zone.get("id"), str)}

    edge = data.get("edge")
    owned = edge.get("zones") if isinstance(edge, dict) else None
    if isinstance(owned, list):
        if not owned:
            found.append((("edge", "zones"), "must name at least one zone; leave it out to own every zone"))
        owned_locs = [(("edge", "zones", i), zone) for i, zone in enumerate(owned)]
        found += _duplicates(owned_locs, "zone", keys)
        for loc, zone in owned_locs:
            found += _zone_reference(loc, zone, zone_ids)

    locations = _entries(data, "locations")
    found += _duplicates(
        ((("locations", i, "code"), loc.get("code")) for i, loc in locations), "location code", keys
    )
    found += _duplicates(
        ((("locations", i, "module"), loc.get("module")) for i, loc in locations), "module", keys
    )
    for i, location in locations:
        found += _zone_reference(("locations", i, "zone"), location.get("zone"), zone_ids)

    stations = _entries(data, "stations")
    found += _duplicates(
        ((("stations", i, "id"), station.get("id")) for i, station in stations), "station id", keys
    )
    for i, station in stations:
        if "zone" in station:
            found += _zone_reference(("stations", i, "zone"), station["zone"], zone_ids)
        elif station.get("kind") == "zone":
            found.append((("stations", i, "zone"), "required when kind = 'zone'"))
        if station.get("mode", "pick") != "pick" and station.get("kind") != "zone":
            found.append((("stations", i, "mode"), "only a station of kind = 'zone' has a mode"))
    walls = _entries(data, "walls")
    found += _wall_rules(walls, stations, locations, zone_ids, keys)
    found += _device_conflicts(
        [("stations", i, st) for i, st in stations] + [("walls", i, w) for i, w in walls], keys
    )
    found += _scale_settings(stations)

    found += _either_or(_entries(data, "tokens"), "tokens", "token")
    found += _either_or(_entries(data, "webhooks"), "webhooks", "secret")
    mqtt = data.get("mqtt")
    if isinstance(mqtt, dict):
        found += _either_or([(None, mqtt)], "mqtt", "password")
    found += _duplicate_tokens(_entries(data, "tokens"), environ, keys)
    return found


def _entries(data: Mapping[str, Any], section: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(section)
    if not isinstance(value, list):
        return []
    return [(i, entry) for i, entry in enumerate(value) if isinstance(entry, dict)]


def _where(loc: Loc, keys: KeyLines) -> str:
    line = keys.line_of(loc)
    return f"{format_key(loc)} (line {line})" if line is not None else format_key(loc)


def _duplicates(entries: Iterable[tuple[Loc, object]], what: str, keys: KeyLines) -> list[tuple[Loc, str]]:
    first: dict[str, Loc] = {}
    found: list[tuple[Loc, str]] = []
    for loc, value in entries:
        if not isinstance(value, str):
            continue
        if value in first:
            found.append((loc, f"duplicate {what} {value!r}: already used by {_where(first[value], keys)}"))
        else:
            first[value] = loc
    return found


def _zone_reference(loc: Loc, zone: object, zone_ids: set[str]) -> list[tuple[Loc, str]]:
    if not isinstance(zone, str) or zone in zone_ids:
        return []
    close = difflib.get_close_matches(zone, sorted(zone_ids), n=1)
    if close:
        hint = f"; did you mean {close[0]!r}?"
    elif zone_ids:
        hint = f"; declared zones: {', '.join(sorted(zone_ids))}"
    else:
        hint = "; no [[zones]] are declared"
    return [(loc, f"unknown zone {shorten(zone)!r}{hint}")]


def _device_conflicts(
    stations: list[tuple[str, int, dict[str, Any]]], keys: KeyLines
) -> list[tuple[Loc, str]]:
    # Two stations (or walls) cannot share one physical port or input device, and two scales (or two
    # scanners) with one MQTT id would read each other's messages.
    ports: list[tuple[Loc, object]] = []
    inputs: list[tuple[Loc, object]] = []
    mqtt_ids: dict[str, list[tuple[Loc, object]]] = {"scale": [], "scanner": []}
    for section, i, station in stations:
        for role in ("scale", "scanner"):
            device = station.get(role)
            if not isinstance(device, dict):
                continue
            transport = device.get("transport")
            if transport == "serial":
                ports.append(((section, i, role, "port"), device.get("port")))
            elif transport == "hid":
                inputs.append(((section, i, role, "device"), device.get("device")))
            elif transport == "mqtt":
                mqtt_id = device.get("id", station.get("id"))
                mqtt_ids[role].append(((section, i, role, "id"), mqtt_id))
    found = _duplicates(ports, "serial port", keys)
    found += _duplicates(inputs, "input device", keys)
    for role, ids in mqtt_ids.items():
        found += _duplicates(ids, f"MQTT {role} id", keys)
    return found


def _wall_rules(
    walls: list[tuple[int, dict[str, Any]]],
    stations: list[tuple[int, dict[str, Any]]],
    locations: list[tuple[int, dict[str, Any]]],
    zone_ids: set[str],
    keys: KeyLines,
) -> list[tuple[Loc, str]]:
    # A wall's scanner is a station of the floor's, so its id is one too; a cubby is a module no bin has.
    ids: list[tuple[Loc, object]] = [(("stations", i, "id"), st.get("id")) for i, st in stations]
    ids += [(("walls", i, "id"), wall.get("id")) for i, wall in walls]
    # Two stations sharing an id are reported by themselves.
    found = [(loc, msg) for loc, msg in _duplicates(ids, "station or wall id", keys) if loc[0] == "walls"]
    modules: list[tuple[Loc, object]] = [
        (("locations", i, "module"), loc.get("module")) for i, loc in locations
    ]
    for i, wall in walls:
        cubbies = wall.get("cubbies")
        if isinstance(cubbies, list):
            modules += [(("walls", i, "cubbies", n), cubby) for n, cubby in enumerate(cubbies)]
        if "zone" in wall:
            found += _zone_reference(("walls", i, "zone"), wall["zone"], zone_ids)
    found += [
        (loc, message)
        for loc, message in _duplicates(modules, "module", keys)
        if loc[0] == "walls"  # two locations sharing a module are reported by themselves
    ]
    return found


def _scale_settings(stations: list[tuple[int, dict[str, Any]]]) -> list[tuple[Loc, str]]:
    # Settings that are valid values but mean nothing for this scale: said, not silently ignored.
    found: list[tuple[Loc, str]] = []
    for i, station in stations:
        scale = station.get("scale")
        if not isinstance(scale, dict):
            continue
        protocol = scale.get("protocol")
        if "settle_s" in scale and scale.get("stability", "flag") == "flag":
            found.append(
                (
                    ("stations", i, "scale", "settle_s"),
                    "only used with stability = 'time' or 'flag+time' (the scale's own flag is trusted)",
                )
            )
        if scale.get("transport") != "serial" or protocol not in typing.get_args(ScaleProtocol):
            continue  # a wrong transport or protocol is reported by itself
        if "poll_interval_s" in scale and protocol not in POLLED_SCALE_PROTOCOLS:
            found.append(
                (
                    ("stations", i, "scale", "poll_interval_s"),
                    f"only for polled protocols (mt-sics, nci): {protocol} streams by itself",
                )
            )
        if "checksum" in scale and protocol != "toledo-continuous":
            found.append(
                (
                    ("stations", i, "scale", "checksum"),
                    f"only for protocol = 'toledo-continuous', not {protocol}",
                )
            )
    return found


def _either_or(
    entries: Iterable[tuple[int | None, dict[str, Any]]], section: str, field: str
) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    for i, entry in entries:
        if entry.get(field) not in (None, "") and f"{field}_env" in entry:
            loc: Loc = (section, f"{field}_env") if i is None else (section, i, f"{field}_env")
            found.append((loc, f"give {field} or {field}_env, not both"))
    return found


def _duplicate_tokens(
    tokens: list[tuple[int, dict[str, Any]]], environ: Mapping[str, str], keys: KeyLines
) -> list[tuple[Loc, str]]:
    # One value with two roles would make the role depend on which entry wins: refuse it, and
    # never print the value.
    first: dict[str, Loc] = {}
    found: list[tuple[Loc, str]] = []
    for i, entry in tokens:
        value = entry.get("token")
        env_name = entry.get("token_env")
        if value in (None, "") and isinstance(env_name, str):
            value = environ.get(env_name)
        if not isinstance(value, str) or not value:
            continue
        if value in first:
            message = f"same token value as {_where(first[value], keys)}; each token must be unique"
            found.append((("tokens", i), message))
        else:
            first[value] = ("tokens", i)
    return found
