"""The site file (`site.toml`): loaded into immutable typed settings, every problem named by key and line.

`load_site` and `parse_site` are what `floorgate run --config`, `floorgate check-config` and
`floorgate sim` call. Validation happens in two passes over the parsed TOML: pydantic checks the
shape of every section (types, ranges, enums, unknown keys), then `_check_rules` checks what spans
entries (zone references, duplicates, either-or keys). Both passes always run, so one run of
`check-config` lists every problem in the file. tomllib keeps no positions, so `_KeyLines` scans the
text once to find the line of each key.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import dataclasses
import datetime
import difflib
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from floorgate.core.events import Event
from floorgate.devices.mqtt.endpoint import InvalidMqttUrl, MqttEndpoint
from floorgate.web.roles import Role

Loc = tuple[str | int, ...]


# ---------------------------------------------------------------------------------------------
# Problems and the error that carries them


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ConfigProblem:
    """One thing wrong with a site file.

    `key` is a dotted path such as `stations[1].tolerance_g`, or "" when the problem is the file
    itself (missing, unreadable, not TOML).
    """

    key: str
    line: int | None
    message: str


class ConfigError(Exception):
    """A site file that cannot be used; `problems` lists everything wrong with it, not only the first."""

    def __init__(self, problems: Iterable[ConfigProblem], *, source: str) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        self.source = source
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(self._format(problem) for problem in self.problems)

    def _format(self, problem: ConfigProblem) -> str:
        where = self.source if problem.line is None else f"{self.source}:{problem.line}"
        if problem.key:
            return f"{where}: {problem.key}: {problem.message}"
        return f"{where}: {problem.message}"


# ---------------------------------------------------------------------------------------------
# Entry points


def load_site(path: Path, *, environ: Mapping[str, str] = os.environ) -> SiteConfig:
    """Read and validate a site file; relative paths in it are taken from the file's own folder."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise ConfigError([_file_problem("file not found")], source=source) from err
    except IsADirectoryError as err:
        raise ConfigError([_file_problem("is a folder, not a site file")], source=source) from err
    except OSError as err:
        problem = _file_problem(f"cannot read the file: {err.strerror or err}")
        raise ConfigError([problem], source=source) from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        problem = ConfigProblem(key="", line=line, message="is not UTF-8 text")
        raise ConfigError([problem], source=source) from err
    base_dir = Path(os.path.abspath(path)).parent
    return parse_site(text, source=source, environ=environ, base_dir=base_dir)


