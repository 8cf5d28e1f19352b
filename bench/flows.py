"""Flow benchmark: CoReflect end to end through PTB, against PTB's own ConversationHandler.

    cd /work/main && .venv/bin/python bench/flows.py            # the full run (~2-3 minutes)
    .venv/bin/python bench/flows.py --quick                     # a smoke run of a few seconds
    .venv/bin/python bench/flows.py --profile                   # cProfile of ours (FULL)

For N people already in the database (default 10,000; a tenth of them part-way through the
preparation set), a seeded random sample of the others each sends /prepare and then answers every
question of the preparation set with 100-300 characters of varied text. A "step" is one update
handled end to end: JSON decoded, PTB `Application.process_update`, our engine, every answer
encrypted and committed, every reply sent through an offline request layer.

Ours goes the way production goes (bot/inbox.py): updates are stored in the inbox in batches of
100 (the poller's write), read back (the consumer's read), and each is then decoded, processed and
marked handled. The two batch calls are counted in steps/s but not in the per-step latencies.

The baselines are a PTB `ConversationHandler` asking the same questions, with `PicklePersistence`
as configured by default (written every 60 s) and configured to write after every update. Their
pickle holds the same people the database holds, so it is the size it would be.

Every variant runs in its own subprocess, so `ru_maxrss` (peak resident set size, as the kernel
counts it) is per variant. No rate limiter anywhere: PTB's AIORateLimiter caps sending at
Telegram's 30 messages a second, which would measure Telegram's limit rather than the bot.
Answer text is generated, and never printed or logged.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import logging
import math
import os
import pickle
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Run as `python bench/flows.py`, Python puts bench/ first on sys.path, and this file (flows.py)
# would shadow the `flows` package. Take bench/ off the path and put the repository root on it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import yaml  # noqa: E402
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update  # noqa: E402
from telegram.ext import (  # noqa: E402
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)
from telegram.request import BaseRequest, RequestData  # noqa: E402
from telegram.warnings import PTBUserWarning  # noqa: E402

from bench import figures  # noqa: E402
from bench.figures import Figure  # noqa: E402
from bot import delivery  # noqa: E402
from bot.app import open_service  # noqa: E402
from bot.config import DEFAULT_API_BASE, Config  # noqa: E402
from bot.inbox import CONCURRENT_PEOPLE, InboxRunner  # noqa: E402
from bot.telegram_bot import build_application  # noqa: E402
from flows.store.rows import Conversation  # noqa: E402
from flows.store.unit import Unit  # noqa: E402

TOKEN = "123456:BENCH-token"
FIRST_ID = 500_000_000  # people are FIRST_ID + 0 … FIRST_ID + users - 1
MID_FLOW_SHARE = 0.1  # people part-way through the preparation set when the benchmark starts
CONCURRENT = 32  # conversations in progress at once; each step picks one of them at random
INBOX_BATCH = 100  # bot/inbox.py reads up to 100 unhandled updates at a time
SEED = 20_240_601
PREPARATION = _HERE.parent / "prompts" / "preparation.yaml"

VARIANTS: dict[str, str] = {
    "ours-full": "CoReflect (SQLite WAL, synchronous=FULL)",
    "ours-normal": "CoReflect (SQLite WAL, synchronous=NORMAL)",
    "ptb-default": "PTB ConversationHandler + PicklePersistence (default, every 60 s)",
    "ptb-durable": "PTB ConversationHandler + PicklePersistence (after every update)",
}

BOT_USER: dict[str, Any] = {
    "id": 999,
    "is_bot": True,
    "first_name": "CoReflect",
    "username": "coreflect_bench_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
BOT_FROM = {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}


# ---- the offline request layer --------------------------------------------------------------


class LeanRequest(BaseRequest):
    """Answers Bot API calls plausibly, in-process, without validating them.

    It serialises the parameters as PTB's HTTPXRequest would before sending, and returns a JSON
    body PTB then parses, so the bot's side of every call is paid in full; only the network is not.
    """

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._last_id: dict[int, int] = {}

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        """No connection pool."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        api = url.rsplit("/", 1)[-1]
        self.calls[api] = self.calls.get(api, 0) + 1
        params: dict[str, Any] = {}
        if request_data is not None:
            _ = request_data.json_parameters  # the encoding HTTPXRequest does for the wire
            params = request_data.parameters
        result: Any = True
        if api == "getMe":
            result = BOT_USER
        elif api == "sendMessage":
            chat_id = int(params["chat_id"])
            message_id = self._last_id.get(chat_id, 0) + 1
            self._last_id[chat_id] = message_id
            result = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_FROM,
                "text": params.get("text", ""),
            }
            markup = params.get("reply_markup")
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                result["reply_markup"] = markup
        elif api == "getUpdates":
            result = []
        return 200, json.dumps({"ok": True, "result": result}).encode("utf-8")


