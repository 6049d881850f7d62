"""Command line for a bank of simulated PTL modules, for trying the protocol by hand.

    python -m firmware_sim.ptl_cli --broker mqtt://127.0.0.1:1883 --site demo --modules A-01-01,A-01-02
    python -m firmware_sim.ptl_cli --site demo --count 20 --prefix A-

It prints one line per cmd received and per key press, and reads key presses from stdin as
`<module> <confirm|short|plus|minus>` lines. Try it with mosquitto_pub/mosquitto_sub, e.g.
    mosquitto_pub -t floorgate/demo/ptl/A-01-01/cmd -r -q 1 \\
        -m '{"seq": 1, "color": "blue", "blink": "none", "display": "3"}'
Ctrl-C stops it cleanly (every module says offline).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from floorgate.core.commands import Button
from floorgate.devices.mqtt.endpoint import InvalidMqttUrl, MqttEndpoint
from floorgate.devices.ptl.codec import ModuleCommand
from floorgate.firmware_sim.mqtt_client import add_tls_arguments, with_tls_arguments
from floorgate.firmware_sim.ptl_modules import ModuleBank, ModuleOffline
from floorgate.firmware_sim.ptl_observation import CommandOutcome, CommandReceipt


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m firmware_sim.ptl_cli",
        description="Run simulated pick-to-light modules on MQTT until Ctrl-C.",
    )
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt:// or mqtts:// URL")
    parser.add_argument("--site", default="demo", help="site id: topics are floorgate/{site}/ptl/...")
    parser.add_argument("--modules", default="", help="comma-separated module ids")
    parser.add_argument("--count", type=int, default=0, help="also make N modules named PREFIX01..")
    parser.add_argument("--prefix", default="M-", help="name prefix for --count modules")
    parser.add_argument(
        "--connections",
        type=int,
        default=None,
        help="spread modules over K MQTT connections (default: one per module)",
    )
    parser.add_argument("--no-ack", action="store_true", help="apply cmds but never ack them")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_tls_arguments(parser)
    args = parser.parse_args(argv)
    if not module_names(args):
        parser.error("give --modules and/or --count")
    if args.count < 0:
        parser.error("--count must not be negative")
    return args


def module_names(args: argparse.Namespace) -> list[str]:
    names = [name.strip() for name in str(args.modules).split(",") if name.strip()]
    width = max(2, len(str(args.count)))
    names.extend(f"{args.prefix}{number:0{width}d}" for number in range(1, args.count + 1))
    return names


def describe(command: ModuleCommand) -> str:
    if command.off:
        return "off"
    return f"{command.color}/{command.blink.value} {command.display!r}"


def print_receipt(receipt: CommandReceipt) -> None:
    command = receipt.command
    if receipt.outcome is CommandOutcome.DELETED:
        print(f"{receipt.module}  cmd deleted (empty retained), ignored", flush=True)
    elif command is None:
        print(f"{receipt.module}  cmd MALFORMED ({receipt.error})", flush=True)
    elif receipt.outcome is CommandOutcome.STALE:
        print(f"{receipt.module}  cmd seq={command.seq} STALE, ignored", flush=True)
    else:
        ack = "acked" if receipt.acked else "not acked"
        print(
            f"{receipt.module}  cmd seq={command.seq} {receipt.outcome.value}: {describe(command)} ({ack})",
            flush=True,
        )


async def press_from_line(bank: ModuleBank, line: str) -> None:
    words = line.split()
    if not words:
        return
    buttons = ", ".join(b.value for b in Button)
    if len(words) != 2 or words[0] not in bank.modules or words[1] not in {b.value for b in Button}:
        print(f"? type '<module> <button>' with button one of {buttons}", flush=True)
        return
    module, button = words[0], Button(words[1])
    try:
        event = await bank.press(module, button)
    except ModuleOffline as err:
        print(f"{module}  press {button.value} FAILED: {err}", flush=True)
        return
    # A confirm or short pressed while offline is kept and sent once the module is back.
    held = "" if bank.online(module) else " (offline: kept until the module is back)"
    print(f"{module}  press {button.value} display={event.display!r} id={event.id}{held}", flush=True)


async def read_presses(bank: ModuleBank) -> None:
    """Key presses typed on stdin, read without a thread so Ctrl-C never waits for a line."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def readable() -> None:
        line = sys.stdin.readline()
        lines.put_nowait(line if line else None)

    try:
        loop.add_reader(sys.stdin.fileno(), readable)
    except (OSError, ValueError, NotImplementedError) as err:
        # A regular file or a closed stdin cannot be watched: run without typed presses.
        logging.getLogger(__name__).info("not reading presses from stdin: %s", err)
        return
    try:
        while (line := await lines.get()) is not None:
            await press_from_line(bank, line)
    finally:
        loop.remove_reader(sys.stdin.fileno())


async def run(args: argparse.Namespace) -> None:
    endpoint = with_tls_arguments(MqttEndpoint.from_url(args.broker), args)
    names = module_names(args)
    bank = ModuleBank(
        endpoint,
        args.site,
        names,
        connections=args.connections,
        ack=not args.no_ack,
        on_cmd=print_receipt,
    )
    task = asyncio.current_task()
    if task is not None:
        # SIGTERM stops as cleanly as Ctrl-C does (asyncio.run already turns SIGINT into a cancel).
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await bank.start(wait=False)
    try:
        print(
            f"{len(names)} PTL modules of site {args.site!r} on {endpoint.url}; "
            "type '<module> <button>' to press, Ctrl-C to stop",
            flush=True,
        )
        await read_presses(bank)
        await asyncio.Event().wait()  # stdin closed: keep serving cmds until stopped
    finally:
        await bank.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(run(args))
    except InvalidMqttUrl as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0  # Ctrl-C or SIGTERM: the bank has already said offline
    return 0


if __name__ == "__main__":
    sys.exit(main())