def parse_site(
    text: str,
    *,
    source: str,
    environ: Mapping[str, str] = os.environ,
    base_dir: Path | None = None,
) -> SiteConfig:
    """Validate the text of a site file.

    `source` names the file in messages; `base_dir` anchors relative paths (default: the working
    folder); `*_env` keys are looked up in `environ`.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([_syntax_problem(err, text)], source=source) from err
    except RecursionError as err:
        # tomllib recurses into nested arrays; absurd nesting is a broken file, not a crash.
        problem = ConfigProblem(key="", line=None, message="values are nested too deeply")
        raise ConfigError([problem], source=source) from err

    base = Path(os.path.abspath(base_dir if base_dir is not None else Path.cwd()))
    findings: list[tuple[Loc, str]] = []
    config: SiteConfig | None = None
    try:
        config = SiteConfig.model_validate(data, context={"environ": environ, "base_dir": base})
    except ValidationError as err:
        findings.extend(_findings_from_pydantic(err, data))
    keys = _KeyLines(text)
    findings.extend(_check_rules(data, environ, keys))
    if config is None and not findings:
        findings.append(((), "is not a valid site file"))
    if findings or config is None:
        raise ConfigError(_problems(findings, keys), source=source)
    return config


def _file_problem(message: str) -> ConfigProblem:
    return ConfigProblem(key="", line=None, message=message)


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)$")


def _syntax_problem(err: tomllib.TOMLDecodeError, text: str) -> ConfigProblem:
    # tomllib puts the position only in its message: "... (at line 3, column 9)".
    message = str(err)
    line: int | None = None
    if match := _TOML_POSITION.search(message):
        line = int(match.group(1))
        message = message[: match.start()]
    elif match := _TOML_AT_END.search(message):
        line = max(1, len(text.splitlines()))
        message = message[: match.start()]
    return ConfigProblem(key="", line=line, message=f"TOML syntax error: {message}")


def _problems(findings: Iterable[tuple[Loc, str]], keys: _KeyLines) -> list[ConfigProblem]:
    unique = {
        ConfigProblem(key=_format_key(loc), line=keys.line_of(loc), message=message): None
        for loc, message in findings
    }
    return sorted(unique, key=lambda problem: (problem.line is None, problem.line or 0))


# ---------------------------------------------------------------------------------------------
# Value checks shared by the models


def _environ(info: ValidationInfo) -> Mapping[str, str]:
    context = info.context
    if isinstance(context, dict) and isinstance(context.get("environ"), Mapping):
        return typing.cast(Mapping[str, str], context["environ"])
    return os.environ


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context
    if isinstance(context, dict) and isinstance(context.get("base_dir"), Path):
        return typing.cast(Path, context["base_dir"])
    return Path(os.path.abspath(Path.cwd()))


_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _check_slug(value: str) -> str:
    # These ids become MQTT topic levels: '/' would split a level, '+' and '#' are wildcards.
    if not _SLUG.fullmatch(value):
        raise ValueError(
            "must be letters, digits, '.', '_' or '-' starting with a letter or digit, "
            f"with no '/', '+', '#' or spaces (got {_shorten(value)!r})"
        )
    return value


def _check_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if value != value.strip():
        raise ValueError(f"must not start or end with spaces (got {_shorten(value)!r})")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError(f"must not contain control characters (got {_shorten(value)!r})")
    return value


def _check_env_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError(f"must be the name of an environment variable (got {_shorten(value)!r})")
    return value


_BAUD_RATES = (1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400)


def _check_baud(value: int) -> int:
    if value not in _BAUD_RATES:
        rates = ", ".join(str(rate) for rate in _BAUD_RATES)
        raise ValueError(f"must be a standard baud rate: {rates} (got {value})")
    return value


def _to_tuple(value: object) -> object:
    # TOML arrays arrive as lists; the settings hold tuples so that a loaded config cannot change.
    return tuple(value) if isinstance(value, list) else value


def _empty_to_none(value: object) -> object:
    # The documented example writes `username = ""` for "no credentials".
    return None if value == "" else value


_T = TypeVar("_T")
Array = Annotated[tuple[_T, ...], BeforeValidator(_to_tuple)]
Slug = Annotated[str, AfterValidator(_check_slug)]
Name = Annotated[str, AfterValidator(_check_name)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]
Baud = Annotated[int, AfterValidator(_check_baud)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Grams = Annotated[float, Field(ge=0, allow_inf_nan=False)]

StationKind = Literal["pack", "zone"]
ScaleProtocol = Literal["mt-sics", "toledo-continuous", "nci"]
# The values of devices.scales.stability.StabilityMode, spelt out here so the file is checked as it is read.
ScaleStability = Literal["flag", "time", "flag+time"]
ToledoChecksum = Literal["on", "off", "auto"]
# Protocols the edge asks for each weight; the others stream, so a poll interval means nothing to them.
POLLED_SCALE_PROTOCOLS = frozenset({"mt-sics", "nci"})
KeyboardLayout = Literal["us", "uk", "de", "fr"]


def _redact_url(url: str) -> str:
    """The URL with any password replaced by `***`: URLs go into messages and reprs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    if password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def _token_problem(value: str) -> str | None:
    if not value:
        return "must not be empty"
    if any(char.isspace() or ord(char) < 0x20 for char in value):
        return "must not contain spaces or control characters"
    return None