# ---- the workload ---------------------------------------------------------------------------

_SAMPLE = (
    "today i noticed how much the week had asked of me and of the people on the ward "
    "we talked about families hobbies music football cooking walking faith recovery hope "
    "sometimes it helps to say that i have been through something similar but not always "
    "my manager was supportive though a colleague seemed unsure about what i should share "
    "i would keep the details short and focus on what helped me move forward and cope "
    "the group session went well and one person asked me directly about my own experience "
    "i felt a bit exposed afterwards so i took a break and wrote down what i had said "
    "boundaries matter here and so does being honest about what i am comfortable with "
    "next time i might explain why i am sharing and check how it lands with them"
)
_WORDS = _SAMPLE.split()


def make_texts(rng: random.Random, count: int) -> list[str]:
    """Answers of 100-300 characters: varied, ordinary sentences; never printed."""
    texts = []
    for _ in range(count):
        target = rng.randint(100, 300)
        sentences: list[str] = []
        length = 0
        while length < target:
            words = rng.choices(_WORDS, k=rng.randint(6, 16))
            sentence = " ".join(words).capitalize() + rng.choice([".", ".", ",", "!", "?"])
            sentences.append(sentence)
            length += len(sentence) + 1
        texts.append(" ".join(sentences)[:target].rstrip() + ".")
    return texts


def preparation_set() -> dict[str, Any]:
    with PREPARATION.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data


def population(users: int) -> tuple[list[int], dict[int, int], list[str]]:
    """Everyone's id, how far the mid-flow people are (answers given), and the answer bank."""
    rng = random.Random(SEED)
    ids = [FIRST_ID + i for i in range(users)]
    n_steps = len(preparation_set()["steps"])
    mid = rng.sample(ids, int(users * MID_FLOW_SHARE))
    progress = {uid: rng.randint(1, n_steps - 1) for uid in mid}
    return ids, progress, make_texts(rng, 500)


class Workload:
    """(person, text) for every step, endlessly; the same sequence for every variant."""

    def __init__(self, ids: list[int], progress: dict[int, int], n_steps: int) -> None:
        self.rng = random.Random(SEED + 1)
        self.texts = make_texts(self.rng, 500)
        pool = [uid for uid in ids if uid not in progress]  # the mid-flow people are left alone
        self.rng.shuffle(pool)
        self.pool = deque(pool)
        self.active: list[list[int]] = []
        self.per_conversation = n_steps + 1  # /prepare, then one answer a question
        self.finished = 0  # conversations that reached the summary

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return self

    def __next__(self) -> tuple[int, str]:
        while len(self.active) < CONCURRENT and self.pool:
            self.active.append([self.pool.popleft(), 0])
        index = self.rng.randrange(len(self.active))
        conv = self.active[index]
        text = "/prepare" if conv[1] == 0 else self.rng.choice(self.texts)
        conv[1] += 1
        if conv[1] == self.per_conversation:
            self.active[index] = self.active[-1]
            self.active.pop()
            self.pool.append(conv[0])
            self.finished += 1
        return conv[0], text


