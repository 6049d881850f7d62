"""Loading a site file: `load_site` and `parse_site`, and the `ConfigError` that lists every problem found.

Validation happens in two passes over the parsed TOML: pydantic checks the shape of every section
(types, ranges, enums, unknown keys), then `check_rules` checks what spans entries (zone references,
duplicates, either-or keys). Both passes always run, so one run of `check-config` lists every
problem in the file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import ValidationError

from floorgate.edge.site.lines import KeyLines, Loc, format_key
from floorgate.edge.site.messages import findings_from_pydantic
from floorgate.edge.site.rules import check_rules
from floorgate.edge.site.schema import SiteConfig


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
        findings.extend(findings_from_pydantic(err, data))
    keys = KeyLines(text)
    findings.extend(check_rules(data, environ, keys))
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


def _problems(findings: Iterable[tuple[Loc, str]], keys: KeyLines) -> list[ConfigProblem]:
    unique = {
        ConfigProblem(key=format_key(loc), line=keys.line_of(loc), message=message): None
        for loc, message in findings
    }
    return sorted(unique, key=lambda problem: (problem.line is None, problem.line or 0))
