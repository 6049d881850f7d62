"""The site file's settings: typed, immutable sections, each checking its own values as it is read."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from floorgate.core.events import Event
from floorgate.devices.mqtt.endpoint import InvalidMqttUrl, InvalidTlsFiles, MqttEndpoint, TlsFiles
from floorgate.edge.site.fields import (
    Array,
    Baud,
    EnvName,
    Grams,
    KeyboardLayout,
    Name,
    Percent,
    ReadableFile,
    ScaleProtocol,
    ScaleStability,
    Slug,
    StationKind,
    ToledoChecksum,
    base_dir_of,
    check_secret,
    check_secret_env,
    empty_problem,
    empty_to_none,
    secret_from_env,
    token_problem,
    webhook_secret_problem,
)
from floorgate.edge.site.quoting import redact_url, shorten
from floorgate.web.roles import Role


class _Section(BaseModel):
    # Strict: TOML is typed, so `port = "8000"` is a mistake to report, not a string to coerce.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "url" and isinstance(value, str) else value


class SiteSettings(_Section):
    id: Slug
    """The MQTT prefix: every topic starts `floorgate/{id}/`."""


class EdgeSettings(_Section):
    id: Slug
    data_dir: Path = Field(default=Path("data"), validate_default=True)
    """Absolute: a relative path in the file is taken from the site file's folder."""
    zones: Array[Name] | None = None
    """The zones this edge process owns; None means all of them."""
    retire_finished_orders_after_h: float = Field(default=72.0, ge=0, le=24 * 366, allow_inf_nan=False)
    """How long a finished order (packed, cancelled, or picked where no pack station exists) stays in
    memory and in `GET /orders`; after that it is read from the store when asked for by id. Memory and
    start-up time then follow the open work, not the edge's age."""
    delete_events_after_days: float = Field(default=30.0, ge=1, le=36_600, allow_inf_nan=False)
    """How long the event log (`GET /events`) keeps an event once every webhook delivery of it is
    delivered; an event still owed to an endpoint stays until it is delivered. The store's size then
    follows the floor's pace, not the edge's age."""
    delete_finished_orders_after_days: float = Field(default=30.0, ge=1, le=36_600, allow_inf_nan=False)
    """How long the store keeps a finished order (with its lines and item scans) after it finished: for
    `GET /orders/{id}` and to answer a replay of its `POST`. After that its id is unknown to the edge.
    At least `retire_finished_orders_after_h`: an order leaves memory before it leaves the store."""
    delete_resolved_exceptions_after_days: float = Field(default=30.0, ge=1, le=36_600, allow_inf_nan=False)
    """How long a resolved exception stays in `GET /exceptions` and the store; an open one stays until
    it is resolved. Exception numbers are never given out twice."""

    @model_validator(mode="after")
    def _orders_leave_memory_before_the_store(self) -> EdgeSettings:
        if self.delete_finished_orders_after_days * 24 < self.retire_finished_orders_after_h:
            raise ValueError(
                f"delete_finished_orders_after_days ({self.delete_finished_orders_after_days:g}) must "
                "not be shorter than retire_finished_orders_after_h "
                f"({self.retire_finished_orders_after_h:g} h = "
                f"{self.retire_finished_orders_after_h / 24:g} days): an order leaves memory before "
                "it leaves the store"
            )
        return self

    @field_validator("data_dir", mode="before")
    @classmethod
    def _resolve_data_dir(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, Path):  # the default
            value = str(value)
        if not isinstance(value, str):
            return value  # strict Path validation reports the wrong type
        if not value.strip():
            raise ValueError("must not be empty")
        if "\0" in value:
            raise ValueError("must not contain a NUL character")
        try:
            path = Path(value).expanduser()
        except RuntimeError as err:
            raise ValueError(f"cannot expand '~' in {shorten(value)!r}") from err
        return Path(os.path.abspath(base_dir_of(info) / path))


