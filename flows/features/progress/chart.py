"""/progress: a picture of a person's Ten Top Tips self-checks, and what they did each week.

Counting and choosing are pure functions of the answers; drawing uses matplotlib's Agg canvas,
imported only when the first picture is drawn, so start-up and the tests stay quick. No scores
and no streaks: how often each answer was given, and how many of each question set per week.
"""

from __future__ import annotations

import functools
import io
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from flows.kernel import render
from flows.kernel.crypto import Cipher
from flows.kernel.model import Button, Outcome, Photo
from flows.kernel.turn import Turn
from flows.questions.catalogue import Catalogue
from flows.questions.sets import Flow
from flows.store.rows import EntryRow
from flows.store.unit import Unit

if TYPE_CHECKING:  # for annotations only: matplotlib is imported when the first picture is drawn
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WEEKS = (4, 12, 52)  # the buttons under the picture
DEFAULT_WEEKS = 12
PAGE = 200  # self-checks decrypted per unit of work
TIPS = "top_tips"
ACTIVITY = ("preparation", "in_the_moment", "reflection")  # counted per week

# Okabe–Ito: told apart with any colour vision, and by lightness alone (dark, mid, light).
# Nothing is red: "Not this time" is not a failure.
ANSWER_COLOURS = ("#0072B2", "#56B4E9", "#F0E442")
# A tip that didn't come up is not an answer about how it went: counted and drawn apart, to the
# right of the bar (which shares out only the answers that applied), never one to think about.
DIDNT_COME_UP = "didnt_come_up"
APPLIED_WIDTH = 0.8  # of each tip's row: the bar; the box for "didn't come up" is after a gap
APART_LEFT, APART_WIDTH = 0.85, 0.15
ACTIVITY_COLOURS = ("#009E73", "#E69F00", "#CC79A7")
INK = "#1A1A1A"
QUIET = "#5F5F5F"
WIDTH, HEIGHT, DPI = 1080, 1620, 120  # pixels: portrait, for a phone screen


@dataclass(frozen=True, slots=True)
class Tip:
    id: str
    label: str
    counts: tuple[int, ...]  # how often each answer was given, in the question set's order
    apart: int = 0  # how often it didn't come up (not among `counts`)


@dataclass(frozen=True, slots=True)
class Progress:
    weeks: int
    answers: tuple[str, ...]  # the answer labels, from the question set: Yes, Partly, …
    tips: tuple[Tip, ...]
    checks: int  # self-checks in these weeks
    activity: tuple[tuple[str, tuple[int, ...]], ...]  # (question set title, count per week)
    week_starts: tuple[date, ...]  # the Monday of each week, oldest first
    apart: str = ""  # the label of "Didn't come up", when the question set has it

    def most_done(self) -> Tip | None:
        """The tip most often answered with the first answer (Yes); the first in order on a tie."""
        best = max(self.tips, key=lambda tip: tip.counts[0], default=None)
        return best if best is not None and best.counts[0] > 0 else None

    def to_think_about(self) -> Tip | None:
        """The tip most often answered with the last answer (Not this time), then the one
        before it (Partly); never the tip done most. None when every answer was the first."""
        done = self.most_done()
        rest = [tip for tip in self.tips if tip is not done]

        def weight(tip: Tip) -> tuple[int, ...]:
            return tuple(reversed(tip.counts[1:]))

        best = max(rest, key=weight, default=None)
        return best if best is not None and any(weight(best)) else None


def window_start(now: datetime, zone: tzinfo, weeks: int) -> datetime:
    """Midnight on the Monday `weeks - 1` weeks before this week's, in the person's time zone."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    return datetime(monday.year, monday.month, monday.day, tzinfo=zone)


def gather(
    tips_flow: Flow,
    checks: Iterable[Mapping[str, str]],
    activity: Mapping[str, Sequence[datetime]],
    now: datetime,
    zone: tzinfo,
    weeks: int,
) -> Progress:
    """Count the answers of each tip, and each question set's entries per week.

    `checks` are the stored answers (choice values) of the self-checks in the window;
    `activity` maps a question set's title to when each of its entries was made."""
    steps = [s for s in tips_flow.steps.values() if s.input == "choice"]
    choices = [c for c in steps[0].choices if c.value != DIDNT_COME_UP] if steps else []
    values = [c.value for c in choices]
    labels = tuple(c.label for c in choices)
    apart_choice = steps[0].choice(DIDNT_COME_UP) if steps else None
    counts = {s.id: [0] * len(values) for s in steps}
    apart = dict.fromkeys((s.id for s in steps), 0)
    total = 0
    for answers in checks:
        total += 1
        for step in steps:
            value = answers.get(step.id)
            if value in values:
                counts[step.id][values.index(value)] += 1
            elif value == DIDNT_COME_UP:
                apart[step.id] += 1
    start = window_start(now, zone, weeks)
    starts = tuple(start.date() + timedelta(weeks=n) for n in range(weeks))
    per_week: list[tuple[str, tuple[int, ...]]] = []
    for title, moments in activity.items():
        week_counts = [0] * weeks
        for moment in moments:
            index = (moment.astimezone(zone).date() - start.date()).days // 7
            if 0 <= index < weeks:
                week_counts[index] += 1
        per_week.append((title, tuple(week_counts)))
    return Progress(
        weeks,
        labels,
        tuple(Tip(s.id, s.label, tuple(counts[s.id]), apart[s.id]) for s in steps),
        total,
        tuple(per_week),
        starts,
        apart_choice.label if apart_choice else "",
    )


