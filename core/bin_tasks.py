"""What putaways and cycle counts share: the quantity a module reports, their lights, and a refused value.

Both light a bin through the light board's claims (core/light_board.py) and take the value the module
shows at confirm as the truth: what was put, what was counted. A value the floor cannot take (not a
number, or past any real bin) leaves everything as it was: the bin flashes the error colour with what it
asked for, and an exception names the value, so a person looks at the module.
"""

from __future__ import annotations

from floorgate.core import commands as cmd
from floorgate.core.exception_book import ExceptionBook
from floorgate.core.instructions import ERROR_COLOR, Blink
from floorgate.core.light_board import LightBoard
from floorgate.core.outcome import Outcome

# The most one task may put or count in one bin: the API's bound on an order line's quantity too. A display
# past it is a stuck key or a broken module, not stock.
MAX_QUANTITY = 100_000

# A putaway lights its bin steady white, a count blinks white slowly: neither is a picker's colour in a zone
# with fewer than seven pickers, and red stays the error colour.
PUTAWAY_COLOR = "white"
COUNT_COLOR = "white"
COUNT_BLINK = Blink.SLOW

# The presses that report a value; plus and minus only edit the module's own display.
VALUE_BUTTONS = frozenset({cmd.Button.CONFIRM, cmd.Button.SHORT})


def reported_quantity(display: str | None) -> int:
    """The quantity a module showed at a press. Raises ValueError for anything else (none, text, a sign,
    a value past MAX_QUANTITY)."""
    text = (display or "").strip()
    if not text.isascii() or not text.isdigit():
        raise ValueError(display)
    value = int(text)
    if value > MAX_QUANTITY:
        raise ValueError(display)
    return value


def check_quantity(qty: int, *, field: str = "qty") -> str | None:
    """Why a requested quantity cannot be taken, or None when it can."""
    if qty < 1:
        return f"{field} must be at least 1"
    if qty > MAX_QUANTITY:
        return f"{field} must be at most {MAX_QUANTITY}"
    return None


def refuse_value(
    board: LightBoard,
    book: ExceptionBook,
    outcome: Outcome,
    now: float,
    *,
    command: cmd.PressButton,
    code: str,
    kind: str,
    what: str,
    shows: str,
    detail: dict[str, object],
) -> None:
    """A press whose value cannot be taken: nothing changes but the light (red, fast, still asking
    `shows`) and an exception of `kind` for a person."""
    board.set_light(command.module, outcome, color=ERROR_COLOR, blink=Blink.FAST, display=shows)
    book.raise_(
        outcome,
        now,
        kind=kind,
        message=f"{what}: module {command.module!r} reported {command.display!r}, which is no quantity "
        f"from 0 to {MAX_QUANTITY}; nothing was recorded",
        location=code,
        device=command.module,
        detail={**detail, "button": command.button.value, "display": command.display},
    )