class StoreSettings(_Section):
    url: str
    """An SQLAlchemy URL. A relative sqlite path is made absolute from the site file's folder."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep or not scheme:
            raise ValueError(
                "must be an SQLAlchemy URL such as sqlite:///data/floorgate.db "
                f"or postgresql+psycopg://host/floorgate (got {shorten(redact_url(value))!r})"
            )
        dialect = scheme.partition("+")[0]
        if dialect not in {"sqlite", "postgresql"}:
            raise ValueError(f"must be a sqlite or postgresql URL, not {scheme}://")
        if dialect == "postgresql" or rest == "":
            return value  # `sqlite://` is an in-memory database
        if not rest.startswith("/"):
            raise ValueError(
                "a sqlite URL has no host: write sqlite:///relative/file.db or sqlite:////absolute/file.db"
            )
        file, question, query = rest[1:].partition("?")
        if file and file != ":memory:" and not file.startswith("file:") and "\0" not in file:
            # SQLAlchemy would take a relative path from the working folder of whoever runs
            # the edge; the site file's folder is the one the author had in mind.
            file = os.path.abspath(base_dir_of(info) / file)
        return f"{scheme}:///{file}{question}{query}"

    max_size_mb: int | None = Field(default=None, ge=1)
    """SQLite only: the most the database file may grow to. Past it commits fail as on a full disk (the
    edge holds its work and refuses new work), so the store cannot fill a disk it shares."""

    @field_validator("max_size_mb")
    @classmethod
    def _sqlite_only(cls, value: int | None, info: ValidationInfo) -> int | None:
        url = info.data.get("url")
        if value is not None and isinstance(url, str) and not url.startswith("sqlite"):
            raise ValueError("applies to an SQLite store only; size a PostgreSQL database on its server")
        return value


def _key_beside_cert(key_file: Path | None, info: ValidationInfo) -> Path | None:
    """`key_file` goes with `cert_file`: neither without the other, and the key must be the certificate's."""
    if "cert_file" not in info.data:
        return key_file  # cert_file itself is wrong and says so
    cert_file = info.data["cert_file"]
    if cert_file is None and key_file is not None:
        raise ValueError("is given without cert_file: give the certificate too, or leave both out")
    if cert_file is not None and key_file is None:
        raise ValueError(f"is missing: cert_file = {str(cert_file)!r} needs its private key")
    if cert_file is not None:
        try:
            TlsFiles(cert_file=cert_file, key_file=key_file).context()
        except InvalidTlsFiles as err:
            raise ValueError(str(err)) from err
    return key_file


