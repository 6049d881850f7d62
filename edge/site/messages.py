"""Pydantic's validation errors in the site file's words: the key as written, what it must be, what it got."""

from __future__ import annotations

import datetime
import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from floorgate.edge.site.lines import Loc
from floorgate.edge.site.quoting import redact_url, shorten
from floorgate.edge.site.schema import SiteConfig

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


def findings_from_pydantic(err: ValidationError, data: Mapping[str, Any]) -> Iterator[tuple[Loc, str]]:
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
        return repr(shorten(redact_url(value) if loc and loc[-1] == "url" else value))
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
