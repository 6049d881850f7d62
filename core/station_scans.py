"""Station scans: a scanner's read, routed to the scan flow of the kind of station it was read at.

Each capability that takes scans at a kind of station (zone start stations, pack stations, a put wall
later) gives the floor its flow; a scan at an unknown station, or at one whose kind takes no scans, is an
exception for a person.
"""

from __future__ import annotations

from collections.abc import Mapping

from floorgate.core import commands as cmd
from floorgate.core.capability import Handler, ScanFlow
from floorgate.core.exception_book import ExceptionBook
from floorgate.core.outcome import Outcome
from floorgate.core.state import FloorState


class StationScans:
    """Routes RecordScan by station kind."""

    def __init__(self, state: FloorState, book: ExceptionBook, flows: Mapping[str, ScanFlow]) -> None:
        self._state = state
        self._book = book
        self._flows = dict(flows)

    def handlers(self) -> Mapping[type[cmd.Command], Handler]:
        return {cmd.RecordScan: self._record_scan}

    def rebuild(self) -> None:
        """Nothing to derive: the stations are the state."""

    def _record_scan(self, command: cmd.RecordScan, now: float) -> Outcome:
        station = self._state.stations.get(command.station)
        flow = self._flows.get(station.kind) if station is not None else None
        if station is None or flow is None:
            outcome = Outcome()
            what = (
                "an unknown station" if station is None else f"a {station.kind} station, which takes no scans"
            )
            self._book.raise_(
                outcome,
                now,
                kind="unexpected_scan",
                message=f"scan {command.data!r} at {what} ({command.station!r})",
                device=command.scanner or command.station,
                detail={"station": command.station, "data": command.data},
            )
            return outcome
        return flow(station, command, now)