class Updates:
    """Update dicts as Telegram sends them, with increasing update ids and message ids."""

    def __init__(self) -> None:
        self.update_id = 1_000
        self.message_id: dict[int, int] = {}

    def text(self, uid: int, text: str) -> tuple[int, bytes]:
        self.update_id += 1
        message_id = self.message_id.get(uid, 100_000) + 1
        self.message_id[uid] = message_id
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": uid, "type": "private", "first_name": "Sam"},
            "from": {"id": uid, "is_bot": False, "first_name": "Sam", "language_code": "en"},
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        update = {"update_id": self.update_id, "message": message}
        return self.update_id, json.dumps(update).encode("utf-8")


# ---- populating (parent process, not measured) ----------------------------------------------


def config_for(data_dir: Path, synchronous: str) -> Config:
    return Config(
        token=TOKEN,
        api_base_url=DEFAULT_API_BASE,
        data_dir=data_dir,
        key=None,
        timezone="Europe/London",
        synchronous=synchronous,
    )


async def populate_ours(data_dir: Path, users: int) -> None:
    """Real people, through the Store's own functions, in one transaction: each a row with its
    own wrapped data key, welcomed, with the conversation row /start leaves; a tenth of them
    part-way through the preparation set (an entry in progress, their answers encrypted, the
    conversation at the next question), as /prepare and those answers would have left them."""
    ids, progress, texts = population(users)
    service = await open_service(config_for(data_dir, "NORMAL"))
    store = service.store
    steps = list(service.cat.flows["preparation"].steps)

    def fill(tx: Unit) -> None:
        for uid in ids:
            row = tx.person(uid, service.default_timezone)  # a fresh data key
            tx.set_welcomed(uid)
            conv = Conversation(uid, turn=1)  # the welcome's time zone offer was turn 1
            if uid in progress:
                entry_id = tx.create_entry(uid, "preparation", None)
                for k in range(progress[uid]):
                    tx.put_answer(row.cipher, entry_id, steps[k], texts[(uid + k) % len(texts)])
                conv.flow, conv.entry_id = "preparation", entry_id
                conv.step, conv.history = steps[progress[uid]], steps[: progress[uid]]
                conv.turn = 2 + progress[uid]  # one question shown per answer, plus the first
            tx.save_conversation(conv)

    try:
        await store.run(fill)
    finally:
        await store.close()


def populate_pickle(path: Path, users: int) -> None:
    """The same people as PTB's PicklePersistence (single file) would hold them."""
    ids, progress, texts = population(users)
    steps = [s["id"] for s in preparation_set()["steps"]]
    user_data: dict[int, dict[str, Any]] = {}
    conversations: dict[tuple[int, int], object] = {}
    for uid in ids:
        user_data[uid] = {"timezone": "Europe/London", "welcomed": True}
        if uid in progress:
            user_data[uid]["draft"] = {
                steps[k]: texts[(uid + k) % len(texts)] for k in range(progress[uid])
            }
            conversations[(uid, uid)] = progress[uid]
    data = {
        "conversations": {"prep": conversations},
        "user_data": user_data,
        "chat_data": {uid: {} for uid in ids},
        "bot_data": {},
        "callback_data": None,
    }
    with path.open("wb") as handle:
        pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)


# ---- measuring (one variant per child process) ----------------------------------------------


def max_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    VmHWM from /proc/self/status: Linux keeps ru_maxrss across fork and exec, so in a child
    getrusage(RUSAGE_SELF).ru_maxrss would report the parent's peak (after populating) instead.
    Elsewhere, ru_maxrss is the fallback.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


class ErrorCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def percentile(sorted_ns: list[int], p: float) -> float:
    index = max(0, math.ceil(p * len(sorted_ns)) - 1)
    return sorted_ns[index] / 1e6


