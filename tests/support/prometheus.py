"""/metrics read with Prometheus's own parser, and checked as Prometheus reads it: every family with its
HELP and TYPE, and every histogram whole (ascending `le` up to +Inf, cumulative counts, `_sum`, `_count`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

KNOWN_TYPES = {"counter", "gauge", "histogram"}
_COMMENT = re.compile(r"^# (HELP|TYPE) (\S+) (.*)$")


@dataclass(frozen=True)
class Exposition:
    text: str
    families: dict[str, Metric]

    def value(self, sample: str, **labels: str) -> float:
        """The value of the one sample of that name (as written, `_total` included) and those labels."""
        found = [
            s.value
            for family in self.families.values()
            for s in family.samples
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        assert len(found) == 1, f"expected one sample {sample}{labels}, found {found} in:\n{self.text}"
        return found[0]

    def declared(self) -> set[str]:
        """The family names as the exposition's TYPE lines give them (`_total` kept)."""
        return {
            m.group(2) for line in self.text.splitlines() if (m := _COMMENT.match(line)) and m[1] == "TYPE"
        }


def read_exposition(text: str) -> Exposition:
    """Parse `text`, failing with the offending family unless every one is described, typed and whole."""
    _each_sample_described(text)
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for family in families.values():
        assert family.type in KNOWN_TYPES, f"{family.name} has type {family.type!r}"
        assert family.documentation.strip(), f"{family.name} has no HELP text"
        if family.type == "histogram":
            _whole_histogram(family)
    return Exposition(text=text, families=families)


def _each_sample_described(text: str) -> None:
    """Every sample line follows one HELP and one TYPE line of its own family (the parser forgives both)."""
    helps: dict[str, int] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        comment = _COMMENT.match(line)
        if comment:
            kind, name = comment[1], comment[2]
            if kind == "HELP":
                helps[name] = helps.get(name, 0) + 1
            else:
                assert name not in types, f"two TYPE lines for {name}"
                types[name] = comment[3]
            continue
        if not line.strip():
            continue
        name = re.split(r"[{ ]", line, maxsplit=1)[0]
        family = name
        if name not in types:
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert types.get(family) == "histogram", f"sample {name} has no TYPE line of its own"
        assert helps.get(family) == 1, f"{family} has {helps.get(family, 0)} HELP lines"


def _whole_histogram(family: Metric) -> None:
    buckets = [(float(s.labels["le"]), s.value) for s in family.samples if s.name.endswith("_bucket")]
    sums = [s.value for s in family.samples if s.name.endswith("_sum")]
    counts = [s.value for s in family.samples if s.name.endswith("_count")]
    name = family.name
    assert buckets, f"{name}: no buckets"
    bounds = [le for le, _ in buckets]
    assert bounds == sorted(set(bounds)), f"{name}: le not strictly ascending: {bounds}"
    assert math.isinf(bounds[-1]), f"{name}: the last bucket is not +Inf"
    cumulative = [count for _, count in buckets]
    assert cumulative == sorted(cumulative), f"{name}: bucket counts are not cumulative: {cumulative}"
    assert len(sums) == 1, f"{name}: expected one _sum, found {sums}"
    assert len(counts) == 1, f"{name}: expected one _count, found {counts}"
    assert counts[0] == cumulative[-1], f"{name}: _count {counts[0]} is not the +Inf bucket {cumulative[-1]}"
    assert sums[0] >= 0, f"{name}: a negative _sum of durations"
