"""docs/ holds the whole public contract, and says what the code does: every command and option (each with
its help text), every site-file key, every REST operation, and every MQTT topic (docs/asyncapi.yaml)."""

from __future__ import annotations

import argparse
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from pydantic import BaseModel

from floorgate.devices.mqtt.endpoint import MqttEndpoint
from floorgate.devices.mqtt.link import MqttLink
from floorgate.devices.ptl.codec import PtlTopic, ptl_topic
from floorgate.devices.scales.mqtt_scale import weight_topic
from floorgate.devices.scanners.mqtt_scanner import scanner_topic
from floorgate.edge.cli import every_command_parser
from floorgate.edge.site.schema import SiteConfig
from floorgate.web.app import create_app
from floorgate.web.context import WebContext

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"


def section(title: str) -> str:
    """One `## title` section of docs/contract.md."""
    return (DOCS / "contract.md").read_text().split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]


# -- the command line ---------------------------------------------------------------------------------


def commands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser, str]]:
    """Each subcommand's name, parser and the one-line help `floorgate --help` lists it with."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {choice.dest: choice.help for choice in action._choices_actions}
            for name, subparser in action.choices.items():
                yield name, subparser, listed.get(name) or ""


def arguments(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            yield action


def test_every_command_and_option_has_help_text() -> None:
    parser = every_command_parser()
    silent = [f"floorgate {a.option_strings[0]}" for a in arguments(parser) if not a.help]
    found = list(commands(parser))
    assert {name for name, _, _ in found} >= {"run", "check-config", "backup", "restore", "demo", "sim"}
    for name, subparser, listed in found:
        if not listed or not subparser.description:
            silent.append(f"floorgate {name}")
        silent += [
            f"floorgate {name} {a.option_strings or a.dest}" for a in arguments(subparser) if not a.help
        ]
    assert silent == [], f"expected help text for each of these: {silent}"


def test_the_contract_names_every_command_and_option() -> None:
    text = section("Command line")
    missing = []
    parser = every_command_parser()
    for action in arguments(parser):
        missing += [option for option in action.option_strings if option not in text]
    for name, subparser, _ in commands(parser):
        if not re.search(rf"`floorgate {re.escape(name)}\b", text):
            missing.append(f"floorgate {name}")
        for action in arguments(subparser):
            names = action.option_strings or [str(action.metavar or action.dest.upper())]
            missing += [f"floorgate {name} {option}" for option in names if option not in text]
    assert missing == [], f"expected docs/contract.md's Command line to name: {missing}"


# -- the site file ------------------------------------------------------------------------------------


def models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for argument in typing.get_args(annotation):
        yield from models_in(argument)


def site_keys(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str, bool]]:
    """(dotted name, key, whether it is a table) for every key a site file may hold."""
    for name, field in model.model_fields.items():
        key = field.alias or name
        nested = list(dict.fromkeys(models_in(field.annotation)))
        yield f"{prefix}{key}", key, bool(nested)
        for sub in nested:
            yield from site_keys(sub, f"{prefix}{key}.")


def test_the_example_site_file_shows_every_key() -> None:
    example = (DOCS / "site.example.toml").read_text()
    missing = []
    for dotted, key, table in site_keys(SiteConfig):
        written = rf"(^|[\s{{,#]){re.escape(key)}\s*="
        if table:
            written += rf"|^\[\[?{re.escape(dotted)}\]\]?"
        if not re.search(written, example, re.MULTILINE):
            missing.append(dotted)
    assert missing == [], f"expected docs/site.example.toml to show (or describe in a comment): {missing}"


# -- the REST API -------------------------------------------------------------------------------------


def test_the_contract_lists_every_rest_operation_with_its_answer() -> None:
    document = create_app(typing.cast(WebContext, None)).openapi()
    listed = {
        (method, path): answer
        for method, path, answer in re.findall(
            r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|.*\| ([^|]*) \|$",
            section("REST API"),
            re.MULTILINE,
        )
    }
    missing = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            key = (method.upper(), path.removeprefix("/api/v1"))
            if key not in listed:
                missing.append(" ".join(key))
                continue
            ok = next((r for code, r in operation["responses"].items() if code.startswith("2")), {})
            schema = ok.get("content", {}).get("application/json", {}).get("schema", {})
            model = schema.get("items", schema).get("$ref", "").rsplit("/", 1)[-1]
            if model and model not in listed[key]:
                missing.append(f"{' '.join(key)} answering {model}")
    assert missing == [], f"expected docs/contract.md's REST API table to list: {missing}"


# -- MQTT ---------------------------------------------------------------------------------------------


def code_topics() -> set[str]:
    """Every topic the edge publishes or subscribes to, as the code builds it, with placeholders for ids."""
    link = MqttLink(MqttEndpoint.from_url("mqtt://127.0.0.1:1883"), "{site}", "{edge_id}")
    return {
        *(ptl_topic("{site}", "{module}", kind) for kind in PtlTopic),
        scanner_topic("{site}", "{scanner}"),
        weight_topic("{site}", "{scale}"),
        link.status_topic,
        link.sync_topic,
    }


def test_the_asyncapi_document_has_exactly_the_topics_the_code_uses() -> None:
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert document["asyncapi"].startswith("3.")
    channels = document["channels"]
    assert {channel["address"] for channel in channels.values()} == code_topics()
    for name, channel in channels.items():
        assert set(re.findall(r"{(\w+)}", channel["address"])) == set(channel["parameters"]), name
        for message in channel["messages"].values():
            target = message["$ref"].removeprefix("#/components/messages/")
            assert target in document["components"]["messages"], f"{name}: no message {target}"
    used = {
        operation["channel"]["$ref"].removeprefix("#/channels/")
        for operation in document["operations"].values()
    }
    assert used == set(channels)


def test_the_asyncapi_examples_fit_their_payloads() -> None:
    messages = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())["components"]["messages"]
    for name, message in messages.items():
        assert isinstance(name, str), f"a YAML 1.1 boolean ({name!r}) where a message name should be"
        check = jsonschema_rs.Draft202012Validator(message["payload"])
        for example in message.get("examples", []):
            assert check.is_valid(example["payload"]), f"{name}: {example}"


def test_the_contracts_topic_table_is_the_asyncapi_documents() -> None:
    table = set(re.findall(r"^\| `([^`]+)` \|", section("MQTT topics"), re.MULTILINE))
    prefix = "floorgate/{site}/"
    documented = {topic.removeprefix(prefix) for topic in code_topics()}
    # The sync topic is the edge's own (a marker it sends itself): in the AsyncAPI document only.
    assert table == documented - {"edge/{edge_id}/sync"}