async def run_ours(args: argparse.Namespace, synchronous: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="coreflect-bench-"))
    try:
        data_dir = work / "data"
        shutil.copytree(Path(args.template) / "data", data_dir)
        config = config_for(data_dir, synchronous)
        service = await open_service(config)
        store = service.store
        request = LeanRequest()
        app = build_application(config, service, request=request, rate_limited=False)
        await app.initialize()
        await app.start()
        rss_start = max_rss_mb()
        ids, progress, _ = population(args.users)
        n_steps = len(service.cat.flows["preparation"].steps)
        steps = Workload(ids, progress, n_steps)
        updates = Updates()
        consumer = InboxRunner(app, service)
        sink: list[list[int]] = [[]]
        handle_row = consumer.handle_row

        async def timed(update_id: int, data: dict[str, Any]) -> None:
            """Per-step latency: from the moment a step's handling starts until its replies
            are sent (with up to CONCURRENT_PEOPLE people's steps in flight at once)."""
            t0 = time.perf_counter_ns()
            await handle_row(update_id, data)
            sink[0].append(time.perf_counter_ns() - t0)

        consumer.handle_row = timed  # type: ignore[method-assign]

        async def run(count: int, times: list[int]) -> float:
            """`count` steps the way bot/inbox.py handles them; returns the wall time spent."""
            sink[0] = times
            spent = 0.0
            done = 0
            while done < count:
                batch = [updates.text(*next(steps)) for _ in range(min(INBOX_BATCH, count - done))]
                started = time.perf_counter()
                await delivery.flush_outbox(app.bot, service)  # the consumer, each batch
                await store.inbox_add(batch)  # the poller: stored and committed before confirming
                rows = await store.inbox_unhandled(limit=INBOX_BATCH)  # the consumer's read
                await consumer.process_batch(rows)  # exactly the consumer's path
                spent += time.perf_counter() - started
                done += len(rows)
            return spent

        await run(args.warmup, [])
        times: list[int] = []
        profiler = _profiler(args)
        seconds = await run(args.steps, times)
        _report_profile(profiler)
        # Latency as one person meets it when the bot is not saturated: one update at a time,
        # from the consumer taking it from the inbox to the last reply sent. The poller's inbox
        # commit before it (one per getUpdates batch) is timed on its own.
        sink[0] = []
        solo: list[int] = []
        inbox: list[int] = []
        for _ in range(max(200, args.steps // 5)):
            t0 = time.perf_counter_ns()
            await store.inbox_add([updates.text(*next(steps))])
            t1 = time.perf_counter_ns()
            await consumer.process_batch(await store.inbox_unhandled(limit=1))
            solo.append(time.perf_counter_ns() - t1)
            inbox.append(t1 - t0)
        rss_peak = max_rss_mb()
        await app.stop()
        await app.shutdown()
        await store.close()
        db = sqlite3.connect(data_dir / "coreflect.db")
        try:
            saved, answers, unhandled = db.execute(
                "SELECT (SELECT COUNT(*) FROM entries WHERE status = 'saved'),"
                " (SELECT COUNT(*) FROM answers JOIN entries ON entries.id = answers.entry_id"
                "  WHERE entries.status = 'saved'),"
                " (SELECT COUNT(*) FROM inbox WHERE handled_at IS NULL)"
            ).fetchone()
            has_outbox = db.execute(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'outbox'"
            ).fetchone()[0]
            unsent = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] if has_outbox else 0
        finally:
            db.close()
        checks = (
            saved == steps.finished
            and answers == saved * n_steps
            and unhandled == 0
            and unsent == 0
        )
        size = sum(f.stat().st_size for f in data_dir.iterdir() if f.name.startswith("coreflect"))
        result = _result(times, seconds, rss_start, rss_peak, request, checks, size, solo)
        result["inbox_commit_p50_ms"] = percentile(sorted(inbox), 0.50)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def baseline_application(
    path: Path, durable: bool, request: BaseRequest | None, builder: Any = None
) -> tuple[Application[Any, Any, Any, Any, Any, Any], PicklePersistence[Any, Any, Any]]:
    """PTB's own way: a persistent ConversationHandler over the same questions.

    Durable: `PicklePersistence` has no "after every update" setting; `update_interval` only sets
    how often Application's background task calls `Application.update_persistence()`. So after
    every update we call `app.update_persistence()` ourselves (what that task does), then
    `persistence.flush()`. With `on_flush=True` the update_* calls only change the in-memory
    dicts and `flush()` rewrites the whole single pickle file exactly once per update. (The
    default `on_flush=False` would rewrite the whole file once per changed item, i.e. twice per
    update here: user_data and conversation state.) This is the most favourable durable setting
    PTB offers: one whole-file rewrite per update, with no fsync and no atomic rename. Most of
    that rewrite is PTB's own `_BotPickler` (a Python-level hook per pickled object): about 9x
    what a plain `pickle.dump` of the same dicts takes on the machine this was written on.
    Default: `PicklePersistence(filepath)`, update_interval=60, on_flush=False, as shipped.
    `builder`, if given, is used as it is (bench/fair.py: polling a fake Bot API, a limiter).
    """
    qset = preparation_set()
    steps = qset["steps"]
    questions = [s["ask"].strip() for s in steps]
    labels = [s["label"] for s in steps]
    skip = InlineKeyboardMarkup([[InlineKeyboardButton("Skip", callback_data="skip")]])
    no_preview = LinkPreviewOptions(is_disabled=True)

    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE, index: int) -> int:
        message = update.effective_message
        assert message is not None and context.user_data is not None
        if index < len(steps):
            await message.reply_html(
                questions[index],
                reply_markup=skip if steps[index]["optional"] else None,
                link_preview_options=no_preview,
            )
            return index
        draft = context.user_data.pop("draft", {})
        context.user_data.setdefault("entries", []).append(draft)
        summary = "<b>Your preparation</b>" + "".join(
            f"\n\n<b>{html.escape(labels[i])}</b>\n{html.escape(draft[s['id']][:300])}"
            for i, s in enumerate(steps)
            if s["id"] in draft
        )
        await message.reply_html(summary, link_preview_options=no_preview)
        await message.reply_html("✅ Saved to your journal.", link_preview_options=no_preview)
        return ConversationHandler.END

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.effective_message is not None and context.user_data is not None
        context.user_data["draft"] = {}
        await update.effective_message.reply_html(
            qset["intro"].strip(), link_preview_options=no_preview
        )
        return await ask(update, context, 0)

    def answer(index: int) -> Any:
        async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
            assert update.message is not None and update.message.text is not None
            assert context.user_data is not None
            context.user_data.setdefault("draft", {})[steps[index]["id"]] = (
                update.message.text.strip()
            )
            return await ask(update, context, index + 1)

        return callback

    def skipped(index: int) -> Any:
        async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
            if update.callback_query is not None:
                await update.callback_query.answer()
            return await ask(update, context, index + 1)

        return callback

    async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.effective_message is not None
        await update.effective_message.reply_html("Stopped.")
        return ConversationHandler.END

    states: dict[object, list[Any]] = {}
    for index, step in enumerate(steps):
        states[index] = [MessageHandler(filters.TEXT & ~filters.COMMAND, answer(index))]
        if step["optional"]:
            states[index] += [
                CommandHandler("skip", skipped(index)),
                CallbackQueryHandler(skipped(index), pattern="^skip$"),
            ]
    persistence: PicklePersistence[Any, Any, Any] = (
        PicklePersistence(filepath=path, on_flush=True) if durable else PicklePersistence(path)
    )
    if builder is None:
        builder = ApplicationBuilder().token(TOKEN).updater(None)
        builder = builder.request(request).get_updates_request(request)
    app = builder.persistence(persistence).build()
    with warnings.catch_warnings():  # per_message=False with a CallbackQueryHandler: intended
        warnings.simplefilter("ignore", PTBUserWarning)
        app.add_handler(
            ConversationHandler(
                entry_points=[CommandHandler("prepare", start)],
                states=states,
                fallbacks=[CommandHandler("cancel", cancel)],
                name="prep",
                persistent=True,
            )
        )
    return app, persistence


