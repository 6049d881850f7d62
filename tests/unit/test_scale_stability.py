"""Stable-weight detection: the scale's flag, the time-based fallback, and both together."""

from __future__ import annotations

from decimal import Decimal

import pytest

from floorgate.devices.scales.stability import StabilityDetector, StabilityMode, StabilityPolicy
from floorgate.edge.site import MqttScale, SerialScale
from floorgate.edge.wiring.scales import MQTT_STABILITY, STABILITY_BY_PROTOCOL, stability_policy

pytestmark = pytest.mark.unit

D = Decimal


def feed(detector: StabilityDetector, readings: list[tuple[float, str | None, bool]]) -> list[bool]:
    return [detector.observe(D(g) if g is not None else None, flag, t) for t, g, flag in readings]


def test_flag_mode_trusts_the_scale() -> None:
    detector = StabilityDetector(StabilityPolicy(mode=StabilityMode.FLAG))
    assert feed(detector, [(0.0, "100", False), (0.1, "100", True), (0.2, "150", True)]) == [
        False,
        True,
        True,
    ]


def test_time_mode_calls_readings_within_one_division_for_the_settle_time_stable() -> None:
    detector = StabilityDetector(StabilityPolicy(mode=StabilityMode.TIME, settle_s=1.0, division_g=D(2)))
    results = feed(
        detector,
        [
            (0.0, "500", False),
            (0.5, "501", False),
            (0.9, "499.5", False),
            (1.0, "500", False),
            (1.2, "501", False),
        ],
    )
    assert results == [False, False, False, True, True]


def test_time_mode_starts_again_when_a_reading_leaves_the_band() -> None:
    detector = StabilityDetector(StabilityPolicy(mode=StabilityMode.TIME, settle_s=1.0, division_g=D(1)))
    results = feed(
        detector, [(0.0, "500", False), (1.1, "500", False), (1.2, "503", False), (2.0, "503", False)]
    )
    assert results == [False, True, False, False]


def test_a_lying_flag_that_claims_stable_while_settling_is_overruled_by_time() -> None:
    detector = StabilityDetector(
        StabilityPolicy(mode=StabilityMode.FLAG_AND_TIME, settle_s=0.5, division_g=D(1))
    )
    settling = [(0.0, "300", True), (0.1, "450", True), (0.2, "560", True), (0.3, "590", True)]
    assert feed(detector, settling) == [False, False, False, False]
    assert feed(detector, [(0.6, "590.5", True), (0.9, "590", True)]) == [False, True]


def test_both_mode_still_needs_the_flag() -> None:
    detector = StabilityDetector(StabilityPolicy(mode=StabilityMode.FLAG_AND_TIME, settle_s=0.0))
    assert feed(detector, [(0.0, "10", False), (1.0, "10", True)]) == [False, True]


def test_the_band_defaults_to_the_division_the_scale_reports() -> None:
    detector = StabilityDetector(StabilityPolicy(mode=StabilityMode.TIME, settle_s=1.0))
    assert not detector.observe(D(1000), False, 0.0, division_g=D(5))
    assert detector.observe(D(1004), False, 1.0, division_g=D(5))


def test_an_overload_reading_restarts_the_settle_time() -> None:
    detector = StabilityDetector(StabilityPolicy(mode=StabilityMode.TIME, settle_s=1.0))
    assert feed(
        detector, [(0.0, "500", False), (0.8, None, False), (1.2, "500", False), (2.2, "500", False)]
    ) == [
        False,
        False,
        False,
        True,
    ]


def test_a_negative_settle_time_is_refused() -> None:
    with pytest.raises(ValueError, match="settle_s"):
        StabilityPolicy(settle_s=-1)


def test_the_site_files_stability_settings_override_the_protocol_default_and_keep_the_rest() -> None:
    default = STABILITY_BY_PROTOCOL["nci"]
    serial = SerialScale(transport="serial", port="/dev/x", protocol="nci", stability="time", settle_s=2.5)
    assert stability_policy(serial, default) == StabilityPolicy(mode=StabilityMode.TIME, settle_s=2.5)
    mqtt = MqttScale(transport="mqtt", id="S-1", stability="flag+time")
    assert stability_policy(mqtt, MQTT_STABILITY) == StabilityPolicy(
        mode=StabilityMode.FLAG_AND_TIME, settle_s=MQTT_STABILITY.settle_s
    )
    untouched = SerialScale(transport="serial", port="/dev/x", protocol="nci")
    assert stability_policy(untouched, default) == default
