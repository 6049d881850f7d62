"""Setting a simulated module's display with its +/- keys, as a counter or stocker does before confirming."""

from __future__ import annotations

from floorgate.core.commands import Button
from floorgate.firmware_sim.ptl_modules import ModuleBank


async def key_in(bank: ModuleBank, module: str, value: int) -> None:
    """Press plus or minus on a lit module until its display shows `value`."""
    shown = int(bank.state(module).display)
    button = Button.PLUS if value > shown else Button.MINUS
    for _ in range(abs(value - shown)):
        await bank.press(module, button)
    assert bank.state(module).display == str(value), bank.state(module)


async def count_as(bank: ModuleBank, module: str, value: int) -> None:
    """Key `value` in on the module and confirm it."""
    await key_in(bank, module, value)
    await bank.press(module, Button.CONFIRM)