async def run_baseline(args: argparse.Namespace, durable: bool) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="ptb-bench-"))
    try:
        path = work / "bench.pickle"
        shutil.copyfile(Path(args.template) / "bench.pickle", path)
        request = LeanRequest()
        app, persistence = baseline_application(path, durable, request)
        await app.initialize()  # loads the pickle: 10,000 people
        await app.start()  # as run_polling would: starts the every-update_interval task
        rss_start = max_rss_mb()
        ids, progress, _ = population(args.users)
        n_steps = len(preparation_set()["steps"])
        steps = Workload(ids, progress, n_steps)
        updates = Updates()

        async def run(count: int, times: list[int]) -> float:
            spent = 0.0
            for _ in range(count):
                _, raw = updates.text(*next(steps))
                t0 = time.perf_counter_ns()
                update = Update.de_json(json.loads(raw), app.bot)
                await app.process_update(update)
                if durable:
                    await app.update_persistence()
                    await persistence.flush()
                elapsed = time.perf_counter_ns() - t0
                times.append(elapsed)
                spent += elapsed / 1e9
            return spent

        await run(args.warmup, [])
        times: list[int] = []
        seconds = await run(args.steps, times)
        rss_peak = max_rss_mb()
        size = path.stat().st_size
        await app.stop()
        await app.shutdown()
        user_data = persistence.user_data or {}
        saved = sum(len(d.get("entries", [])) for d in user_data.values())
        checks = saved == steps.finished and request.calls.get("sendMessage", 0) > 0
        return _result(times, seconds, rss_start, rss_peak, request, checks, size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _result(
    times: list[int],
    seconds: float,
    rss_start: float,
    rss_peak: float,
    request: LeanRequest,
    checks: bool,
    store_bytes: int,
    solo: list[int] | None = None,
) -> dict[str, Any]:
    """Throughput from `times`; latency from `solo` (one at a time) where it was measured."""
    loaded = sorted(times)
    ordered = sorted(solo) if solo else loaded
    return {
        "steps": len(times),
        "seconds": seconds,
        "steps_per_s": len(times) / seconds,
        "p50_ms": percentile(ordered, 0.50),
        "p99_ms": percentile(ordered, 0.99),
        "max_ms": ordered[-1] / 1e6,
        "loaded_p99_ms": percentile(loaded, 0.99),
        "rss_start_mb": rss_start,
        "rss_peak_mb": rss_peak,
        "messages_sent": request.calls.get("sendMessage", 0),
        "store_mb": store_bytes / 1e6,
        "checks": checks,
    }


def _profiler(args: argparse.Namespace) -> Any:
    if not args.profile:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _report_profile(profiler: Any) -> None:
    if profiler is None:
        return
    import pstats

    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(15)
    stats.sort_stats("tottime").print_stats(15)


def child(args: argparse.Namespace) -> int:
    errors = ErrorCount()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().addHandler(errors)
    if args.variant == "ours-full":
        result = asyncio.run(run_ours(args, "FULL"))
    elif args.variant == "ours-normal":
        result = asyncio.run(run_ours(args, "NORMAL"))
    else:
        result = asyncio.run(run_baseline(args, durable=args.variant == "ptb-durable"))
    result["variant"] = args.variant
    result["errors"] = errors.count
    print(json.dumps(result), flush=True)
    return 0


# ---- the parent: populate once, run each variant in its own process, print the table --------


def filesystem_of(path: Path) -> str:
    """The file system type of the mount holding `path` (fsync cost depends on it)."""
    best, kind = "", "?"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3 or not str(path).startswith(fields[1]):
                    continue
                if len(fields[1]) > len(best):
                    best, kind = fields[1], fields[2]
    except OSError:
        pass
    return kind


def spawn(args: argparse.Namespace, variant: str, template: Path, steps: int, warmup: int) -> Any:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--variant",
        variant,
        "--template",
        str(template),
        "--users",
        str(args.users),
        "--steps",
        str(steps),
        "--warmup",
        str(warmup),
    ]
    if args.profile:
        command.append("--profile")
    print(f"  running {variant}: {warmup:,} warm-up + {steps:,} measured steps…", file=sys.stderr)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {variant} run failed (exit {done.returncode})")
    if args.profile:
        sys.stderr.write(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def parent(args: argparse.Namespace) -> int:
    if args.quick:
        args.users = min(args.users, 1_000)
        steps = {"ours-full": 500, "ours-normal": 500, "ptb-default": 500, "ptb-durable": 100}
        warmup = {"ours-full": 100, "ours-normal": 100, "ptb-default": 100, "ptb-durable": 30}
    else:
        many = args.steps
        few = args.durable_steps
        steps = {"ours-full": many, "ours-normal": many, "ptb-default": many, "ptb-durable": few}
        warm = args.warmup
        warmup = {"ours-full": warm, "ours-normal": warm, "ptb-default": warm, "ptb-durable": 50}
    variants = ["ours-full"] if args.profile else list(VARIANTS)
    root = Path(tempfile.mkdtemp(prefix="coreflect-bench-template-"))
    try:
        print(f"populating {args.users:,} people (not measured)…", file=sys.stderr)
        started = time.perf_counter()
        asyncio.run(populate_ours(root / "data", args.users))
        populate_pickle(root / "bench.pickle", args.users)
        print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        results = {v: spawn(args, v, root, steps[v], warmup[v]) for v in variants}
        fs = filesystem_of(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print_table(args, results, fs)
    return 0


def print_table(args: argparse.Namespace, results: dict[str, Any], fs: str) -> None:
    n_steps = len(preparation_set()["steps"])
    mid = int(args.users * MID_FLOW_SHARE)
    print(
        f"CoReflect flow benchmark — {args.users:,} people in the database ({mid:,} part-way"
        f" through), preparation set (/prepare + {n_steps} answers of 100-300 chars = "
        f"{n_steps + 1} steps each, {CONCURRENT} conversations interleaved), PTB "
        f"Application.process_update, offline request layer, no rate limiter"
    )
    print(
        "rate limiter off: PTB's AIORateLimiter caps at Telegram's 30 messages/s and would"
        " measure Telegram, not the bot"
    )
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, temp files on {fs};"
        " each variant in its own process; peak RSS = VmHWM of that process (/proc/self/status;"
        " ru_maxrss is inherited across fork+exec on Linux, so it would show the parent's peak)"
    )
    print()
    name_width = max(len(VARIANTS[v]) for v in results)
    header = (
        f"{'variant':<{name_width}}  {'steps':>6}  {'steps/s':>8}  {'p50 ms':>7}  {'p99 ms':>7}"
        f"  {'max ms':>7}  {'p99 loaded':>10}  {'peak RSS MB':>11}  {'RSS +MB':>7}"
        f"  {'store MB':>8}  {'checks':>6}"
    )
    print(header)
    print("-" * len(header))
    for variant, r in results.items():
        ok = "ok" if r["checks"] and r["errors"] == 0 else "FAILED"
        print(
            f"{VARIANTS[variant]:<{name_width}}  {r['steps']:>6,}  {r['steps_per_s']:>8,.0f}"
            f"  {r['p50_ms']:>7.2f}  {r['p99_ms']:>7.2f}  {r['max_ms']:>7.1f}"
            f"  {r['loaded_p99_ms']:>10.2f}"
            f"  {r['rss_peak_mb']:>11.1f}  {r['rss_peak_mb'] - r['rss_start_mb']:>7.1f}"
            f"  {r['store_mb']:>8.1f}  {ok:>6}"
        )
    print()
    print(
        "steps/s = measured steps / wall time of the measured window, under load (ours: batches"
        f" of {INBOX_BATCH} from the inbox, up to {CONCURRENT_PEOPLE} people's steps in flight at"
        " once, each person's in order, commits grouped; the inbox write, read and outbox check"
        " counted)"
    )
    inbox_ms = results.get("ours-full", {}).get("inbox_commit_p50_ms")
    print(
        "p50/p99/max = per step with one update at a time (ours: from taking it from the inbox to"
        " the last reply sent"
        + (
            f"; before that, the poller's inbox commit takes {inbox_ms:.2f} ms p50 (FULL),"
            " once per getUpdates batch"
            if inbox_ms is not None
            else ""
        )
        + "); p99 loaded = per step during the throughput run, queueing included"
    )
    print(
        "ours: each update goes the way bot/inbox.py takes it: stored in the inbox (batch), read"
        " back, decoded, processed (answer encrypted, committed with the inbox mark and the"
        " replies' outbox rows), replies sent, outbox rows removed, inbox mark by the consumer"
    )
    print(
        "RSS +MB = peak RSS minus peak RSS after start-up (baselines: pickle loaded); store MB ="
        " database + WAL, or the pickle file, at the end"
    )
    print(
        "durable baseline: app.update_persistence() + flush() after every update (on_flush=True,"
        " one whole-file rewrite per update; PTB does not fsync or rename atomically);"
        f" measured on {results.get('ptb-durable', {}).get('steps', 0):,} steps only, it is slow;"
        " most of each rewrite is PTB's _BotPickler, not the disk"
    )
    print(
        "default baseline: PicklePersistence as shipped (update_interval=60): nothing is written"
        " during a run shorter than 60 s; a crash loses up to a minute of answers"
    )
    if "ptb-durable" not in results:
        return
    ours = results["ours-full"]["steps_per_s"]
    normal = results["ours-normal"]["steps_per_s"]
    durable = results["ptb-durable"]["steps_per_s"]
    default = results["ptb-default"]["steps_per_s"]
    print()
    to_durable, to_default = ours / durable, ours / default
    print(
        f"ratios: ours(FULL)/durable = {to_durable:.1f}x (target >= 20x);"
        f" ours(FULL)/default = {to_default:.2f}x (target >= 0.3x)"
    )
    print(
        f"        ours(NORMAL)/durable = {normal / durable:.1f}x;"
        f" ours(NORMAL)/default = {normal / default:.2f}x"
    )
    p99 = results["ours-full"]["p99_ms"]
    targets = [
        (f">= 1,000 steps/s ({ours:,.0f})", ours >= 1_000),
        (f"p99 <= 5 ms ({p99:.2f})", p99 <= 5.0),
        (f">= 20x durable ({to_durable:.1f}x)", to_durable >= 20),
        (f">= 0.3x default ({to_default:.2f}x)", to_default >= 0.3),
    ]
    figures.report(
        [
            Figure("flows", "steps/s, ours (FULL)", f"{ours:,.0f}", "≥ 1,000", ours >= 1_000),
            Figure("flows", "p99 per step, ours (FULL)", f"{p99:.2f} ms", "≤ 5 ms", p99 <= 5.0),
            Figure("flows", "steps/s, ours (NORMAL)", f"{normal:,.0f}"),
            Figure("flows", "steps/s, PTB pickle every update", f"{durable:,.0f}"),
            Figure("flows", "steps/s, PTB pickle as shipped", f"{default:,.0f}"),
            Figure("flows", "ours / PTB durable", f"{to_durable:.1f}x", "≥ 20x", to_durable >= 20),
            Figure(
                "flows", "ours / PTB default", f"{to_default:.2f}x", "≥ 0.3x", to_default >= 0.3
            ),
        ]
    )
    verdict = "met" if all(ok for _, ok in targets) else "NOT met"
    print(
        "targets (ours, FULL): "
        + "; ".join(f"{label} {'ok' if ok else 'MISSED'}" for label, ok in targets)
        + f" -> {verdict}"
    )
    if not all(r["checks"] and r["errors"] == 0 for r in results.values()):
        print("WARNING: a variant failed its checks (see the checks column)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=10_000, help="people in the database")
    parser.add_argument(
        "--steps", type=int, default=5_000, help="measured steps (ours, and the default baseline)"
    )
    parser.add_argument("--durable-steps", type=int, default=500, help="measured steps (durable)")
    parser.add_argument("--warmup", type=int, default=500, help="warm-up steps, not measured")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--profile", action="store_true", help="cProfile ours (FULL) instead")
    parser.add_argument("--variant", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--template", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        return child(args)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
