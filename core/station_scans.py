"""Station scans: a scanner's read, routed to the scan flow of the kind of station it was read at.

Each capability that takes scans at a kind of station (zone start stations, pack stations, a put wall
later) gives the floor its flow; a scan at an unknown station, or at one whose kind takes no scans, is an
exception for a person.
"""

from __future__ import annotations

from collections.abc import Mapping

from floorgate.core import commands as cmd
from floorgate.core.capability import Handler, ScanFlow
from floorgate.core.exception_book import ExceptionBook, short_id
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
        # A station's mode may have a flow of its own ("zone/putaway"); else its kind's flow takes it.
        flow = (
            self._flows.get(f"{station.kind}/{station.mode}") or self._flows.get(station.kind)
            if station is not None
            else None
        )
        if station is None:
            # A scanner of no station (an MQTT id nobody configured): folded, as invented ids must not
            # each raise an exception.
            outcome = Outcome()
            scanner = short_id(command.scanner or command.station)
            self._book.raise_unknown(
                outcome,
                now,
                kind="unexpected_scan",
                message=f"scan {command.data[:200]!r} at an unknown station ({short_id(command.station)!r})",
                device=scanner,
                detail={"station": short_id(command.station), "data": command.data[:200]},
            )
            return outcome
        if flow is None:
            outcome = Outcome()
            self._book.raise_(
                outcome,
                now,
                kind="unexpected_scan",
                message=f"scan {command.data!r} at a {station.kind} station, which takes no scans "
                f"({command.station!r})",
                device=command.scanner or command.station,
                detail={"station": command.station, "data": command.data},
            )
            return outcome
        return flow(station, command, now)
