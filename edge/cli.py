"""The `floorgate` command: run, check-config, backup, restore, and the simulators' commands (demo, sim).

A command such as `demo` lives with the simulators it runs and is found through the `floorgate.commands`
entry-point group; it is imported only when it is the command given (or for --help), so `floorgate run`
never loads simulator code.
"""

from __future__ import annotations

import gc
import os.path
import sys

# Run as a program (`floorgate ...` or `python -m floorgate.edge.cli`), not imported: no garbage collection
# until the edge is built. The start's imports and the floor it builds are objects that live as long as
# the process, so collections meanwhile freed nothing and cost 70-80 ms of every start. `main` resumes them
# at once for every command but `run`, and `run` once its parts are built (edge/heap.py).
if __name__ == "__main__" or os.path.basename(sys.argv[0]) == "floorgate":
    gc.disable()

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Coroutine, Iterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from floorgate import __version__
from floorgate.devices.scanners.hid import missing_evdev
from floorgate.edge import logs
from floorgate.edge.site import ConfigError, HidScanner, SiteConfig, StationSpec, WallSpec, load_site
from floorgate.edge.store.backup import (
    BackupError,
    StoreInUse,
    backup_store,
    edge_lock,
    postgres_advice,
    restore_store,
    sqlite_file,
)

log = logging.getLogger("floorgate")


PLUGIN_GROUP = "floorgate.commands"


class PluginCommand(Protocol):
    """A subcommand another part of FloorGate provides (an entry point of PLUGIN_GROUP)."""

    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _plugins(argv: Sequence[str]) -> tuple[dict[str, PluginCommand], dict[str, str]]:
    """The plugin commands to offer (only the one named in argv, or all of them for help), and those
    that cannot load, with why: an optional extra not installed (the demo's broker is `[demo]`'s).

    None for a command of this module's own: reading the installed packages' entry points took 40 ms of
    every `floorgate run`."""
    if _command_word(argv) in BUILTIN_COMMANDS and not _wants_help(argv):
        return {}, {}
    found = {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}
    chosen = [word for word in argv if word in found][:1]
    if not chosen and _wants_help(argv):
        chosen = sorted(found)
    loaded: dict[str, PluginCommand] = {}
    missing: dict[str, str] = {}
    for name in chosen:
        try:
            loaded[name] = found[name].load()
        except ImportError as err:
            missing[name] = str(err)
    return loaded, missing


def _command_word(argv: Sequence[str]) -> str | None:
    """The command argv names: its first word that is neither an option nor a global option's value."""
    words = iter(argv)
    for word in words:
        if word in _GLOBAL_OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


_GLOBAL_OPTIONS_WITH_VALUE = ("--log-level", "--log-format")


def _wants_help(argv: Sequence[str]) -> bool:
    return not [word for word in argv if not word.startswith("-")] or any(
        word in ("-h", "--help") for word in argv
    )


