"""docs/deploy/'s systemd units, service user and udev rules, checked by the tools a box reads them with."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"
INSTALLED_BINARY = "/opt/floorgate/venv/bin/floorgate"
UNITS = ("floorgate.service", "floorgate-backup.service", "floorgate-backup.timer")
# systemd-analyze's own scale: 0 is a unit that can do nothing, 10 one with every power; "OK" is under 4.
MOST_EXPOSURE = {"floorgate.service": 2.0, "floorgate-backup.service": 1.5}


def systemd_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (Debian's systemd package has it; ./run-tests installs it)")
    return found


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """The units as docs/deploy/ holds them, with ExecStart's floorgate pointed at a stand-in executable:
    systemd-analyze verify checks that the command a unit runs exists."""
    stand_in = tmp_path / "venv" / "bin" / "floorgate"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    folder = tmp_path / "units"
    folder.mkdir()
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        (folder / name).write_text(text.replace(INSTALLED_BINARY, str(stand_in)))
    return folder


def test_the_units_pass_systemd_analyze_verify_without_a_warning(units: Path) -> None:
    analyze = systemd_tool("systemd-analyze")
    assert INSTALLED_BINARY in (DEPLOY / "floorgate.service").read_text()
    result = subprocess.run(
        [analyze, "verify", *(str(units / name) for name in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    # Other units on this machine may have warnings of their own; none may name ours.
    ours = [line for line in output.splitlines() if any(name in line for name in UNITS)]
    assert result.returncode == 0, output
    assert ours == [], "\n".join(ours)


@pytest.mark.parametrize("unit", sorted(MOST_EXPOSURE))
def test_each_service_is_hardened_as_systemd_analyze_security_scores_it(units: Path, unit: str) -> None:
    analyze = systemd_tool("systemd-analyze")
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(units / unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    overall = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert overall is not None, result.stdout + result.stderr
    assert float(overall[1]) <= MOST_EXPOSURE[unit], result.stdout


def test_the_service_runs_as_floorgate_with_the_store_its_only_writable_folder() -> None:
    service = _settings((DEPLOY / "floorgate.service").read_text())
    assert service["User"] == ["floorgate"]
    assert service["SupplementaryGroups"] == ["dialout input"]
    assert service["ExecStart"] == [f"{INSTALLED_BINARY} run --config /etc/floorgate/site.toml"]
    assert service["Restart"] == ["on-failure"]
    for hardening in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "RestrictSUIDSGID"):
        assert service[hardening] == ["yes"], hardening
    assert service["ProtectSystem"] == ["strict"]
    assert service["ReadWritePaths"] == ["/var/lib/floorgate"]
    assert service["StateDirectory"] == ["floorgate"]
    assert service["CapabilityBoundingSet"] == [""]


def test_the_service_user_is_made_by_systemd_sysusers_in_the_dialout_and_input_groups(tmp_path: Path) -> None:
    sysusers = systemd_tool("systemd-sysusers")
    config = tmp_path / "etc" / "sysusers.d" / "floorgate.conf"
    config.parent.mkdir(parents=True)
    shutil.copy(DEPLOY / "floorgate.sysusers", config)
    result = subprocess.run(
        [sysusers, f"--root={tmp_path}"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    passwd = {
        line.split(":")[0]: line.split(":") for line in (tmp_path / "etc" / "passwd").read_text().splitlines()
    }
    groups = {
        line.split(":")[0]: line.split(":") for line in (tmp_path / "etc" / "group").read_text().splitlines()
    }
    user = passwd["floorgate"]
    assert user[5] == "/var/lib/floorgate"
    assert user[6].endswith("nologin"), user
    assert int(user[2]) < 1000, "a system user"
    for group in ("dialout", "input"):
        assert "floorgate" in groups[group][3].split(","), groups[group]


# udev(7): every key, the operators it takes, and whether it needs {an attribute}.
_MATCH, _ASSIGN = frozenset({"==", "!="}), frozenset({"=", "+=", "-=", ":="})
UDEV_KEYS: dict[str, tuple[frozenset[str], bool | None]] = {
    **dict.fromkeys(("ACTION", "DEVPATH", "KERNEL", "KERNELS", "SUBSYSTEM", "SUBSYSTEMS"), (_MATCH, False)),
    **dict.fromkeys(("DRIVER", "DRIVERS", "TAGS", "RESULT"), (_MATCH, False)),
    **dict.fromkeys(("ATTRS", "CONST"), (_MATCH, True)),
    "TEST": (_MATCH, None),
    **dict.fromkeys(("NAME", "SYMLINK", "TAG"), (_MATCH | _ASSIGN, False)),
    **dict.fromkeys(("ATTR", "SYSCTL", "ENV"), (_MATCH | _ASSIGN, True)),
    **dict.fromkeys(("OWNER", "GROUP", "MODE", "LABEL", "GOTO", "OPTIONS"), (_ASSIGN, False)),
    **dict.fromkeys(("SECLABEL", "IMPORT"), (_ASSIGN | _MATCH, True)),
    **dict.fromkeys(("RUN", "PROGRAM"), (_ASSIGN | _MATCH, None)),
}
_PAIR = re.compile(
    r'\s*(?P<key>[A-Z]+)(?:\{(?P<attr>[^}]*)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*'
)


def parse_udev_rules(text: str) -> list[list[tuple[str, str | None, str, str]]]:
    """The rules as (key, attribute, operator, value) lists, failing with the line on a syntax error."""
    rules = []
    logical = re.sub(r"\\\n", "", text)
    for number, line in enumerate(logical.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs = []
        for part in _split_pairs(line, number):
            match = _PAIR.fullmatch(part)
            assert match, f'line {number}: not a KEY OP "value" pair: {part!r}'
            key, attr, op, value = match["key"], match["attr"], match["op"], match["value"]
            assert key in UDEV_KEYS, f"line {number}: unknown key {key}"
            operators, wants_attr = UDEV_KEYS[key]
            assert op in operators, f"line {number}: {key} does not take {op}"
            if wants_attr is not None:
                assert (attr is not None) == wants_attr, f"line {number}: {key} and its {{attribute}}"
            pairs.append((key, attr, op, value))
        rules.append(pairs)
    return rules


def _split_pairs(line: str, number: int) -> list[str]:
    parts, current, quoted, escaped = [], "", False, False
    for char in line:
        if char == "," and not quoted:
            parts.append(current)
            current = ""
            continue
        current += char
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
    assert not quoted, f"line {number}: a value's quote is not closed"
    return [*parts, current]


def test_the_udev_rules_parse_and_give_each_device_a_floorgate_name_in_its_group() -> None:
    rules = parse_udev_rules((DEPLOY / "70-floorgate.rules").read_text())
    assert rules, "no rules"
    names = []
    for rule in rules:
        assigned = {key: value for key, _, op, value in rule if op in _ASSIGN}
        matched = {key: value for key, _, op, value in rule if op in _MATCH}
        subsystem = matched["SUBSYSTEM"]
        assert assigned["GROUP"] == {"tty": "dialout", "input": "input"}[subsystem], rule
        assert assigned["MODE"] == "0660", rule
        assert re.fullmatch(r"floorgate/(scanner|scale)-[a-z0-9-]+", assigned["SYMLINK"]), rule
        assert [op for key, _, op, _ in rule if key == "SYMLINK"] == ["+="], (
            "SYMLINK= would drop udev's own links"
        )
        names.append(assigned["SYMLINK"])
    assert len(names) == len(set(names)), names


def test_the_udev_rules_pass_udevadm_verify() -> None:
    udevadm = shutil.which("udevadm")
    if udevadm is None:
        pytest.skip("udevadm is not installed (Debian's udev package); the rules' syntax is parsed above")
    probe = subprocess.run([udevadm, "verify", "--help"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(
            "this udevadm has no `verify` (systemd 253 or newer has); the rules' syntax is parsed above"
        )
    result = subprocess.run(
        [udevadm, "verify", str(DEPLOY / "70-floorgate.rules")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _settings(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_deploy_page_links_only_to_files_in_the_repository() -> None:
    page = (DEPLOY / "README.md").read_text()
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page)
    assert links, "no links"
    for link in links:
        assert "://" not in link, f"a link outside the repository: {link}"
        assert (DEPLOY / link).resolve().is_file(), f"docs/deploy/README.md links to a missing {link}"
    for installed in (*UNITS, "floorgate.sysusers", "70-floorgate.rules", "grafana-dashboard.json"):
        assert f"]({installed})" in page, f"the page does not link {installed}"