@dataclass(frozen=True, slots=True)
class Wording:
    """Every word on the picture, from prompts/messages.yaml (plain text, not HTML)."""

    title: str
    tips_heading: str
    activity_heading: str
    none_this_time: str  # in the weekly panel when there was nothing
    week_of: str  # a date label format for the weekly axis, e.g. "%-d %b"


def respond(t: Turn, cat: Catalogue, zone: tzinfo, weeks: int) -> None:
    """A picture of the Ten Top Tips self-checks over `weeks`, drawn after the transaction
    (the data is read here, in it); a kind sentence instead when there are none yet."""
    start = window_start(t.now, zone, weeks)
    say = cat.say
    buttons = [[Button(say("button_weeks", weeks=w, chosen=w == weeks), f"pg:{w}") for w in WEEKS]]
    tips_flow = cat.flows.get(TIPS)
    rows = t.tx.entries(t.person.id, limit=-1, flows=(TIPS,), since=start) if tips_flow else []
    if tips_flow is None or not rows:
        ever = bool(tips_flow) and bool(t.tx.entries(t.person.id, limit=1, flows=(TIPS,)))
        t.say(say("progress_none", ever=ever, weeks=weeks), buttons if ever else [])
        return
    names = [name for name in ACTIVITY if name in cat.flows]
    made = t.tx.entries(t.person.id, limit=-1, flows=names, since=start) if names else []
    activity = {
        cat.flows[name].title: [e.created_at for e in made if e.flow == name] for name in names
    }
    # The checks' answers are decrypted a page per unit of work after this one (so a long
    # history holds up nobody else), then the picture is drawn off the database thread.
    t.out.reads.append(_Reader(rows, t.row.cipher, tips_flow, activity, t.now, zone, weeks, cat))


class _Reader:
    """Reads the self-checks a page at a time (Outcome.reads), then queues the picture."""

    def __init__(
        self,
        rows: list[EntryRow],
        cipher: Cipher,
        tips_flow: Flow,
        activity: dict[str, list[datetime]],
        now: datetime,
        zone: tzinfo,
        weeks: int,
        cat: Catalogue,
    ) -> None:
        self.rows, self.cipher, self.tips_flow, self.activity = rows, cipher, tips_flow, activity
        self.now, self.zone, self.weeks, self.cat = now, zone, weeks, cat
        self.checks: list[dict[str, str]] = []

    def __call__(self, tx: Unit, out: Outcome) -> bool:
        page = self.rows[len(self.checks) : len(self.checks) + PAGE]
        self.checks += [tx.answers(self.cipher, entry.id) for entry in page]
        if len(self.checks) < len(self.rows):
            return False
        say, weeks = self.cat.say, self.weeks
        data = gather(self.tips_flow, self.checks, self.activity, self.now, self.zone, weeks)
        most, think = data.most_done(), data.to_think_about()
        caption = say(
            "progress_line", most=most.label if most else "", think=think.label if think else ""
        )
        words = Wording(
            title=render.to_plain(say("progress_title", weeks=weeks)),
            tips_heading=render.to_plain(say("progress_tips_heading", checks=data.checks)),
            activity_heading=render.to_plain(say("progress_activity_heading")),
            none_this_time=render.to_plain(say("progress_nothing_these_weeks")),
            week_of=render.to_plain(say("progress_date_format")),
        )
        buttons = [
            [Button(say("button_weeks", weeks=w, chosen=w == weeks), f"pg:{w}") for w in WEEKS]
        ]
        picture = functools.partial(render_png, data, words)
        out.photos.append(Photo(f"progress-{weeks}-weeks.png", caption, buttons, make=picture))
        return True