def _parser(plugins: dict[str, PluginCommand], missing: dict[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="floorgate", description="FloorGate: the real-time edge of a warehouse floor."
    )
    parser.add_argument("--version", action="version", version=f"floorgate {__version__}")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text for a terminal, json for a log shipper",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, plugin in sorted(plugins.items()):
        plugin.add_arguments(sub.add_parser(name, help=plugin.help, description=plugin.help))
    for name, why in sorted(missing.items()):
        sub.add_parser(name, help=f"(not available: {why})", description=why)
    run = sub.add_parser(
        "run",
        help="run the edge as the site file says",
        description="Run the edge: its store, the MQTT broker, devices, webhooks and the web server.",
    )
    run.add_argument("--config", type=Path, required=True, help="site file (TOML)")

    check = sub.add_parser(
        "check-config",
        help="validate a site file and say what the next start does to its store's schema",
        description=(
            "Validate a site file without starting anything; errors name the key and the line. Then read "
            "the store's schema revision: whether the next start creates, upgrades or refuses the store "
            "(exit 2 when the store is newer than this FloorGate)."
        ),
    )
    check.add_argument("path", type=Path, help="the site file (TOML)")
    add_store_commands(sub)
    return parser


def every_command_parser() -> argparse.ArgumentParser:
    """The parser with every command, those of the simulators included: what `floorgate --help` shows."""
    return _parser(*_plugins(["--help"]))


STORE_COMMANDS = ("backup", "restore")
BUILTIN_COMMANDS = ("run", "check-config", *STORE_COMMANDS)


def add_store_commands(sub: Any) -> None:
    backup = sub.add_parser(
        "backup",
        help="copy the SQLite store to a file, consistently, while the edge runs or not",
        description=(
            "Copy the site file's SQLite store to DEST through SQLite's online backup API: one consistent "
            "snapshot while the edge keeps running, checked and renamed into place at the end. "
            "A PostgreSQL store is backed up with pg_dump (see docs/operations.md)."
        ),
    )
    backup.add_argument("--config", type=Path, required=True, help="the edge's site file (TOML)")
    backup.add_argument("dest", type=Path, help="the backup file to write (must not exist yet)")
    restore = sub.add_parser(
        "restore",
        help="replace the SQLite store with a backup; the edge must be stopped",
        description=(
            "Replace the site file's SQLite store with SRC, a file `floorgate backup` wrote, after checking "
            "it; refuses while an edge runs on that store. The replaced store is kept beside it as "
            "floorgate.db.replaced-TIME."
        ),
    )
    restore.add_argument("--config", type=Path, required=True, help="the edge's site file (TOML)")
    restore.add_argument("src", type=Path, help="the backup file to restore")


def run_store_command(args: argparse.Namespace) -> int:
    config = load_or_explain(args.config)
    if config is None:
        return 2
    database = sqlite_file(config.store.url)
    if database is None:
        print(f"floorgate {args.command}: {postgres_advice(config.store.url)}", file=sys.stderr)
        return 2
    try:
        if args.command == "backup":
            report = backup_store(database, args.dest, progress=_show_progress)
            print(
                f"backup written: {report.path} ({report.bytes // 1024} kB, events up to seq "
                f"{report.last_seq}, {report.seconds:.1f} s); it passed SQLite's integrity check"
            )
        else:
            report = restore_store(args.src, database)
            print(
                f"store restored: {report.path} from {args.src} (events up to seq {report.last_seq}); "
                "start the edge to bring the floor back"
            )
    except BackupError as err:
        print(f"floorgate {args.command}: {err}", file=sys.stderr)
        return 1
    return 0


def _show_progress(copied: int, total: int) -> None:
    log.info(
        "backing up", extra={"pages": copied, "of": total, "percent": round(100 * copied / max(total, 1))}
    )


@contextlib.contextmanager
def hold_store(config: SiteConfig) -> Iterator[None]:
    """Hold the SQLite store's lock while the edge runs: `floorgate restore` and a second edge see it.

    A folder the lock file cannot be made in is left to the store's own start-up checks, which name a
    read-only or full disk properly.
    """
    with contextlib.ExitStack() as held:
        database = sqlite_file(config.store.url)
        if database is not None:
            try:
                held.enter_context(edge_lock(database))
            except OSError as err:
                log.warning(
                    "running without the store's lock file", extra={"store": str(database), "error": str(err)}
                )
        yield


def missing_libraries(config: SiteConfig) -> str | None:
    """Why the edge cannot start with the libraries installed (evdev for a USB HID scanner), or None."""
    scanning: tuple[StationSpec | WallSpec, ...] = (*config.owned_stations(), *config.owned_walls())
    paths = [s.scanner.device for s in scanning if isinstance(s.scanner, HidScanner)]
    why = missing_evdev(paths)
    return None if why is None else f"cannot start: {why}"


# Set by SIGINT/SIGTERM before the event loop runs: a Ctrl-C while the heavy libraries are still being
# imported must stop the edge, not raise KeyboardInterrupt inside some library's import-time code
# (one of them swallows it, and the process then ran on, deaf to the Ctrl-C it already got).
_early_stop: list[int] = []


def _remember_signal(signum: int, _frame: object) -> None:
    _early_stop.append(signum)


def main(argv: Sequence[str] | None = None) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _remember_signal)
    words = list(sys.argv[1:] if argv is None else argv)
    plugins, missing = _plugins(words)
    named = next((word for word in words if word in missing), None)
    if named is not None and not _wants_help(words):
        print(f"floorgate {named}: {missing[named]}", file=sys.stderr)
        return 2
    args = _parser(plugins, missing).parse_args(words)
    if args.command != "run":
        gc.enable()  # paused for `run`'s start only (see the imports)
    logs.configure(args.log_level, args.log_format)
    if args.command == "check-config":
        return _check_config(args.path)
    if args.command in STORE_COMMANDS:
        return run_store_command(args)
    plugin = plugins.get(args.command)
    if plugin is not None:
        return plugin.run(args)
    config = load_or_explain(args.config)
    if config is None:
        return 2
    unmet = missing_libraries(config)
    if unmet is not None:
        print(unmet, file=sys.stderr)
        return 2
    try:
        with hold_store(config):
            return run_until_signal(_run(config))
    except StoreInUse as err:
        print(f"cannot start: {err}", file=sys.stderr)
        return 2


