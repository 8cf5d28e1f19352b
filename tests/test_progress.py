"""/progress: a picture of the Ten Top Tips self-checks, with one line of text under it."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from PIL import Image

from flows.features.progress import chart as progress
from flows.store.rows import iso
from flows.store.unit import Unit
from tests.drivers import Chat, Clock, Harness, plain
from tests.offline import Call

TIPS = [
    "listening",
    "goals",
    "strengths",
    "lived_experience",
    "beyond_sick_role",
    "wider_resources",
    "self_management",
    "their_wishes",
    "respect",
    "hope",
]


def photos(chat: Chat) -> list[Call]:
    return [c for c in chat.bot.request.calls if c.method == "sendPhoto"]


def picture(call: Call) -> Image.Image:
    upload = call.params["photo"]
    image = Image.open(io.BytesIO(upload.content))
    image.load()  # decodes the whole image, not just its header
    return image


async def seed(
    bot: Harness,
    person_id: int,
    moments: list[datetime],
    answers: Callable[[int], dict[str, str]],
    flow: str = "top_tips",
) -> None:
    """Entries written as the engine writes them (encrypted answers), made at `moments`."""
    store = bot.service.store

    def fill(tx: Unit) -> None:
        row = tx.person(person_id, "Europe/London")
        tx.set_welcomed(person_id)
        stamps = []
        for index, moment in enumerate(moments):
            entry_id = tx.create_entry(person_id, flow, None)
            for key, value in answers(index).items():
                tx.put_answer(row.cipher, entry_id, key, value)
            tx.set_entry_status(entry_id, "saved")
            stamps.append((iso(moment), iso(moment), entry_id))
        tx.conn.executemany(
            "UPDATE entries SET created_at = ?, updated_at = ? WHERE id = ?", stamps
        )

    await store.run(fill)


async def test_no_self_checks_yet_gets_a_kind_sentence_not_a_chart(chat: Chat) -> None:
    await chat.send("/start")
    replies = await chat.send("/progress")
    assert replies == [
        "There's nothing to show yet, and that's fine. After time with someone you support, "
        "/tips takes a couple of minutes. Once you've done one or two, /progress shows how "
        "they've gone over time."
    ]
    assert photos(chat) == []
    assert chat.keyboard()[1] == [] or "weeks" not in " ".join(chat.buttons())


async def test_one_check_makes_a_picture_naming_the_right_tips(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send("/tips")
    # Tip 1 and 2 Partly, tip 3 Yes, tip 5 Not this time, the rest Yes.
    for label in ["Partly", "Partly", "Yes", "Yes", "Not this time", *["Yes"] * 5]:
        await chat.press(label)
    await chat.send("/skip")
    await chat.send("/progress")
    [call] = photos(chat)
    image = picture(call)
    assert image.format == "PNG" and image.size == (progress.WIDTH, progress.HEIGHT)
    caption = plain(call.params["caption"])
    assert caption == (
        "The tip you've done most: Believing in their strengths. "
        "One to think about: Goals beyond the ‘sick role’."
    )
    assert call.params["protect_content"] is True
    assert chat.buttons() == ["4 weeks", "✓ 12 weeks", "52 weeks"]
    assert "score" not in caption.lower() and "streak" not in caption.lower()


def no_red(image: Image.Image) -> bool:
    """No pixel is a red: the picture never colours an answer as a failure."""
    rgb = image.convert("RGB")
    # An RGB image's colours are (r, g, b); getcolors is typed for every mode.
    colours = cast("list[tuple[int, tuple[int, int, int]]]", rgb.getcolors(maxcolors=1 << 20) or [])
    return not any(r > 170 and g < 110 and b < 110 for _, (r, g, b) in colours)


async def test_a_year_of_weekly_checks_over_4_12_and_52_weeks(bot: Harness, clock: Clock) -> None:
    chat = Chat(bot)
    await chat.send("/start")
    now = clock.now
    weeks = [now - timedelta(weeks=n, hours=1) for n in range(52)]  # newest first

    def answers(index: int) -> dict[str, str]:
        """Over the year: hope always Yes, wider resources most often Not this time.
        In the last four weeks: respect always Yes, listening most often Not this time."""
        values = dict.fromkeys(TIPS, "partly")
        values["hope"] = "yes"
        values["wider_resources"] = "not_this_time" if index % 2 else "partly"
        if index < 4:
            values.update(respect="yes", hope="partly", listening="not_this_time")
        values["note"] = "Went to the allotment group <together> & 🌱"
        return values

    await seed(bot, chat.chat_id, weeks, answers)
    # A preparation and two reflections in the last fortnight, for the weekly panel.
    recent = [now - timedelta(days=d) for d in (1, 3, 9)]
    await seed(bot, chat.chat_id, recent[:1], lambda _: {}, flow="preparation")
    await seed(bot, chat.chat_id, recent[1:], lambda _: {}, flow="reflection")

    await chat.send("/progress")
    await chat.press("52 weeks")
    await chat.press("4 weeks")
    twelve, year, month = photos(chat)
    assert plain(year.params["caption"]) == (
        "The tip you've done most: Keeping hope alive. "
        "One to think about: Resources beyond services."
    )
    assert plain(month.params["caption"]) == (
        "The tip you've done most: Respect and equal partnership. "
        "One to think about: Listening actively."
    )
    assert plain(twelve.params["caption"]).startswith("The tip you've done most: Keeping hope")
    assert chat.buttons() == ["✓ 4 weeks", "12 weeks", "52 weeks"]
    images = [picture(c) for c in (twelve, year, month)]
    for image in images:
        assert image.size == (progress.WIDTH, progress.HEIGHT)
        assert no_red(image)
    assert images[1].tobytes() != images[2].tobytes()
    # The person's words never reach the picture or its caption.
    assert all("allotment" not in plain(c.params["caption"]) for c in (twelve, year, month))


def test_counting_and_choosing_are_pure(bot: Harness) -> None:
    """Counts per answer and per week, from the question set's own labels."""
    from zoneinfo import ZoneInfo

    flow = bot.service.cat.flows["top_tips"]
    zone = ZoneInfo("Europe/London")
    now = datetime(2026, 12, 2, 12, tzinfo=zone)  # a Wednesday
    checks: list[dict[str, Any]] = [dict.fromkeys(TIPS, "yes"), {"listening": "partly"}]
    moments = [now, now - timedelta(days=7), now - timedelta(days=30)]
    data = progress.gather(flow, checks, {"Preparation": moments}, now, zone, 4)
    assert data.answers == ("Yes", "Partly", "Not this time")
    assert data.tips[0].counts == (1, 1, 0) and data.tips[1].counts == (1, 0, 0)
    assert data.checks == 2
    assert data.week_starts[-1].isoformat() == "2026-11-30"  # this week's Monday
    assert data.activity == (("Preparation", (0, 0, 1, 1)),)  # 30 days back: before the window
    assert data.most_done() is data.tips[0]  # ties go to the first in order
    assert data.to_think_about() is None  # nothing other than Partly on the tip done most
    all_yes = progress.gather(flow, [dict.fromkeys(TIPS, "yes")], {}, now, zone, 4)
    assert all_yes.to_think_about() is None


