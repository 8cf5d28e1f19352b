"""Heavy work off the shared path (issue 21): a long journal's /export and /progress read a page
of entries per unit of work, so someone else's message is handled between pages rather than
waiting for the whole journal to be decrypted on the database thread everyone shares."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.inbox import InboxRunner
from flows.features.account import export
from flows.features.progress import chart
from flows.store.unit import Unit
from tests.drivers import Chat, Harness

ENTRIES = 450  # three pages


async def a_long_journal(
    bot: Harness, person_id: int, count: int = ENTRIES, flow: str = "journal"
) -> None:
    """Entries written as the engine writes them, in one unit (not what is measured)."""

    def fill(tx: Unit) -> None:
        row = tx.person(person_id)
        tx.set_welcomed(person_id)
        for n in range(count):
            entry_id = tx.create_entry(person_id, flow, None)
            tx.put_answer(row.cipher, entry_id, "writing", f"Entry number {n}, kept safe")
            tx.set_entry_status(entry_id, "saved")

    await bot.service.store.run(fill)


def units_by_task(bot: Harness, monkeypatch: pytest.MonkeyPatch) -> list[asyncio.Task[Any]]:
    """Which task each unit of work finished for, in the order they finished."""
    store = bot.service.store
    real: Callable[[Callable[[Unit], Any]], Awaitable[Any]] = store.run
    done: list[asyncio.Task[Any]] = []

    async def run(work: Callable[[Unit], Any]) -> Any:
        result = await real(work)
        task = asyncio.current_task()
        assert task is not None
        done.append(task)
        return result

    monkeypatch.setattr(store, "run", run)
    return done


async def test_another_persons_message_is_handled_between_pages_of_a_big_export(
    worker: Chat, other: Chat, bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await a_long_journal(bot, worker.person.user_id)
    await other.send("/start")
    done = units_by_task(bot, monkeypatch)
    exporting = asyncio.create_task(worker.send("/export"))
    await asyncio.sleep(0)  # the export's first unit is queued before the other message
    helping = asyncio.create_task(other.send("/help"))
    await asyncio.gather(exporting, helping)
    mine = [n for n, task in enumerate(done) if task is exporting]
    theirs = [n for n, task in enumerate(done) if task is helping]
    assert len(mine) >= ENTRIES // export.PAGE + 1  # the listing, then a unit per page
    assert theirs and mine[0] < theirs[0] < mine[-1]  # /help went between the pages
    # Nothing lost: every entry is in the file, newest first, as one unit would have made it.
    calls = [c for c in bot.request.calls if c.method == "sendDocument"]
    data = json.loads(
        next(c for c in calls if c.params["document"].filename.endswith(".json"))
        .params["document"]
        .content
    )
    assert len(data["entries"]) == ENTRIES
    assert data["entries"][0]["answers"][0]["text"] == f"Entry number {ENTRIES - 1}, kept safe"
    assert f"{ENTRIES} entries" in worker.sent_texts()[-1]


async def test_progress_reads_its_checks_a_page_at_a_time(
    worker: Chat, bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await a_long_journal(bot, worker.person.user_id, flow=chart.TIPS)
    done = units_by_task(bot, monkeypatch)
    drawing = asyncio.create_task(worker.send("/progress"))
    await drawing
    assert len([t for t in done if t is drawing]) >= ENTRIES // chart.PAGE + 1
    (photo,) = [c for c in bot.request.calls if c.method == "sendPhoto"]
    assert photo.params["photo"].content.startswith(b"\x89PNG")


async def test_an_export_that_fails_between_pages_still_says_what_was_saved(
    worker: Chat, bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that cannot be read (after the first unit committed its reply) leaves that reply
    for the next flush rather than "being sent" for ever; the files are simply not sent."""
    from bot.delivery import flush_outbox

    await a_long_journal(bot, worker.person.user_id)

    def broken(*args: Any) -> dict[str, str]:
        raise RuntimeError("a page could not be read")

    monkeypatch.setattr(Unit, "answers", broken)
    before = len(worker.sent())
    await worker.send("/export")  # the error handler answers the update; nothing is lost
    monkeypatch.undo()
    await flush_outbox(bot.app.bot, bot.service)
    assert sum(f"{ENTRIES} entries" in t for t in worker.sent_texts()[before:]) == 1
    assert not [c for c in bot.request.calls if c.method == "sendDocument"]


async def test_an_export_is_handled_only_once_all_of_it_has_gone(
    worker: Chat, bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until its files have gone, the /export stays unhandled in the inbox: a crash part-way
    through the pages makes it again after the restart rather than leaving the person with a
    promise and no files."""
    await a_long_journal(bot, worker.person.user_id)
    waiting: list[int] = []
    real = export._Reader.__call__

    def page(reader: Any, tx: Unit, out: Any) -> bool:
        (count,) = tx.one("SELECT COUNT(*) FROM inbox WHERE handled_at IS NULL") or (0,)
        waiting.append(int(count))
        return real(reader, tx, out)

    monkeypatch.setattr(export._Reader, "__call__", page)
    update = worker.person.text("/export")
    store = bot.service.store
    await store.inbox_add([(update["update_id"], json.dumps(update).encode())])
    await InboxRunner(bot.app, bot.service).process_batch(await store.inbox_unhandled(limit=10))
    assert len(waiting) == ENTRIES // export.PAGE + 1
    assert all(count == 1 for count in waiting), waiting
    assert [c for c in bot.request.calls if c.method == "sendDocument"]
    left = await bot.service.store.run(
        lambda tx: tx.one("SELECT COUNT(*) FROM inbox WHERE handled_at IS NULL")
    )
    assert left == (0,)