def _webhook_secret_problem(value: str) -> str | None:
    prefix = "whsec_"
    if not value.startswith(prefix):
        return "must start with 'whsec_' (a Standard Webhooks secret)"
    try:
        decoded = base64.b64decode(value[len(prefix) :], validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if not decoded:
        return "must be 'whsec_' followed by base64"
    return None


def _no_problem(value: str) -> str | None:
    return None if value else "must not be empty"


def _check_secret(secret: SecretStr, problem_of: Callable[[str], str | None]) -> SecretStr:
    # The message never quotes the value: it would end up in logs and terminals.
    if problem := problem_of(secret.get_secret_value()):
        raise ValueError(problem)
    return secret


def _check_secret_env(name: str, info: ValidationInfo, problem_of: Callable[[str], str | None]) -> str:
    value = _environ(info).get(name)
    if value is None:
        raise ValueError(f"environment variable {name} is not set")
    if not value:
        raise ValueError(f"environment variable {name} is empty")
    if problem := problem_of(value):
        raise ValueError(f"environment variable {name}: {problem}")
    return name


def _secret_from_env(
    data: object,
    info: ValidationInfo,
    *,
    field: str,
    problem_of: Callable[[str], str | None],
) -> object:
    """Put the value of `<field>_env` into `<field>` when the file does not give the field itself.

    Only a usable value is put in: otherwise the field stays missing, `<field>_env` reports why,
    and `_findings_from_pydantic` drops the "missing" that would only repeat it.
    """
    if not isinstance(data, dict) or data.get(field) not in (None, ""):
        return data
    name = data.get(f"{field}_env")
    if not isinstance(name, str):
        return data
    value = _environ(info).get(name)
    if not value or problem_of(value) is not None:
        return data
    return {**data, field: value}


# ---------------------------------------------------------------------------------------------
# The settings


class _Section(BaseModel):
    # Strict: TOML is typed, so `port = "8000"` is a mistake to report, not a string to coerce.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, _redact_url(value) if name == "url" and isinstance(value, str) else value


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
            raise ValueError(f"cannot expand '~' in {_shorten(value)!r}") from err
        return Path(os.path.abspath(_base_dir(info) / path))


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
                f"or postgresql+psycopg://host/floorgate (got {_shorten(_redact_url(value))!r})"
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
            file = os.path.abspath(_base_dir(info) / file)
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


class MqttSettings(_Section):
    url: str
    """`mqtt://host:port`, or `mqtts://` for TLS."""
    username: str | None = None
    password: SecretStr | None = None
    password_env: EnvName | None = None

    @field_validator("username", "password", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        return _empty_to_none(value)

    @model_validator(mode="before")
    @classmethod
    def _password_from_env(cls, data: object, info: ValidationInfo) -> object:
        return _secret_from_env(data, info, field="password", problem_of=_no_problem)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            MqttEndpoint.from_url(value)
        except InvalidMqttUrl as err:
            # The transport's message quotes the URL, which may carry a password.
            raise ValueError(str(err).replace(repr(value), repr(_redact_url(value)))) from err
        return value

    @field_validator("password_env")
    @classmethod
    def _check_password_env(cls, value: str, info: ValidationInfo) -> str:
        return _check_secret_env(value, info, _no_problem)

    def endpoint(self) -> MqttEndpoint:
        password = self.password.get_secret_value() if self.password is not None else None
        return MqttEndpoint.from_url(self.url, username=self.username, password=password)


class HttpSettings(_Section):
    host: Name = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class TokenSpec(_Section):
    token: SecretStr
    token_env: EnvName | None = None
    """Where `token` came from, when the file named an environment variable instead."""
    role: Role = Field(strict=False)  # lax so that the string "erp" becomes Role.ERP
    name: Name | None = None

    @model_validator(mode="before")
    @classmethod
    def _token_from_env(cls, data: object, info: ValidationInfo) -> object:
        return _secret_from_env(data, info, field="token", problem_of=_token_problem)

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        return _check_secret(value, _token_problem)

    @field_validator("token_env")
    @classmethod
    def _check_token_env(cls, value: str, info: ValidationInfo) -> str:
        return _check_secret_env(value, info, _token_problem)


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
        raise ValueError(f"unknown event group {_shorten(value)!r}; known groups: {listed}")
    if value in known:
        return value
    close = difflib.get_close_matches(value, sorted(known), n=1)
    hint = (
        f"; did you mean {close[0]!r}?"
        if close
        else "; use '*', a group such as 'pick.*', or an event type such as 'pack.verified'"
    )
    raise ValueError(f"unknown event type {_shorten(value)!r}{hint}")


def _check_http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        usable = parts.scheme in {"http", "https"} and bool(parts.hostname)
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        usable = False
    if not usable:
        shown = _shorten(_redact_url(value))
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
        return _secret_from_env(data, info, field="secret", problem_of=_webhook_secret_problem)

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        return _check_secret(value, _webhook_secret_problem)

    @field_validator("secret_env")
    @classmethod
    def _check_secret_env(cls, value: str, info: ValidationInfo) -> str:
        return _check_secret_env(value, info, _webhook_secret_problem)

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


class StationSpec(_Section):
    id: Slug
    kind: StationKind
    zone: Name | None = None
    """For kind = "zone", the zone whose start station this is."""
    tolerance_g: Grams = 10.0
    tolerance_pct: Percent = 0.0
    """A pack passes within tolerance_g or tolerance_pct of the expected weight, whichever is larger."""
    tare_g: Grams = 0.0
    scale: ScaleSpec | None = None
    scanner: ScannerSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _mqtt_ids_default_to_station_id(cls, data: object) -> object:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return data
        filled = dict(data)
        for role in ("scale", "scanner"):
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
        data_dir = edge.data_dir if isinstance(edge, EdgeSettings) else _base_dir(info) / "data"
        return {**value, "url": f"sqlite:///{data_dir / 'floorgate.db'}"}

    def tokens_by_value(self) -> dict[str, Role]:
        """Bearer token → role, for the API's authentication."""
        return {token.token.get_secret_value(): token.role for token in self.tokens}

    def owned_zones(self) -> tuple[ZoneSpec, ...]:
        """The zones this edge process runs: `[edge] zones`, or every zone when it is left out."""
        if self.edge.zones is None:
            return self.zones
        owned = set(self.edge.zones)
        return tuple(zone for zone in self.zones if zone.id in owned)


# ---------------------------------------------------------------------------------------------
# Pydantic errors → problems


_SECRET_KEYS = frozenset({"token", "password", "secret"})


def _may_hold_secret(loc: Loc) -> bool:
    # `tokens = "..."` or `tokens = ["..."]` is most likely a token written in the wrong shape.
    return any(part in _SECRET_KEYS for part in loc) or (loc[:1] == ("tokens",) and len(loc) <= 2)


_EXPECTED_TYPE = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "tuple_type": "an array",
    "list_type": "an array",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
    "is_instance_of": "a string",  # only Path fields are checked by instance, and TOML gives str
}

_COMPARISONS = {
    "greater_than_equal": ("ge", ">="),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "<="),
    "less_than": ("lt", "<"),
}