def _check_config(path: Path) -> int:
    config = load_or_explain(path)
    if config is None:
        return 2
    from floorgate.edge.store import StoreError, StoreTooNew

    try:
        schema = store_schema(config.store.url)
    except StoreTooNew as err:
        print(f"{path}: the edge cannot start on its store: {err}", file=sys.stderr)
        return 2
    except StoreError as err:
        schema = f"not checked: {err}"
    print(
        f"{path}: OK — site {config.site.id!r}, edge {config.edge.id!r}, {len(config.zones)} zones, "
        f"{len(config.locations)} locations, {len(config.stations)} stations, {len(config.walls)} walls, "
        f"{len(config.tokens)} tokens, "
        f"{len(config.webhooks)} webhooks; store {_safe_url(config.store.url)} ({schema})"
    )
    return 0


def store_schema(url: str) -> str:
    """What the next start does to the store's schema, in words; StoreTooNew when it would refuse it.

    Reads only: an SQLite store that does not exist yet is not created.
    """
    from floorgate.edge.store import make_engine, schema_state

    database = sqlite_file(url)
    if database is not None and not database.exists():
        return "none yet: the first start creates it"
    engine = make_engine(url)
    try:
        return schema_state(engine).describe()
    finally:
        engine.dispose()


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def load_or_explain(path: Path) -> SiteConfig | None:
    try:
        return load_site(path)
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        return None


async def _run(config: SiteConfig) -> None:
    from floorgate.edge.runtime import build, run_edge

    if config.mqtt is None:
        raise SystemExit(
            "the site file has no [mqtt] url; `floorgate run` needs a broker (the demo embeds one)"
        )

    async def ready(parts: Any) -> None:
        log.info(
            "edge running",
            extra={
                "site": config.site.id,
                "edge": config.edge.id,
                "http": parts.url,
                "mqtt": config.mqtt.url if config.mqtt else None,
            },
        )

    if config.edge.standby:
        from floorgate.edge.standby.pair import run_pair

        gc.enable()  # a standby may wait for hours before it builds anything
        await run_pair(config, mqtt=config.mqtt.endpoint())
        return
    parts = await build(config, mqtt=config.mqtt.endpoint(), early_lights=True)
    await run_edge(parts, on_ready=ready)


# How long a stop may take before the process gives up waiting for what is stuck, and says what it was.
SHUTDOWN_SECONDS = 20.0


def _give_up(work: asyncio.Future[None]) -> None:
    stuck = sorted(
        f"{task.get_name()}: {task.get_coro()!r}"
        for task in asyncio.all_tasks()
        if not task.done() and task is not work
    )
    log.error(
        "shutdown took longer than %g s; exiting with these still running: %s",
        SHUTDOWN_SECONDS,
        "; ".join(stuck),
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    # Committed work is safe on disk; what is stuck is what the log above names.
    os._exit(1)


def run_until_signal(coro: Coroutine[Any, Any, None]) -> int:
    """Run until done or until SIGINT/SIGTERM, which cancel the work so it shuts down in order.

    Some libraries swallow a cancellation that lands while they start up (a broker binding, a client
    connecting), so a single cancel can be lost and Ctrl-C would do nothing. The signal only sets an
    event; the work is then cancelled, again and again, until it has really finished.
    """

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if _early_stop:
            coro.close()
            return
        work = asyncio.ensure_future(coro)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # asyncio's own Ctrl-C handling, before ours was installed: stop all the same
        finally:
            stopping.cancel()
            deadline = loop.time() + SHUTDOWN_SECONDS
            orderly = True
            while not work.done():
                if loop.time() > deadline:
                    _give_up(work)
                if orderly:
                    work.cancel()  # the work stops its parts in order (HTTP, then the rest, "offline" last)
                    orderly = False
                else:
                    # A task deep inside may have lost its cancellation (Python 3.11's wait_for can drop
                    # one that races a result) and would keep its task group waiting: cancel them all.
                    for task in asyncio.all_tasks():
                        if task is not asyncio.current_task() and not task.done():
                            task.cancel()
                await asyncio.wait({work}, timeout=2)
        if not work.cancelled():
            work.result()

    from floorgate.edge.runtime import EdgeStartupError

    try:
        with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
            asyncio.run(runner())
    except EdgeStartupError as err:
        log.error("cannot start: %s", err)  # noqa: TRY400 - the message is the whole story, no traceback
        return 2
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
