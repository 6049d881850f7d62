"""The value types and checks the site file's settings share: ids, names, baud rates, secrets.

The validators read two things from the validation context: the environment (for `*_env` keys)
and the folder relative paths are taken from.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationInfo

from floorgate.edge.site.quoting import shorten


def _environ(info: ValidationInfo) -> Mapping[str, str]:
    context = info.context
    if isinstance(context, dict) and isinstance(context.get("environ"), Mapping):
        return typing.cast(Mapping[str, str], context["environ"])
    return os.environ


def base_dir_of(info: ValidationInfo) -> Path:
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
            f"with no '/', '+', '#' or spaces (got {shorten(value)!r})"
        )
    return value


def _check_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if value != value.strip():
        raise ValueError(f"must not start or end with spaces (got {shorten(value)!r})")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError(f"must not contain control characters (got {shorten(value)!r})")
    return value


def readable_file(value: object, info: ValidationInfo) -> object:
    """A path to a file the edge can read, made absolute from the site file's folder (certificates, keys)."""
    if not isinstance(value, str):
        return value  # strict Path validation reports the wrong type
    if not value.strip() or "\0" in value:
        raise ValueError("must be the path of a file")
    try:
        path = Path(os.path.abspath(base_dir_of(info) / Path(value).expanduser()))
    except RuntimeError as err:
        raise ValueError(f"cannot expand '~' in {shorten(value)!r}") from err
    try:
        with path.open("rb") as file:
            file.read(1)
    except FileNotFoundError as err:
        raise ValueError(f"no file at {path}") from err
    except IsADirectoryError as err:
        raise ValueError(f"{path} is a folder, not a file") from err
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror or err}") from err
    return path


def _check_env_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError(f"must be the name of an environment variable (got {shorten(value)!r})")
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


def empty_to_none(value: object) -> object:
    # The documented example writes `username = ""` for "no credentials".
    return None if value == "" else value


_T = TypeVar("_T")
Array = Annotated[tuple[_T, ...], BeforeValidator(_to_tuple)]
Slug = Annotated[str, AfterValidator(_check_slug)]
Name = Annotated[str, AfterValidator(_check_name)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]
Baud = Annotated[int, AfterValidator(_check_baud)]
ReadableFile = Annotated[Path, BeforeValidator(readable_file)]
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


def token_problem(value: str) -> str | None:
    if not value:
        return "must not be empty"
    if any(char.isspace() or ord(char) < 0x20 for char in value):
        return "must not contain spaces or control characters"
    return None


def webhook_secret_problem(value: str) -> str | None:
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


def empty_problem(value: str) -> str | None:
    return None if value else "must not be empty"


def check_secret(secret: SecretStr, problem_of: Callable[[str], str | None]) -> SecretStr:
    # The message never quotes the value: it would end up in logs and terminals.
    if problem := problem_of(secret.get_secret_value()):
        raise ValueError(problem)
    return secret


def check_secret_env(name: str, info: ValidationInfo, problem_of: Callable[[str], str | None]) -> str:
    value = _environ(info).get(name)
    if value is None:
        raise ValueError(f"environment variable {name} is not set")
    if not value:
        raise ValueError(f"environment variable {name} is empty")
    if problem := problem_of(value):
        raise ValueError(f"environment variable {name}: {problem}")
    return name


def secret_from_env(
    data: object,
    info: ValidationInfo,
    *,
    field: str,
    problem_of: Callable[[str], str | None],
) -> object:
    """Put the value of `<field>_env` into `<field>` when the file does not give the field itself.

    Only a usable value is put in: otherwise the field stays missing, `<field>_env` reports why,
    and `findings_from_pydantic` drops the "missing" that would only repeat it.
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