def _findings_from_pydantic(err: ValidationError, data: Mapping[str, Any]) -> Iterator[tuple[Loc, str]]:
    for error in err.errors(include_url=False):
        raw_loc = tuple(error["loc"])
        loc, _ = _walk(raw_loc)
        kind = error["type"]
        ctx: Mapping[str, Any] = error.get("ctx") or {}
        value = error["input"]
        if kind == "union_tag_not_found":
            yield (*loc, "transport"), "required key is missing"
        elif kind == "union_tag_invalid":
            got = _describe(ctx.get("tag"), loc)
            yield (*loc, "transport"), f"must be one of {ctx.get('expected_tags')} (got {got})"
        elif kind == "extra_forbidden":
            _, parent = _walk(raw_loc[:-1])
            yield loc, _unknown_key_message(str(loc[-1]), parent)
        elif kind == "missing":
            env_key = f"{loc[-1]}_env"
            _, parent = _walk(raw_loc[:-1])
            if env_key in _fields_of(parent):
                if _has_key(data, loc[:-1], env_key):
                    continue  # the *_env key reports why it gave no value
                yield loc, f"required key is missing (or give {env_key})"
            else:
                yield loc, "required key is missing"
        else:
            yield loc, _value_message(kind, error["msg"], ctx, value, loc)