class MqttSettings(_Section):
    url: str
    """`mqtt://host:port`, or `mqtts://` for TLS."""
    username: str | None = None
    password: SecretStr | None = None
    password_env: EnvName | None = None
    ca_file: ReadableFile | None = None
    """mqtts://: the CA (PEM) that signed the broker's certificate; without it, the system's CAs."""
    cert_file: ReadableFile | None = None
    """mqtts://: the edge's client certificate (PEM), for a broker that requires one."""
    key_file: ReadableFile | None = Field(default=None, validate_default=True)
    """mqtts://: the private key (PEM, unencrypted) of `cert_file`."""

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _tls_only(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        url = info.data.get("url")
        if value is not None and isinstance(url, str) and not url.startswith(("mqtts://", "ssl://")):
            raise ValueError("applies to TLS only: write the url as mqtts://host:8883")
        return value

    @field_validator("ca_file")
    @classmethod
    def _usable_ca(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                TlsFiles(ca_file=value).context()
            except InvalidTlsFiles as err:
                raise ValueError(str(err)) from err
        return value

    @field_validator("key_file")
    @classmethod
    def _key_with_cert(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _key_beside_cert(value, info)

    @field_validator("username", "password", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        return empty_to_none(value)

    @model_validator(mode="before")
    @classmethod
    def _password_from_env(cls, data: object, info: ValidationInfo) -> object:
        return secret_from_env(data, info, field="password", problem_of=empty_problem)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            MqttEndpoint.from_url(value)
        except InvalidMqttUrl as err:
            # The transport's message quotes the URL, which may carry a password.
            raise ValueError(str(err).replace(repr(value), repr(redact_url(value)))) from err
        return value

    @field_validator("password_env")
    @classmethod
    def _check_password_env(cls, value: str, info: ValidationInfo) -> str:
        return check_secret_env(value, info, empty_problem)

    def endpoint(self) -> MqttEndpoint:
        password = self.password.get_secret_value() if self.password is not None else None
        tls_files = TlsFiles(ca_file=self.ca_file, cert_file=self.cert_file, key_file=self.key_file)
        return MqttEndpoint.from_url(self.url, username=self.username, password=password, tls_files=tls_files)


class HttpSettings(_Section):
    host: Name = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    cert_file: ReadableFile | None = None
    """The dashboard and API over HTTPS: the server's certificate (PEM, with its chain); no plain HTTP then."""
    key_file: ReadableFile | None = Field(default=None, validate_default=True)
    """The private key (PEM, unencrypted) of `cert_file`."""

    @field_validator("key_file")
    @classmethod
    def _key_with_cert(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _key_beside_cert(value, info)

    @property
    def https(self) -> bool:
        return self.cert_file is not None


class TokenSpec(_Section):
    token: SecretStr
    token_env: EnvName | None = None
    """Where `token` came from, when the file named an environment variable instead."""
    role: Role = Field(strict=False)  # lax so that the string "erp" becomes Role.ERP
    name: Name | None = Field(default=None, max_length=64)
    """Whose token this is, a person ("sue") or a system ("erp"): every write made with it records this name
    as its `by` (in its events and the access log). Without it, the role is recorded."""

    @model_validator(mode="before")
    @classmethod
    def _token_from_env(cls, data: object, info: ValidationInfo) -> object:
        return secret_from_env(data, info, field="token", problem_of=token_problem)

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        return check_secret(value, token_problem)

    @field_validator("token_env")
    @classmethod
    def _check_token_env(cls, value: str, info: ValidationInfo) -> str:
        return check_secret_env(value, info, token_problem)


# The event types of the external contract; those defined in core/events.py are added to them.
_CONTRACT_EVENT_TYPES = frozenset(
    {
        "order.received",
        "order.started",
        "pick.confirmed",
        "pick.short",
        "pick.rejected",
        "order.picked",
        "pack.verified",
        "pack.rejected",
        "pack.overridden",
        "inventory.adjusted",
        "device.offline",
        "device.online",
        "exception.raised",
    }
)


def _known_event_types() -> frozenset[str]:
    found = set(_CONTRACT_EVENT_TYPES)
    pending: list[type[Event]] = list(Event.__subclasses__())
    while pending:
        event_class = pending.pop()
        pending.extend(event_class.__subclasses__())
        if event_class.TYPE:
            found.add(event_class.TYPE)
    return frozenset(found)


def _check_event_pattern(value: str) -> str:
    if value == "*":
        return value
    known = _known_event_types()
    if value.endswith(".*"):
        groups = sorted({event_type.partition(".")[0] for event_type in known})
        if value[:-2] in groups:
            return value
        listed = ", ".join(f"{group}.*" for group in groups)
        raise ValueError(f"unknown event group {shorten(value)!r}; known groups: {listed}")
    if value in known:
        return value
    close = difflib.get_close_matches(value, sorted(known), n=1)
    hint = (
        f"; did you mean {close[0]!r}?"
        if close
        else "; use '*', a group such as 'pick.*', or an event type such as 'pack.verified'"
    )
    raise ValueError(f"unknown event type {shorten(value)!r}{hint}")


def _check_http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        usable = parts.scheme in {"http", "https"} and bool(parts.hostname)
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        usable = False
    if not usable:
        shown = shorten(redact_url(value))
        raise ValueError(f"must be an http:// or https:// URL (got {shown!r})")
    return value


class WebhookSpec(_Section):
    url: Annotated[str, AfterValidator(_check_http_url)]
    secret: SecretStr
    secret_env: EnvName | None = None
    events: Array[Annotated[str, AfterValidator(_check_event_pattern)]] = ("*",)
    """Patterns: "*", a group such as "pick.*", or an event type such as "pack.verified"."""
    name: Name | None = None

    @model_validator(mode="before")
    @classmethod
    def _secret_from_env(cls, data: object, info: ValidationInfo) -> object:
        return secret_from_env(data, info, field="secret", problem_of=webhook_secret_problem)

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        return check_secret(value, webhook_secret_problem)

    @field_validator("secret_env")
    @classmethod
    def _check_secret_env(cls, value: str, info: ValidationInfo) -> str:
        return check_secret_env(value, info, webhook_secret_problem)

    @field_validator("events")
    @classmethod
    def _check_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('must list at least one pattern, e.g. ["*"]')
        return value

    def wants(self, event_type: str) -> bool:
        """Whether an event of this type is delivered to this endpoint."""
        return any(
            pattern == "*"
            or pattern == event_type
            or (pattern.endswith(".*") and event_type.startswith(pattern[:-1]))
            for pattern in self.events
        )


class WebhookDeliverySettings(_Section):
    """How the relay retries a delivery its receiver did not take; the same for every endpoint."""

    max_attempts: int = Field(default=16, ge=1, le=10_000)
    """Attempts before a delivery is `failed` (listed by the API and replayable). The defaults make
    16 attempts over about five hours."""
    retry_base_s: float = Field(default=1.0, gt=0, le=3600, allow_inf_nan=False)
    """The wait after the first failed attempt; each later wait is twice the one before, with jitter."""
    retry_max_s: float = Field(default=3600.0, gt=0, le=86_400, allow_inf_nan=False)
    """The longest wait between two attempts."""
    timeout_s: float = Field(default=10.0, gt=0, le=300, allow_inf_nan=False)
    """A receiver that has not answered within this long has failed the attempt."""

    @model_validator(mode="after")
    def _max_not_below_base(self) -> WebhookDeliverySettings:
        if self.retry_max_s < self.retry_base_s:
            raise ValueError(
                f"retry_max_s ({self.retry_max_s:g}) must not be below retry_base_s ({self.retry_base_s:g})"
            )
        return self


class ZoneSpec(_Section):
    id: Name
    scan_verify: bool = False
    """Require an item scan before a pick may be confirmed."""
    name: Name | None = None


class LocationSpec(_Section):
    code: Name
    zone: Name
    module: Slug | None = None
    """The pick-to-light module's MQTT id."""
    sku: Name | None = None
    on_hand: int | None = Field(default=None, ge=0)


class _ScaleStability(_Section):
    """How a scale's readings are judged stable; shared by every scale transport."""

    stability: ScaleStability | None = None
    """flag: trust the scale's motion flag; time: readings within one division for settle_s; flag+time:
    both. None: the protocol's default (flag)."""
    settle_s: Annotated[float, Field(ge=0.1, le=10, allow_inf_nan=False)] | None = None
    """How long readings must stay within one division to count as stable by time (default 1 s)."""


class SerialScale(_ScaleStability):
    transport: Literal["serial"]
    port: Name
    baud: Baud = 9600
    protocol: ScaleProtocol
    poll_interval_s: Annotated[float, Field(ge=0.02, le=10, allow_inf_nan=False)] | None = None
    """mt-sics and nci: how often the edge asks for a weight (default 0.2 s)."""
    checksum: ToledoChecksum = "auto"
    """toledo-continuous: whether the scale sends a checksum byte; auto learns it from the stream."""


class SerialScanner(_Section):
    transport: Literal["serial"]
    port: Name
    baud: Baud = 9600
    suffix: str = Field(default="\r", min_length=1)
    """What the scanner sends after each barcode."""
    prefix: str = ""
    """What the scanner sends before each barcode, if it is set to send anything."""


class HidScanner(_Section):
    transport: Literal["hid"]
    device: Name
    """The evdev device, best given by its stable /dev/input/by-id/ path."""
    layout: KeyboardLayout = "us"
    max_gap_ms: int = Field(default=200, ge=10, le=10_000)
    """A scan whose keys stop for longer than this is dropped as incomplete."""


class MqttDevice(_Section):
    transport: Literal["mqtt"]
    id: Slug
    """The device's MQTT id; the site file may leave it out to use the station id."""


class MqttScale(MqttDevice, _ScaleStability):
    """A scale on MQTT: the device id plus how its `stable` field is trusted."""


ScaleSpec = Annotated[SerialScale | MqttScale, Field(discriminator="transport")]
ScannerSpec = Annotated[SerialScanner | HidScanner | MqttDevice, Field(discriminator="transport")]


class CountSettings(_Section):
    """Cycle counts (docs/contract.md)."""

    variance_exception_pct: Percent = 5.0
    """A counted bin further than this from its record (in percent of the record) raises a
    `count_variance` exception; every difference corrects the record."""


class StationSpec(_Section):
    id: Slug
    kind: StationKind
    zone: Name | None = None
    """For kind = "zone", the zone whose start station this is."""
    mode: Literal["pick", "putaway"] = "pick"
    """For kind = "zone": "pick" starts orders and arms picks; "putaway" puts a scanned item away."""
    tolerance_g: Grams = 10.0
    tolerance_pct: Percent = 0.0
    """A pack passes within tolerance_g or tolerance_pct of the expected weight, whichever is larger."""
    tare_g: Grams = 0.0
    scale: ScaleSpec | None = None
    scanner: ScannerSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _mqtt_ids_default_to_station_id(cls, data: object) -> object:
        return _mqtt_ids_default_to_own_id(data, ("scale", "scanner"))


class WallSpec(_Section):
    """A put wall: a rack of cubbies, each a pick-to-light module, and the scanner the sorter uses."""

    id: Slug
    cubbies: Annotated[Array[Slug], Field(min_length=1)]
    """The cubbies' module ids, in the order orders are given them."""
    zone: Name | None = None
    """The edge that owns this zone runs the wall; left out, every edge does (as for a pack station)."""
    scanner: ScannerSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _mqtt_scanner_id_defaults_to_wall_id(cls, data: object) -> object:
        return _mqtt_ids_default_to_own_id(data, ("scanner",))


def _mqtt_ids_default_to_own_id(data: object, roles: tuple[str, ...]) -> object:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return data
    filled = dict(data)
    for role in roles:
        device = data.get(role)
        if isinstance(device, dict) and device.get("transport") == "mqtt" and "id" not in device:
            filled[role] = {**device, "id": data["id"]}
    return filled


class SiteConfig(_Section):
    """Everything a site file says, validated; nothing in it can be changed after loading."""

    site: SiteSettings
    edge: EdgeSettings
    store: StoreSettings
    """Defaults to sqlite:///{edge.data_dir}/floorgate.db."""
    mqtt: MqttSettings | None = None
    """None: no broker given (`floorgate demo` then embeds one)."""
    http: HttpSettings = Field(default_factory=HttpSettings)
    tokens: Array[TokenSpec] = ()
    webhooks: Array[WebhookSpec] = ()
    webhook_delivery: WebhookDeliverySettings = Field(default_factory=WebhookDeliverySettings)
    zones: Array[ZoneSpec] = ()
    locations: Array[LocationSpec] = ()
    stations: Array[StationSpec] = ()
    walls: Array[WallSpec] = ()
    counts: CountSettings = Field(default_factory=CountSettings)

    @model_validator(mode="before")
    @classmethod
    def _store_is_optional(cls, data: object) -> object:
        if isinstance(data, dict) and "store" not in data:
            return {**data, "store": {}}
        return data

    @field_validator("store", mode="before")
    @classmethod
    def _default_store_url(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, dict) or "url" in value:
            return value
        # Fields validate in order, so a valid [edge] is already here; if it is not, its own
        # problem is reported and this placeholder is never seen.
        edge = info.data.get("edge")
        data_dir = edge.data_dir if isinstance(edge, EdgeSettings) else base_dir_of(info) / "data"
        return {**value, "url": f"sqlite:///{data_dir / 'floorgate.db'}"}

    def tokens_by_value(self) -> dict[str, Role]:
        """Bearer token → role, for the API's authentication."""
        return {token.token.get_secret_value(): token.role for token in self.tokens}

    def token_names(self) -> dict[str, str]:
        """Bearer token → its name (a person or a system), for the tokens that have one: writes record it."""
        return {token.token.get_secret_value(): token.name for token in self.tokens if token.name}

    def owned_zones(self) -> tuple[ZoneSpec, ...]:
        """The zones this edge process runs: `[edge] zones`, or every zone when it is left out."""
        if self.edge.zones is None:
            return self.zones
        owned = set(self.edge.zones)
        return tuple(zone for zone in self.zones if zone.id in owned)

    def owned_walls(self) -> tuple[WallSpec, ...]:
        """The put walls this edge process runs: those of its zones, and every wall with no zone."""
        owned = {zone.id for zone in self.owned_zones()}
        return tuple(wall for wall in self.walls if wall.zone is None or wall.zone in owned)

    def owned_stations(self) -> tuple[StationSpec, ...]:
        """The stations this edge process runs: those of its zones, and every station with no zone (a
        pack station serves every zone)."""
        owned = {zone.id for zone in self.owned_zones()}
        return tuple(station for station in self.stations if station.zone is None or station.zone in owned)