_DRAWING = threading.Lock()  # matplotlib is not thread-safe: one picture at a time


def render_png(progress: Progress, words: Wording) -> bytes:
    """The picture as PNG bytes, WIDTH × HEIGHT pixels."""
    with _DRAWING:
        return _draw(progress, words)


def _draw(progress: Progress, words: Wording) -> bytes:
    from matplotlib import rc_context

    # Labels come from question sets an organisation may write: "$…$" in one must print as
    # written, not be parsed as mathematics (which can fail and would lose the picture).
    with rc_context({"text.parse_math": False}):
        return _draw_figure(progress, words)


@dataclass(slots=True)
class _Layer:
    """A figure with the parts that are the same for everyone already drawn (title, labels,
    legends), and those pixels kept: each picture starts from them and draws only its data."""

    figure: Figure
    canvas: Any  # a FigureCanvasAgg, whose methods matplotlib leaves untyped
    tips: Axes
    weeks: Axes
    background: Any


_LAYERS: dict[tuple[object, ...], _Layer] = {}
_LAYERS_KEPT = 3  # one per length of time, for the locale last used (about 14 MB each)


def _draw_figure(progress: Progress, words: Wording) -> bytes:
    from PIL import Image

    layer = _layer(progress, words)
    layer.canvas.restore_region(layer.background)
    artists = [*_tips_data(layer, progress, words), *_weeks_data(layer, progress, words)]
    renderer = layer.canvas.get_renderer()
    for artist in artists:
        artist.draw(renderer)
    width, height = layer.canvas.get_width_height()
    image = Image.frombuffer(
        "RGBA", (width, height), layer.canvas.buffer_rgba(), "raw", "RGBA", 0, 1
    )
    buffer = io.BytesIO()
    image.save(buffer, format="png", compress_level=1)
    for artist in artists:
        artist.remove()
    return buffer.getvalue()


def _layer(progress: Progress, words: Wording) -> _Layer:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    key = (
        (WIDTH, HEIGHT, DPI),
        progress.weeks,
        progress.answers,
        progress.apart,
        tuple(tip.label for tip in progress.tips),
        tuple(title for title, _ in progress.activity),
        words.title,
        words.activity_heading,
    )
    found = _LAYERS.pop(key, None)
    if found is not None:
        _LAYERS[key] = found  # the most recently used goes last
        return found
    fig = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, facecolor="white")
    canvas: Any = FigureCanvasAgg(fig)
    fig.text(0.05, 0.975, words.title, fontsize=24, weight="bold", color=INK, va="top")
    apart = [Patch(facecolor="white", edgecolor=QUIET, linestyle="--", label=progress.apart)]
    fig.legend(
        handles=[
            *(
                Patch(facecolor=colour, edgecolor=QUIET, linewidth=0.6, label=label)
                for label, colour in zip(progress.answers, ANSWER_COLOURS, strict=False)
            ),
            *(apart if progress.apart else []),
        ],
        loc="upper left",
        bbox_to_anchor=(0.04, 0.91),
        ncols=4 if progress.apart else 3,
        fontsize=17,
        frameon=False,
        handlelength=1.0,
        columnspacing=1.2,
    )
    tips = fig.add_axes((0.05, 0.36, 0.9, 0.52))
    rows = len(progress.tips)
    for row, tip in enumerate(progress.tips):
        tips.text(0, rows - 1 - row + 0.28, tip.label, fontsize=18, color=INK, va="bottom")
    tips.set_xlim(0, 1)
    tips.set_ylim(-0.5, rows - 0.1)
    tips.set_axis_off()
    fig.text(0.05, 0.325, words.activity_heading, fontsize=17, color=QUIET, va="top")
    weeks = fig.add_axes((0.1, 0.06, 0.85, 0.19))
    weeks.set_xlim(-0.6, progress.weeks - 0.4)
    weeks.set_axis_off()
    weeks.legend(
        handles=[
            Patch(facecolor=colour, label=title)
            for (title, _), colour in zip(progress.activity, ACTIVITY_COLOURS, strict=False)
        ],
        loc="lower left",
        bbox_to_anchor=(-0.07, 1.0),
        ncols=3,
        fontsize=15,
        frameon=False,
        handlelength=1.0,
        columnspacing=1.0,
    )
    canvas.draw()
    layer = _Layer(fig, canvas, tips, weeks, canvas.copy_from_bbox(fig.bbox))
    _LAYERS[key] = layer
    while len(_LAYERS) > _LAYERS_KEPT:
        del _LAYERS[next(iter(_LAYERS))]
    return layer