def _value_message(kind: str, msg: str, ctx: Mapping[str, Any], value: object, loc: Loc) -> str:
    if kind == "value_error":
        return msg.removeprefix("Value error, ")  # our validators say what they were given
    if kind in _EXPECTED_TYPE:
        message = f"must be {_EXPECTED_TYPE[kind]}"
    elif kind in ("literal_error", "enum"):
        message = f"must be {ctx.get('expected')}"
    elif kind in _COMPARISONS:
        bound_name, symbol = _COMPARISONS[kind]
        message = f"must be {symbol} {_number(ctx.get(bound_name))}"
    elif kind == "finite_number":
        message = "must be a finite number"
    elif kind == "string_too_short":
        message = "must not be empty"
    else:
        message = msg[:1].lower() + msg[1:]
    if _may_hold_secret(loc):
        return message
    return f"{message} (got {_describe(value, loc)})"


def _unknown_key_message(key: str, model: Any) -> str:
    known = list(_fields_of(model))
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    if known:
        return f"unknown key; expected one of: {', '.join(known)}"
    return "unknown key"


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _describe(value: object, loc: Loc) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(_shorten(_redact_url(value) if loc and loc[-1] == "url" else value))
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, datetime.datetime):
        return f"the date-time {value.isoformat()}"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, datetime.time):
        return f"the time {value.isoformat()}"
    return type(value).__name__


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _walk(loc: tuple[Any, ...]) -> tuple[Loc, Any]:
    """Follow a pydantic error location through the model types.

    Returns the location as the site file spells it (pydantic inserts the union tag, e.g.
    `scale.serial.port`, where the file says `scale.port`) and the type found at its end.
    """
    shown: list[str | int] = []
    current: Any = SiteConfig
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            shown.append(part)
            item_args = typing.get_args(current) if typing.get_origin(current) is tuple else ()
            current = item_args[0] if item_args else None
            continue
        member = _tagged_member(current, str(part))
        if member is not None:
            current = member
            continue
        shown.append(str(part))
        fields = _fields_of(current)
        current = fields[part].annotation if part in fields else None
    return tuple(shown), _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _tagged_member(annotation: Any, tag: str) -> Any:
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    for member in typing.get_args(annotation):
        transport = _fields_of(_unwrap(member)).get("transport")
        if transport is not None and tag in typing.get_args(transport.annotation):
            return _unwrap(member)
    return None


def _fields_of(annotation: Any) -> dict[str, FieldInfo]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.model_fields
    return {}


