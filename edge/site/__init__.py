"""The site file (`site.toml`): loaded into immutable typed settings, every problem named by key and line.

`load_site` and `parse_site` are what `floorgate run --config`, `floorgate check-config` and
`floorgate sim` call. The room's modules, each one concern:

- `schema`: the settings, typed and immutable; `fields`: the value types and checks they share.
- `rules`: the checks that span entries (zone references, duplicates, either-or keys).
- `messages`: pydantic's errors in the file's own words; `lines`: the line each key is written on.
- `load`: reading the file and running both passes, so one run lists every problem.
"""

from __future__ import annotations

from floorgate.edge.site.fields import (
    POLLED_SCALE_PROTOCOLS,
    KeyboardLayout,
    ScaleProtocol,
    ScaleStability,
    StationKind,
    ToledoChecksum,
)
from floorgate.edge.site.load import ConfigError, ConfigProblem, load_site, parse_site
from floorgate.edge.site.schema import (
    EdgeSettings,
    HidScanner,
    HttpSettings,
    LocationSpec,
    MqttDevice,
    MqttScale,
    MqttSettings,
    ScaleSpec,
    ScannerSpec,
    SerialScale,
    SerialScanner,
    SiteConfig,
    SiteSettings,
    StationSpec,
    StoreSettings,
    TokenSpec,
    WallSpec,
    WebhookDeliverySettings,
    WebhookSpec,
    ZoneSpec,
)

__all__ = [
    "POLLED_SCALE_PROTOCOLS",
    "ConfigError",
    "ConfigProblem",
    "EdgeSettings",
    "HidScanner",
    "HttpSettings",
    "KeyboardLayout",
    "LocationSpec",
    "MqttDevice",
    "MqttScale",
    "MqttSettings",
    "ScaleProtocol",
    "ScaleSpec",
    "ScaleStability",
    "ScannerSpec",
    "SerialScale",
    "SerialScanner",
    "SiteConfig",
    "SiteSettings",
    "StationKind",
    "StationSpec",
    "StoreSettings",
    "TokenSpec",
    "ToledoChecksum",
    "WallSpec",
    "WebhookDeliverySettings",
    "WebhookSpec",
    "ZoneSpec",
    "load_site",
    "parse_site",
]