def _tips_data(layer: _Layer, progress: Progress, words: Wording) -> list[Artist]:
    """How many checks, and each tip's bar split by how often each answer was given."""
    ax = layer.tips
    artists: list[Artist] = [
        layer.figure.text(0.05, 0.935, words.tips_heading, fontsize=17, color=QUIET, va="top")
    ]
    rows = len(progress.tips)
    bars: list[list[tuple[float, float, float, float]]] = [[] for _ in ANSWER_COLOURS]
    empty: list[tuple[float, float, float, float]] = []
    apart: list[tuple[float, float, float, float]] = []
    labels: list[Artist] = []
    full = APPLIED_WIDTH if progress.apart else 1.0
    for row, tip in enumerate(progress.tips):
        y = rows - 1 - row
        total = sum(tip.counts)
        if tip.apart:
            apart.append((APART_LEFT, y - 0.21, APART_WIDTH, 0.42))
            middle = APART_LEFT + APART_WIDTH / 2
            labels.append(
                ax.text(middle, y, str(tip.apart), fontsize=15, color=INK, ha="center", va="center")
            )
        if not total:
            empty.append((0.0, y - 0.21, full, 0.42))
            continue
        left = 0.0
        for index, count in enumerate(tip.counts[: len(ANSWER_COLOURS)]):
            width = full * count / total
            if not width:
                continue
            bars[index].append((left, y - 0.21, width, 0.42))
            if width >= 0.08:  # how often, written in the bar when there is room
                ink = "white" if index == 0 else INK
                middle = left + width / 2
                labels.append(
                    ax.text(middle, y, str(count), fontsize=15, color=ink, ha="center", va="center")
                )
            left += width
    for rects, colour in zip(bars, ANSWER_COLOURS, strict=True):
        artists += _rectangles(ax, rects, colour)
    artists += _rectangles(ax, empty, "#EDEDED")
    artists += _rectangles(ax, apart, "white", edge=QUIET, dashed=True)
    return artists + labels


def _weeks_data(layer: _Layer, progress: Progress, words: Wording) -> list[Artist]:
    """How many of each question set, per week: stacked bars, one per week. The scale and the
    dates are plain text and one set of lines, not matplotlib's tick machinery (far quicker)."""
    from matplotlib.collections import LineCollection

    ax = layer.weeks
    bottom = [0] * progress.weeks
    bars: list[Artist] = []
    for (_, counts), colour in zip(progress.activity, ACTIVITY_COLOURS, strict=False):
        rects = [
            (w - 0.4, b, 0.8, c) for w, (b, c) in enumerate(zip(bottom, counts, strict=True)) if c
        ]
        bars += _rectangles(ax, rects, colour)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    top = max(max(bottom, default=0), 1)
    ax.set_ylim(0, top * 1.15)
    artists: list[Artist] = []
    if not any(bottom):
        artists.append(
            ax.text(
                0.5,
                0.5,
                words.none_this_time,
                transform=ax.transAxes,
                fontsize=16,
                color=QUIET,
                ha="center",
                va="center",
            )
        )
    left, right = -0.6, progress.weeks - 0.4
    step = max(1, math.ceil(top / 3))
    levels = list(range(0, top + 1, step)) if any(bottom) else [0]
    lines = [[(left, level), (right, level)] for level in levels]
    artists.append(ax.add_collection(LineCollection(lines, colors="#D0D0D0", linewidths=0.8)))
    artists += bars
    artists += ax.plot([left, right], [0, 0], color=INK, linewidth=1.2)
    for level in levels:
        x = left - 0.01 * progress.weeks
        artists.append(
            ax.text(x, level, str(level), fontsize=15, color=INK, ha="right", va="center")
        )
    every = max(1, progress.weeks // 4)
    for index in range(0, progress.weeks, every):
        label = progress.week_starts[index].strftime(words.week_of)
        artists.append(
            ax.text(index, -0.06 * top, label, fontsize=15, color=INK, ha="center", va="top")
        )
    return artists


def _rectangles(
    ax: Axes,
    rects: Sequence[tuple[float, float, float, float]],
    colour: str,
    edge: str = "white",
    dashed: bool = False,
) -> list[Artist]:
    """Many rectangles (x, y, width, height) as one collection: far quicker to draw than bars."""
    from matplotlib.collections import PolyCollection

    if not rects:
        return []
    shapes = [[(x, y), (x + w, y), (x + w, y + h), (x, y + h)] for x, y, w, h in rects]
    collection = PolyCollection(
        shapes,
        facecolors=colour,
        edgecolors=edge,
        linewidths=1.0,
        linestyles="--" if dashed else "-",
    )
    return [ax.add_collection(collection, autolim=False)]