async def test_progress_in_the_middle_of_a_question_set_carries_on(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send("/tips")
    await chat.press("Yes")
    replies = await chat.send("/progress")
    assert "nothing to show yet" in replies[0]
    assert replies[-1].startswith("You're still in Ten Top Tips.")
    assert photos(chat) == []


def test_uploaded_photos_are_checked_against_telegrams_rules() -> None:
    """The recording layer refuses what Telegram would: not an image, or the wrong shape."""
    from tests.botapi import Upload, violations

    def png(width: int, height: int) -> Upload:
        body = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + width.to_bytes(4, "big")
        body += height.to_bytes(4, "big")
        return Upload("p.png", len(body), "image/png", body)

    assert violations("sendPhoto", {"chat_id": 1, "photo": png(1080, 1620)}) == []
    assert violations("sendPhoto", {"chat_id": 1, "photo": png(9000, 2000)}) == [
        "sendPhoto.photo: 9000x2000, width + height over 10000"
    ]
    assert violations("sendPhoto", {"chat_id": 1, "photo": png(4200, 200)}) == [
        "sendPhoto.photo: 4200x200, ratio over 20"
    ]
    text = Upload("p.png", 4, "image/png", b"text")
    assert violations("sendPhoto", {"chat_id": 1, "photo": text}) == [
        "sendPhoto.photo: not a PNG or JPEG image"
    ]


def test_the_console_saves_the_picture_and_shows_its_line_and_buttons(
    tmp_path: Any, monkeypatch: Any
) -> None:
    from bot.console import show
    from flows.kernel.model import Button, Outcome, Photo

    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    keyboard = [[Button("4 weeks", "pg:4")]]
    outcome = Outcome(
        photos=[Photo("progress-4-weeks.png", "Most: <b>Tip</b>", keyboard, b"\x89PNG")]
    )
    buttons = show(outcome, out)
    assert (tmp_path / "progress-4-weeks.png").read_bytes() == b"\x89PNG"
    assert "Most: Tip\n  [1] 4 weeks" in out.getvalue()
    assert buttons == [Button("4 weeks", "pg:4")]


def test_dollar_signs_in_labels_print_as_written(bot: Harness) -> None:
    """An organisation's label with "$…$" in it is text, not mathematics (which could fail)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/London")
    flow = bot.service.cat.flows["top_tips"]
    data = progress.gather(flow, [dict.fromkeys(TIPS, "yes")], {}, datetime.now(zone), zone, 4)
    odd = progress.Tip("x", r"Budget $\frac$ talk", (1, 0, 0))
    data = dataclasses.replace(data, tips=(odd, *data.tips[1:]))
    words = progress.Wording(r"Cost $\frac$", "$1$ check", "Each week", "None", "%-d %b")
    image = Image.open(io.BytesIO(progress.render_png(data, words)))
    assert image.size == (progress.WIDTH, progress.HEIGHT)


@pytest.mark.slow
def test_the_picture_travels_over_real_http(tmp_path: Any) -> None:
    """The real bot, polling a fake Bot API: /progress uploads a PNG with its line and buttons."""
    import signal

    from tests.fakeapi import FakeBotAPI
    from tests.offline import Person
    from tests.test_polling import TOKEN, start_bot

    person = Person(user_id=6262)
    with FakeBotAPI(TOKEN) as fake:
        bot = start_bot(fake, tmp_path / "data")
        try:
            for text in ["/start", "/tips", *["yes"] * 9, "not this time", "/skip", "/progress"]:
                fake.push(person.text(text))
            assert fake.wait_for(lambda calls: any(c.method == "sendPhoto" for c in calls), 30)
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(10)
        fake.assert_valid()
        [call] = [c for c in fake.calls if c.method == "sendPhoto"]
    image = Image.open(io.BytesIO(call.params["photo"].content))
    assert image.format == "PNG" and image.size == (progress.WIDTH, progress.HEIGHT)
    assert plain(call.params["caption"]) == (
        "The tip you've done most: Listening actively. One to think about: Keeping hope alive."
    )
    assert "52 weeks" in json.dumps(call.params["reply_markup"])


def test_a_kept_layer_leaves_nothing_of_the_last_picture(bot: Harness) -> None:
    """Pictures start from the same drawn labels and legends; one person's bars must never show
    through in the next person's picture: drawn after another, it is exactly as drawn afresh."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/London")
    now = datetime.now(zone)
    flow = bot.service.cat.flows["top_tips"]
    words = progress.Wording("Title", "Heading", "Each week", "None in these weeks", "%-d %b")
    busy = progress.gather(
        flow, [dict.fromkeys(TIPS, "yes")] * 9, {"Preparation": [now] * 9}, now, zone, 4
    )
    quiet = progress.gather(
        flow, [dict.fromkeys(TIPS, "partly")], {"Preparation": []}, now, zone, 4
    )
    progress._LAYERS.clear()
    afresh = progress.render_png(quiet, words)
    progress.render_png(busy, words)
    assert progress.render_png(quiet, words) == afresh
    assert progress.render_png(busy, words) != afresh
    # Each picture's own artists are taken off again, so a kept layer never grows.
    [layer] = progress._LAYERS.values()
    assert len(layer.tips.texts) == len(TIPS) and not layer.tips.collections
    assert not layer.weeks.texts and not layer.weeks.collections and not layer.weeks.lines


async def test_a_tip_that_didnt_come_up_is_never_one_to_think_about(bot: Harness) -> None:
    """A fourth answer on every tip: left out of the summary's focus line, counted apart in
    /progress (never as "Not this time"), and drawn apart in the picture."""
    chat = Chat(bot)
    await chat.send("/start")
    await chat.send("/tips")
    assert chat.buttons() == ["Yes", "Partly", "Not this time", "Didn't come up"]
    # Tip 1 didn't come up, tip 2 Partly, the rest Yes.
    for label in ["Didn't come up", "Partly", *["Yes"] * 8]:
        await chat.press(label)
    replies = await chat.send("/skip")
    summary = "\n".join(replies)
    assert "One to think about next time\nTheir own goals for recovery" in summary
    assert "Listening actively" not in summary  # neither went well nor one to think about
    await chat.send("/tips")
    for label in ["Didn't come up", *["Yes"] * 9]:
        await chat.press(label)
    replies = await chat.send("/skip")
    assert "One to think about" not in "\n".join(replies)
    assert "Listening actively" not in "\n".join(replies)

    await chat.send("/progress")
    [call] = photos(chat)
    caption = plain(call.params["caption"])
    assert caption.endswith("One to think about: Their own goals for recovery.")
    assert "Listening" not in caption
    # Counted apart: not among the answers about how it went.
    tips_flow = bot.service.cat.flows["top_tips"]
    data = progress.gather(
        tips_flow,
        [{"listening": "didnt_come_up", "goals": "yes"}] * 2,
        {},
        datetime(2026, 12, 4, 12, tzinfo=UTC),
        UTC,
        4,
    )
    listening = data.tips[0]
    assert listening.counts == (0, 0, 0) and listening.apart == 2
    assert data.answers == ("Yes", "Partly", "Not this time") and data.apart == "Didn't come up"
    assert data.to_think_about() is None
    assert picture(call).size == (progress.WIDTH, progress.HEIGHT)
