"""/progress as a feature."""

from __future__ import annotations

from flows.features.progress import chart
from flows.kernel.feature import Feature
from flows.kernel.ids import number
from flows.kernel.turn import Turn, wording, zone


def progress(t: Turn, weeks: int) -> None:
    chart.respond(t, wording(), zone(t.row.timezone), weeks)


def _command(t: Turn, args: str) -> None:
    progress(t, chart.DEFAULT_WEEKS)
    t.still_in_flow()


def _weeks(t: Turn, rest: str) -> None:
    """The buttons under the picture: another span of weeks."""
    weeks = number(rest, 3)
    if weeks in chart.WEEKS:
        progress(t, weeks)
    else:
        t.not_found()


FEATURE = Feature(
    name="progress",
    commands={"progress": _command},
    menu=("progress",),
    buttons={"pg": _weeks},
)