def _has_key(data: Mapping[str, Any], loc: Loc, key: str) -> bool:
    node: Any = data
    for part in loc:
        in_table = isinstance(node, dict) and part in node
        in_array = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_table or in_array):
            return False
        node = node[part]
    return isinstance(node, dict) and key in node


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _format_key(loc: Loc) -> str:
    """`("stations", 1, "tolerance_g")` → `stations[1].tolerance_g`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            text = f"{text}.{name}" if text else name
    return text


# ---------------------------------------------------------------------------------------------
# Rules across entries, checked on the raw TOML so they are reported alongside shape problems


def _check_rules(
    data: Mapping[str, Any], environ: Mapping[str, str], keys: _KeyLines
) -> list[tuple[Loc, str]]:
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
    found += _device_conflicts(stations, keys)
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


def _where(loc: Loc, keys: _KeyLines) -> str:
    line = keys.line_of(loc)
    return f"{_format_key(loc)} (line {line})" if line is not None else _format_key(loc)


def _duplicates(entries: Iterable[tuple[Loc, object]], what: str, keys: _KeyLines) -> list[tuple[Loc, str]]:
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
    return [(loc, f"unknown zone {_shorten(zone)!r}{hint}")]


def _device_conflicts(stations: list[tuple[int, dict[str, Any]]], keys: _KeyLines) -> list[tuple[Loc, str]]:
    # Two stations cannot share one physical port or input device, and two scales (or two
    # scanners) with one MQTT id would read each other's messages.
    ports: list[tuple[Loc, object]] = []
    inputs: list[tuple[Loc, object]] = []
    mqtt_ids: dict[str, list[tuple[Loc, object]]] = {"scale": [], "scanner": []}
    for i, station in stations:
        for role in ("scale", "scanner"):
            device = station.get(role)
            if not isinstance(device, dict):
                continue
            transport = device.get("transport")
            if transport == "serial":
                ports.append((("stations", i, role, "port"), device.get("port")))
            elif transport == "hid":
                inputs.append((("stations", i, role, "device"), device.get("device")))
            elif transport == "mqtt":
                mqtt_id = device.get("id", station.get("id"))
                mqtt_ids[role].append((("stations", i, role, "id"), mqtt_id))
    found = _duplicates(ports, "serial port", keys)
    found += _duplicates(inputs, "input device", keys)
    for role, ids in mqtt_ids.items():
        found += _duplicates(ids, f"MQTT {role} id", keys)
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
    tokens: list[tuple[int, dict[str, Any]]], environ: Mapping[str, str], keys: _KeyLines
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


# ---------------------------------------------------------------------------------------------
# Where each key is written


class _KeyLines:
    """The line on which each key of a (valid) TOML document is written.

    Understands tables, arrays of tables (`[[stations]]` counted into `stations[i]`), dotted keys,
    inline tables and arrays. A key that is not written (a default, a missing key) falls back to
    the nearest enclosing key that is, usually the table header.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._line_starts: list[int] = []
        self._lines: dict[Loc, int] = {}
        self._array_counts: dict[Loc, int] = {}
        self._scanned = False

    def line_of(self, loc: Loc) -> int | None:
        if not self._scanned:
            # Scanned on first use: a valid file never needs it, and a large one takes a while.
            self._line_starts = [0, *(match.end() for match in re.finditer("\n", self._text))]
            self._scan()
            self._scanned = True
        for end in range(len(loc), 0, -1):
            line = self._lines.get(loc[:end])
            if line is not None:
                return line
        return None

    # -- scanning; each step moves forward, so a malformed text ends the scan instead of looping

    def _char(self) -> str:
        return self._text[self._pos] if self._pos < len(self._text) else ""

    def _record(self, loc: Loc, pos: int) -> None:
        self._lines.setdefault(loc, bisect.bisect_right(self._line_starts, pos))

    def _scan(self) -> None:
        table: Loc = ()
        while self._pos < len(self._text):
            self._skip_blank(newlines=True)
            if self._pos >= len(self._text):
                break
            if self._char() == "[":
                table = self._header()
            else:
                self._key_value(table)
            self._skip_to_next_line()

    def _skip_blank(self, *, newlines: bool) -> None:
        while self._pos < len(self._text):
            char = self._text[self._pos]
            if char in " \t" or (newlines and char in "\r\n"):
                self._pos += 1
            elif char == "#":
                end = self._text.find("\n", self._pos)
                self._pos = len(self._text) if end < 0 else end
                if not newlines:
                    return
            else:
                return

    def _skip_to_next_line(self) -> None:
        end = self._text.find("\n", self._pos)
        self._pos = len(self._text) if end < 0 else end + 1

    def _header(self) -> Loc:
        start = self._pos
        is_array = self._text.startswith("[[", self._pos)
        self._pos += 2 if is_array else 1
        parts = self._key()
        path: Loc = ()
        for i, part in enumerate(parts):
            path = (*path, part)
            if is_array and i == len(parts) - 1:
                index = self._array_counts.get(path, -1) + 1
                self._array_counts[path] = index
                self._record(path, start)
                path = (*path, index)
            elif path in self._array_counts:
                # `[stations.scale]` after `[[stations]]` belongs to the latest station.
                path = (*path, self._array_counts[path])
            self._record(path, start)
        return path

    def _key_value(self, table: Loc) -> None:
        start = self._pos
        parts = self._key()
        if not parts:
            return
        for end in range(1, len(parts) + 1):
            self._record((*table, *parts[:end]), start)
        self._skip_blank(newlines=False)
        if self._char() == "=":
            self._pos += 1
            self._value((*table, *parts))

    def _key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self._skip_blank(newlines=False)
            char = self._char()
            if char in ('"', "'"):
                parts.append(self._quoted_key(char))
            else:
                match = _BARE_KEY.match(self._text, self._pos)
                if match is None:
                    return parts
                parts.append(match.group())
                self._pos = match.end()
            self._skip_blank(newlines=False)
            if self._char() != ".":
                return parts
            self._pos += 1

    def _quoted_key(self, quote: str) -> str:
        start = self._pos + 1
        self._skip_string()
        raw = self._text[start : self._pos - 1]
        if quote == "'":
            return raw
        try:
            return str(json.loads(f'"{raw}"'))
        except ValueError:
            return raw  # an escape JSON lacks (\U........): close enough to find a line

    def _value(self, loc: Loc) -> None:
        self._skip_blank(newlines=False)
        char = self._char()
        if char == "{":
            self._inline_table(loc)
        elif char == "[":
            self._array(loc)
        elif char in ('"', "'"):
            self._skip_string()
        else:
            while self._pos < len(self._text) and self._text[self._pos] not in ",]}\n#":
                self._pos += 1

    def _inline_table(self, loc: Loc) -> None:
        self._pos += 1
        while self._pos < len(self._text):
            self._skip_blank(newlines=True)
            char = self._char()
            if char == "}":
                self._pos += 1
                return
            if char == ",":
                self._pos += 1
                continue
            start = self._pos
            parts = self._key()
            if not parts:
                self._pos += 1
                continue
            for end in range(1, len(parts) + 1):
                self._record((*loc, *parts[:end]), start)
            self._skip_blank(newlines=False)
            if self._char() == "=":
                self._pos += 1
                self._value((*loc, *parts))

    def _array(self, loc: Loc) -> None:
        self._pos += 1
        index = 0
        while self._pos < len(self._text):
            self._skip_blank(newlines=True)
            char = self._char()
            if char == "]":
                self._pos += 1
                return
            if char == ",":
                self._pos += 1
                index += 1
                continue
            before = self._pos
            self._record((*loc, index), before)
            self._value((*loc, index))
            if self._pos == before:
                self._pos += 1

    def _skip_string(self) -> None:
        text, pos = self._text, self._pos
        for delimiter in ('"""', "'''"):
            if text.startswith(delimiter, pos):
                pos += 3
                while pos < len(text) and not text.startswith(delimiter, pos):
                    pos += 2 if delimiter == '"""' and text[pos] == "\\" else 1
                pos += 3
                # Up to two quotes right before the closing delimiter belong to the string.
                for _ in range(2):
                    if pos < len(text) and text[pos] == delimiter[0]:
                        pos += 1
                self._pos = min(pos, len(text))
                return
        quote = text[pos]
        pos += 1
        while pos < len(text) and text[pos] not in (quote, "\n"):
            pos += 2 if quote == '"' and text[pos] == "\\" else 1
        self._pos = min(pos + 1, len(text))
