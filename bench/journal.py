"""Journal benchmark: /entries paging and search with 5,000 entries, /export with 10,000.

    cd /work/main && .venv/bin/python bench/journal.py          # the full run (~1 minute)
    .venv/bin/python bench/journal.py --quick                   # a smoke run of a few seconds
    .venv/bin/python bench/journal.py --profile miss            # cProfile one kind of operation

One person has 5,000 entries and another 10,000, written over a year: preparation sets (9 answers
of 100-300 characters), in-the-moment checks (a line of text and 5 choices), reflections (4 texts
and a choice), top tips (10 choices and a note) and journal entries (1-3 parts with some #tags);
some in-the-moment checks and reflections belong to the preparation before them (one sharing
episode), optional texts are skipped about a third of the time, a few entries are drafts (stopped
part-way) and a few are flagged; about 2% of entries mention the searched word. They are written
through the Store's own functions in one unit of work, every answer and every entry's search text
encrypted exactly as the engine encrypts them. Answer text is generated, never printed or logged.

Every measured operation is one update handled end to end: JSON decoded, PTB
`Application.process_update`, our engine (one unit of work, committed with synchronous=FULL), every
reply sent through an offline request layer (bench/flows.py's LeanRequest, which also takes the
export's two documents here). No rate limiter. The five /entries operations are interleaved, one
of each per round, after a warm-up. /export runs three times, each timed whole.

The parent populates a template database once (not measured); the /entries part and the /export
part each run in their own process on a copy of it, so the export's peak RSS is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

# Run as `python bench/journal.py`, Python puts bench/ first on sys.path, and bench/flows.py would
# shadow the `flows` package. Take bench/ off the path and put the repository root on it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from telegram import Update  # noqa: E402
from telegram.request import BaseRequest, RequestData  # noqa: E402

import flows.kernel.export  # noqa: E402
from bench import figures  # noqa: E402
from bench.figures import Figure  # noqa: E402
from bench.flows import (  # noqa: E402
    BOT_FROM,
    ErrorCount,
    LeanRequest,
    config_for,
    filesystem_of,
    max_rss_mb,
    percentile,
)
from bot.app import open_service  # noqa: E402
from bot.telegram_bot import build_application  # noqa: E402
from flows.questions.answers import matcher, search_text  # noqa: E402
from flows.questions.sets import Flow  # noqa: E402
from flows.store.rows import iso, now_utc  # noqa: E402
from flows.store.unit import Unit  # noqa: E402

SEED = 20_240_602
BROWSER = 600_000_001  # the person whose /entries are paged and searched
EXPORTER = 600_000_002  # the person who exports
PAGE = 5  # flows.features.journal.listing.ENTRIES_PAGE
SEARCH_WORD = "allotment"  # written into about 2% of entries
TAG = "#boundaries"
MISSING_WORD = "zqxjvk"  # in no entry: every entry decrypted and matched, nothing shown
TAGS = ["boundaries", "supervision-prep", "family", "burnout", "hope", "team", "nightshift"]
MIX = [("preparation", 20), ("in_the_moment", 20), ("reflection", 15), ("top_tips", 10)]
MIX.append(("journal", 35))
DRAFT_SHARE = 0.02
FLAGGED_SHARE = 0.01
EPISODE_SHARE = 0.6  # in-the-moment checks and reflections that belong to the last preparation

PAGE_TARGET_MS = 50.0
EXPORT_TARGET_S = 10.0
KINDS = ["page", "deep", "search", "tag", "miss"]

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
_VOCABULARY = _SAMPLE.split()


# ---- the population (parent process, not measured) ------------------------------------------


def sentence_text(rng: random.Random, low: int, high: int) -> str:
    """Ordinary sentences of `low`-`high` characters; never printed."""
    target = rng.randint(low, high)
    parts: list[str] = []
    length = 0
    while length < target:
        words = rng.choices(_VOCABULARY, k=rng.randint(5, 14))
        parts.append(" ".join(words).capitalize() + rng.choice([".", ".", ",", "!", "?"]))
        length += len(parts[-1]) + 1
    return " ".join(parts)[:target].rstrip() + "."


def answers_for(rng: random.Random, flow: Flow, draft: bool) -> dict[str, str]:
    """What a person would have given: every step of the set (a draft stops part-way)."""
    raw: dict[str, str] = {}
    if flow.name == "journal":
        for n in range(1, rng.randint(1, 3) + 1):
            text = sentence_text(rng, 100, 300)
            if rng.random() < 0.35:
                picked = rng.sample(TAGS, rng.randint(1, 2))
                text += " " + " ".join(f"#{tag}" for tag in picked)
            raw[f"writing.{n}"] = text
    else:
        steps = list(flow.steps.values())
        if draft:
            steps = steps[: rng.randint(1, max(1, len(steps) - 1))]
        for step in steps:
            if step.input == "choice":
                raw[step.id] = rng.choice(step.choices).value
            elif step.optional and rng.random() < 0.3:
                continue  # skipped
            elif flow.name == "in_the_moment":
                raw[step.id] = sentence_text(rng, 20, 80)
            else:
                raw[step.id] = sentence_text(rng, 100, 300)
    texts = [k for k, v in raw.items() if len(v) > 80]
    if texts and rng.random() < 0.02:
        key = rng.choice(texts)
        raw[key] = raw[key].replace(" ", f" {SEARCH_WORD} ", 1)
    return raw


def populate(data_dir: Path, people: dict[int, int]) -> dict[str, Any]:
    """People and their entries, written as the engine writes them, in one unit of work.

    Returns what the measurement needs to check its replies: entries, matches, mix."""
    return asyncio.run(_populate(data_dir, people))


async def _populate(data_dir: Path, people: dict[int, int]) -> dict[str, Any]:
    service = await open_service(config_for(data_dir, "NORMAL"))
    store = service.store
    flow_names = [name for name, _ in MIX]
    weights = [weight for _, weight in MIX]
    for name in flow_names:
        assert name in service.cat.flows, f"no question set {name!r}"
    summary: dict[str, Any] = {}

    def fill(tx: Unit) -> None:
        rng = random.Random(SEED)
        end = now_utc() - timedelta(hours=1)
        for uid, count in people.items():
            row = tx.person(uid, service.default_timezone)
            tx.set_welcomed(uid)
            offsets = sorted((rng.uniform(0, 365 * 86_400) for _ in range(count)), reverse=True)
            stamps: list[tuple[str, str, int]] = []
            answer_stamps: list[tuple[str, int]] = []
            mix: Counter[str] = Counter()
            found = {"search": 0, "tag": 0, "miss": 0}
            last_preparation: int | None = None
            for offset in offsets:  # oldest first, so ids grow with created_at
                name = rng.choices(flow_names, weights)[0]
                flow = service.cat.flows[name]
                episode = None
                if name in {"in_the_moment", "reflection"} and last_preparation is not None:
                    episode = last_preparation if rng.random() < EPISODE_SHARE else None
                entry_id = tx.create_entry(uid, name, episode)
                if name == "preparation":
                    last_preparation = entry_id
                draft = rng.random() < DRAFT_SHARE
                raw = answers_for(rng, flow, draft)
                for key, value in raw.items():
                    tx.put_answer(row.cipher, entry_id, key, value)
                tx.set_entry_status(entry_id, "draft" if draft else "saved")
                if rng.random() < FLAGGED_SHARE:
                    tx.set_flag(entry_id, True)
                text = search_text(flow.title, flow, raw)  # exactly as the engine refreshes it
                tx.set_search_text(row.cipher, entry_id, text)
                created = end - timedelta(seconds=offset)
                finished = created + timedelta(minutes=rng.randint(1, 20))
                stamps.append((iso(created), iso(finished), entry_id))
                answer_stamps.append((iso(finished), entry_id))
                mix[name + (" (draft)" if draft else "")] += 1
                found["search"] += matcher(SEARCH_WORD)(text)
                found["tag"] += matcher(TAG)(text)
                found["miss"] += matcher(MISSING_WORD)(text)
            tx.conn.executemany(
                "UPDATE entries SET created_at = ?, updated_at = ? WHERE id = ?", stamps
            )
            tx.conn.executemany(
                "UPDATE answers SET answered_at = ? WHERE entry_id = ?", answer_stamps
            )
            summary[str(uid)] = {"entries": count, "mix": dict(mix), "matches": found}

    try:
        await store.run(fill)
        await store.checkpoint()
    finally:
        await store.close()
    return summary


# ---- the request layer ----------------------------------------------------------------------


class JournalRequest(LeanRequest):
    """bench/flows.py's LeanRequest, which also takes documents (as multipart, like HTTPXRequest
    would send them) and keeps the inline keyboard of the last message sent, for the checks."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: list[tuple[str, bytes]] = []
        self.last_buttons: list[str] = []  # callback data of the last message's buttons
        self.messages = 0

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
        if api == "sendMessage" and request_data is not None:
            self.messages += 1
            markup = request_data.parameters.get("reply_markup")
            rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
            self.last_buttons = [b.get("callback_data", "") for row in rows for b in row]
        if api != "sendDocument" or request_data is None:
            return await super().do_request(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        self.calls[api] = self.calls.get(api, 0) + 1
        _ = request_data.json_parameters  # the encoding HTTPXRequest does for the wire
        files = request_data.multipart_data  # and the file part it uploads
        for name, (filename, content, _mimetype) in files.items():
            body = content if isinstance(content, bytes) else b""
            self.documents.append((filename or name, body))
        chat_id = int(request_data.parameters["chat_id"])
        message = {
            "message_id": len(self.documents),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_FROM,
            "document": {"file_id": "doc", "file_unique_id": "u-doc"},
        }
        return 200, json.dumps({"ok": True, "result": message}).encode("utf-8")


# ---- updates --------------------------------------------------------------------------------


class Updates:
    """Update dicts as Telegram sends them, for one person."""

    def __init__(self, uid: int) -> None:
        self.uid = uid
        self.update_id = 5_000
        self.message_id = 200_000
        self.user = {"id": uid, "is_bot": False, "first_name": "Sam", "language_code": "en"}
        self.chat = {"id": uid, "type": "private", "first_name": "Sam"}

    def text(self, text: str) -> dict[str, Any]:
        self.update_id += 1
        self.message_id += 1
        command = text.split(" ", 1)[0]
        message = {
            "message_id": self.message_id,
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.user,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
        }
        return {"update_id": self.update_id, "message": message}

    def press(self, data: str) -> dict[str, Any]:
        self.update_id += 1
        message = {
            "message_id": 1,
            "date": int(time.time()),
            "chat": self.chat,
            "from": BOT_FROM,
            "text": "Your journal",
        }
        query = {
            "id": str(self.update_id),
            "from": self.user,
            "chat_instance": f"ci-{self.uid}",
            "data": data,
            "message": message,
        }
        return {"update_id": self.update_id, "callback_query": query}


# ---- measuring (child processes) ------------------------------------------------------------


class Bench:
    """A started Application over a copy of the template database."""

    def __init__(self, template: Path) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="coreflect-journal-"))
        self.data_dir = self.work / "data"
        shutil.copytree(template / "data", self.data_dir)
        self.request = JournalRequest()

    async def start(self) -> None:
        self.config = config_for(self.data_dir, "FULL")
        self.service = await open_service(self.config)
        self.app = build_application(
            self.config, self.service, request=self.request, rate_limited=False
        )
        await self.app.initialize()
        await self.app.start()

    async def handle(self, update: dict[str, Any]) -> int:
        """One update, end to end; nanoseconds."""
        raw = json.dumps(update)
        t0 = time.perf_counter_ns()
        await self.app.process_update(Update.de_json(json.loads(raw), self.app.bot))
        return time.perf_counter_ns() - t0

    async def close(self) -> None:
        await self.app.stop()
        await self.app.shutdown()
        await self.service.store.close()
        shutil.rmtree(self.work, ignore_errors=True)


def operations(entries: int) -> dict[str, tuple[str, str, str]]:
    """kind -> (label, "text"|"press", what is sent)."""
    last = (entries - 1) // PAGE
    return {
        "page": ("/entries (first page)", "text", "/entries"),
        "deep": (
            f"Older » to page {last + 1:,} (e:{last}:, offset {last * PAGE:,})",
            "press",
            f"e:{last}:",
        ),
        "search": (f"/entries {SEARCH_WORD} (search)", "text", f"/entries {SEARCH_WORD}"),
        "tag": (f"/entries {TAG} (tag)", "text", f"/entries {TAG}"),
        "miss": (
            f"/entries {MISSING_WORD} (search, no match)",
            "text",
            f"/entries {MISSING_WORD}",
        ),
    }


def check_page(kind: str, buttons: list[str], entries: int, found: int) -> bool:
    """The reply's keyboard is the page it should be (its text is never looked at)."""
    opened = [b for b in buttons if b.startswith("o:")]
    paging = [b for b in buttons if b.startswith("e:")]
    if kind == "page":
        return len(opened) == min(PAGE, entries) and paging == (["e:1:"] if entries > PAGE else [])
    if kind == "deep":
        last = (entries - 1) // PAGE
        return len(opened) == entries - last * PAGE and paging == [f"e:{last - 1}:"]
    if kind == "miss":
        return not buttons
    query = SEARCH_WORD if kind == "search" else TAG
    older = [f"e:1:{query}"] if found > PAGE else []
    return len(opened) == min(PAGE, found) and paging == older


def _profilers(bench: Bench) -> tuple[Any, Any]:
    """cProfile for the event loop's thread and one for the database thread (the unit of work
    runs there, where a profiler enabled on the loop's thread does not see it)."""
    import cProfile

    loop_profile, unit_profile = cProfile.Profile(), cProfile.Profile()
    store = bench.service.store
    run = store.run

    async def profiled_run(work: Any) -> Any:
        return await run(lambda tx: unit_profile.runcall(work, tx))

    store.run = profiled_run  # type: ignore[method-assign]
    return loop_profile, unit_profile


def _print_profiles(loop_profile: Any, unit_profile: Any, label: str) -> None:
    import pstats

    for name, profile in (("database thread (the unit of work)", unit_profile),):
        print(f"\n==== cProfile: {label}, {name} ====", file=sys.stderr)
        stats = pstats.Stats(profile, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(15)
        stats.sort_stats("tottime").print_stats(10)
    print(f"\n==== cProfile: {label}, event loop thread (PTB, sending) ====", file=sys.stderr)
    stats = pstats.Stats(loop_profile, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(15)


async def run_entries(args: argparse.Namespace) -> dict[str, Any]:
    info = json.loads(args.info)[str(BROWSER)]
    entries = info["entries"]
    found = info["matches"]
    bench = Bench(Path(args.template))
    await bench.start()
    try:
        updates = Updates(BROWSER)
        ops = operations(entries)

        def update_for(kind: str) -> dict[str, Any]:
            _, how, what = ops[kind]
            return updates.press(what) if how == "press" else updates.text(what)

        times: dict[str, list[int]] = {kind: [] for kind in KINDS}
        units: dict[str, list[int]] = {kind: [] for kind in KINDS}
        checks: dict[str, bool] = {kind: True for kind in KINDS}
        # One timer around the unit of work (the await of Store.run: the hop to the database
        # thread, the engine's work there, the commit); the rest of an update is PTB and sending.
        store = bench.service.store
        store_run = store.run
        unit_ns = [0]

        async def timed_run(work: Any) -> Any:
            t0 = time.perf_counter_ns()
            try:
                return await store_run(work)
            finally:
                unit_ns[0] += time.perf_counter_ns() - t0

        store.run = timed_run  # type: ignore[method-assign]
        for _ in range(args.warmup):
            for kind in KINDS:
                await bench.handle(update_for(kind))
        kinds = [args.profile] if args.profile else KINDS
        profiles = _profilers(bench) if args.profile else None
        if profiles:
            profiles[0].enable()
        for _ in range(args.reps):
            for kind in kinds:
                bench.request.last_buttons = []
                unit_ns[0] = 0
                times[kind].append(await bench.handle(update_for(kind)))
                units[kind].append(unit_ns[0])
                ok = check_page(kind, bench.request.last_buttons, entries, found.get(kind, 0))
                checks[kind] = checks[kind] and ok
        if profiles:
            profiles[0].disable()
            _print_profiles(*profiles, ops[args.profile][0])
        rows = {}
        for kind in kinds:
            ordered = sorted(times[kind])
            rows[kind] = {
                "label": ops[kind][0],
                "reps": len(ordered),
                "p50_ms": percentile(ordered, 0.50),
                "p99_ms": percentile(ordered, 0.99),
                "max_ms": ordered[-1] / 1e6,
                "unit_p50_ms": percentile(sorted(units[kind]), 0.50),
                "unit_p99_ms": percentile(sorted(units[kind]), 0.99),
                "matches": found.get(kind) if kind in {"search", "tag", "miss"} else None,
                "checks": checks[kind],
            }
        return {"ops": rows, "messages": bench.request.messages, "rss_peak_mb": max_rss_mb()}
    finally:
        await bench.close()


async def run_export(args: argparse.Namespace) -> dict[str, Any]:
    info = json.loads(args.info)[str(EXPORTER)]
    bench = Bench(Path(args.template))
    await bench.start()
    try:
        # Cheap instrumentation, one timer around each piece: the unit of work (database thread:
        # reading, decrypting, building both documents), the answers' reads and decryption inside
        # it, and the two renderers. The rest of an update is PTB and sending the documents.
        spent: Counter[str] = Counter()

        def timed(name: str, function: Any) -> Any:
            def wrapper(*a: Any, **k: Any) -> Any:
                t0 = time.perf_counter_ns()
                try:
                    return function(*a, **k)
                finally:
                    spent[name] += time.perf_counter_ns() - t0

            return wrapper

        flows.kernel.export.to_markdown = timed("markdown", flows.kernel.export.to_markdown)  # type: ignore[assignment]
        flows.kernel.export.to_json = timed("json", flows.kernel.export.to_json)  # type: ignore[assignment]
        Unit.answers = timed("reads", Unit.answers)  # type: ignore[method-assign]
        Unit.answer_times = timed("reads", Unit.answer_times)  # type: ignore[method-assign]
        store = bench.service.store
        store_run = store.run

        async def timed_run(work: Any) -> Any:
            t0 = time.perf_counter_ns()
            try:
                return await store_run(work)
            finally:
                took = time.perf_counter_ns() - t0
                spent["unit"] += took
                spent["longest_unit"] = max(spent["longest_unit"], took)  # others' stall
                spent["units"] += 1

        store.run = timed_run  # type: ignore[method-assign]
        profiles = _profilers(bench) if args.profile else None
        updates = Updates(EXPORTER)
        runs = []
        rss_start = max_rss_mb()
        for _ in range(args.exports):
            spent.clear()
            bench.request.documents = []
            if profiles:
                profiles[0].enable()
            total = await bench.handle(updates.text("/export"))
            if profiles:
                profiles[0].disable()
            documents = bench.request.documents
            sizes = {name.rsplit(".", 1)[-1]: len(body) for name, body in documents}
            runs.append(
                {
                    "total_s": total / 1e9,
                    "unit_s": spent["unit"] / 1e9,
                    "longest_unit_s": spent["longest_unit"] / 1e9,
                    "units": spent["units"],
                    "reads_s": spent["reads"] / 1e9,
                    "markdown_s": spent["markdown"] / 1e9,
                    "json_s": spent["json"] / 1e9,
                    "md_bytes": sizes.get("md", 0),
                    "json_bytes": sizes.get("json", 0),
                }
            )
        if profiles:
            _print_profiles(*profiles, "/export")
        body = next((b for name, b in bench.request.documents if name.endswith(".json")), b"")
        try:
            exported = json.loads(body)
            parsed, count = True, len(exported.get("entries", []))
            episodes = len(exported.get("episodes", []))
        except ValueError:
            parsed, count, episodes = False, 0, 0
        markdown_ok = any(n.endswith(".md") and b for n, b in bench.request.documents)
        return {
            "runs": runs,
            "expected": info["entries"],
            "json_parses": parsed,
            "json_entries": count,
            "json_episodes": episodes,
            "markdown_ok": markdown_ok,
            "rss_start_mb": rss_start,
            "rss_peak_mb": max_rss_mb(),
        }
    finally:
        await bench.close()


def child(args: argparse.Namespace) -> int:
    errors = ErrorCount()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().addHandler(errors)
    if args.part == "entries":
        result = asyncio.run(run_entries(args))
    else:
        result = asyncio.run(run_export(args))
    result["errors"] = errors.count
    print(json.dumps(result), flush=True)
    return 0


# ---- the parent: populate once, run each part in its own process, print the table ----------


def spawn(args: argparse.Namespace, part: str, template: Path, info: dict[str, Any]) -> Any:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--part",
        part,
        "--template",
        str(template),
        "--info",
        json.dumps(info),
        "--reps",
        str(args.reps),
        "--warmup",
        str(args.warmup),
        "--exports",
        str(args.exports),
    ]
    if args.profile:
        command += ["--profile", args.profile]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {part} run failed (exit {done.returncode})")
    if args.profile:
        sys.stderr.write(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def parent(args: argparse.Namespace) -> int:
    if args.quick:
        args.browse, args.export = 500, 1_000
        args.reps, args.warmup, args.exports = 20, 3, 1
    people = {BROWSER: args.browse, EXPORTER: args.export}
    if args.profile:
        people = {BROWSER: args.browse} if args.profile != "export" else {EXPORTER: args.export}
    root = Path(tempfile.mkdtemp(prefix="coreflect-journal-template-"))
    started = time.perf_counter()
    try:
        total = sum(people.values())
        print(f"populating {total:,} entries (not measured)…", file=sys.stderr, flush=True)
        info = populate(root / "data", people)
        populate_s = time.perf_counter() - started
        db_mb = sum(f.stat().st_size for f in (root / "data").iterdir()) / 1e6
        print(f"  done in {populate_s:.1f} s ({db_mb:.1f} MB)", file=sys.stderr, flush=True)
        entries_result = export_result = None
        if args.profile in (None, *KINDS):
            what = f"{args.reps} rounds" + ("" if args.profile else " of 5 operations")
            print(f"  /entries: {args.warmup} warm-up + {what}…", file=sys.stderr, flush=True)
            entries_result = spawn(args, "entries", root, info)
        if args.profile in (None, "export"):
            print(f"  /export: {args.exports} runs…", file=sys.stderr, flush=True)
            export_result = spawn(args, "export", root, info)
        fs = filesystem_of(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    wall = time.perf_counter() - started
    print_report(args, info, entries_result, export_result, fs, populate_s, db_mb, wall)
    return 0


def print_report(
    args: argparse.Namespace,
    info: dict[str, Any],
    entries_result: dict[str, Any] | None,
    export_result: dict[str, Any] | None,
    fs: str,
    populate_s: float,
    db_mb: float,
    wall: float,
) -> None:
    command = " ".join(["cd /work/main && .venv/bin/python bench/journal.py", *sys.argv[1:]])
    print(
        "CoReflect journal benchmark — /entries paging and search, /export; each operation one"
        " update end to end through PTB Application.process_update (decode, engine, one unit of"
        " work committed with SQLite WAL synchronous=FULL, replies through an offline request"
        " layer), no rate limiter"
    )
    print(f"command: {command}")
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, temp files on {fs};"
        f" database {db_mb:.1f} MB, populated in {populate_s:.1f} s (not measured);"
        f" whole run {wall:.0f} s"
    )
    for uid, who in ((BROWSER, "/entries person"), (EXPORTER, "/export person")):
        data = info.get(str(uid))
        if data:
            mix = ", ".join(f"{name} {n:,}" for name, n in sorted(data["mix"].items()))
            print(f"{who}: {data['entries']:,} entries over 365 days ({mix})")
    if args.quick:
        print("QUICK RUN: small population and few repetitions; targets are judged on the full run")
    targets: list[tuple[str, bool]] = []
    if entries_result is not None:
        print()
        ops = entries_result["ops"]
        width = max(len(r["label"]) for r in ops.values())
        header = (
            f"{'operation':<{width}}  {'reps':>5}  {'p50 ms':>7}  {'p99 ms':>7}  {'max ms':>7}"
            f"  {'unit p50':>8}  {'unit p99':>8}  {'matches':>7}  {'checks':>6}"
        )
        print(header)
        print("-" * len(header))
        for kind, r in ops.items():
            found = "" if r["matches"] is None else f"{r['matches']:,}"
            ok = "ok" if r["checks"] and entries_result["errors"] == 0 else "FAILED"
            print(
                f"{r['label']:<{width}}  {r['reps']:>5,}  {r['p50_ms']:>7.2f}  {r['p99_ms']:>7.2f}"
                f"  {r['max_ms']:>7.2f}  {r['unit_p50_ms']:>8.2f}  {r['unit_p99_ms']:>8.2f}"
                f"  {found:>7}  {ok:>6}"
            )
            targets.append(
                (
                    f"{kind} p99 {r['p99_ms']:.1f} ms <= {PAGE_TARGET_MS:.0f} ms",
                    r["p99_ms"] <= PAGE_TARGET_MS,
                )
            )
        print(
            f"the five operations interleaved, one of each per round, after {args.warmup} warm-up"
            " rounds; every search decrypts and matches all of the person's entries (the no-match"
            " search shows nothing, the others their first page); unit = the engine's unit of work"
            " (Store.run awaited: the hop to the database thread, reads, decryption, matching,"
            " rendering, the commit), the rest is PTB and sending; checks = the reply's keyboard"
            " is the page expected (entry buttons and Older/Newer), and no error was logged"
        )
    if export_result is not None:
        print()
        header = (
            f"{'/export of ' + format(export_result['expected'], ',') + ' entries':<26}"
            f"  {'total s':>7}  {'unit s':>6}  {'reads s':>7}  {'build s':>7}  {'md s':>5}"
            f"  {'json s':>6}  {'send s':>6}  {'md MB':>6}  {'json MB':>7}  {'units':>5}"
            f"  {'longest ms':>10}"
        )
        print(header)
        print("-" * len(header))
        for n, r in enumerate(export_result["runs"], start=1):
            build = r["unit_s"] - r["reads_s"] - r["markdown_s"] - r["json_s"]
            print(
                f"{'run ' + str(n):<26}  {r['total_s']:>7.2f}  {r['unit_s']:>6.2f}"
                f"  {r['reads_s']:>7.2f}  {build:>7.2f}  {r['markdown_s']:>5.2f}"
                f"  {r['json_s']:>6.2f}  {r['total_s'] - r['unit_s']:>6.2f}"
                f"  {r['md_bytes'] / 1e6:>6.2f}  {r['json_bytes'] / 1e6:>7.2f}"
                f"  {r['units']:>5}  {r['longest_unit_s'] * 1e3:>10.0f}"
            )
        print(
            "total = the whole update (PTB, the engine's unit of work, the reply, both documents"
            " sent as multipart); unit = the unit of work on the database thread; of it, reads ="
            " Unit.answers + Unit.answer_times (SQL and decryption), md/json = rendering each"
            " document, build = the rest (entry query, building the export's entries, commit);"
            " send = total - unit (PTB and the request layer taking the documents; offline, so"
            " no multipart body is built or uploaded as HTTPXRequest would); units = units of"
            " work the export took (the listing, then a page of entries each); longest = the"
            " longest of them, the most anyone else's message waits behind the export"
        )
        rss = export_result["rss_peak_mb"] - export_result["rss_start_mb"]
        print(
            f"peak RSS of the export process {export_result['rss_peak_mb']:.0f} MB"
            f" (+{rss:.0f} MB over the started bot)"
        )
        good = (
            export_result["json_parses"]
            and export_result["json_entries"] == export_result["expected"]
            and export_result["markdown_ok"]
            and export_result["errors"] == 0
        )
        print(
            f"check: the export's JSON parses: {'yes' if export_result['json_parses'] else 'NO'};"
            f" it has {export_result['json_entries']:,} entries (expected"
            f" {export_result['expected']:,}) in {export_result['json_episodes']:,} episodes;"
            f" Markdown sent: {'yes' if export_result['markdown_ok'] else 'NO'};"
            f" errors logged: {export_result['errors']} -> {'ok' if good else 'FAILED'}"
        )
        worst = max(r["total_s"] for r in export_result["runs"])
        targets.append(
            (
                f"export {worst:.2f} s (slowest run) <= {EXPORT_TARGET_S:.0f} s",
                worst <= EXPORT_TARGET_S,
            )
        )
    found: list[Figure] = []
    if entries_result is not None:
        for kind, r in entries_result["ops"].items():
            found.append(
                Figure(
                    "journal",
                    f"{kind} p99",
                    f"{r['p99_ms']:.1f} ms",
                    f"≤ {PAGE_TARGET_MS:.0f} ms",
                    r["p99_ms"] <= PAGE_TARGET_MS,
                )
            )
    if export_result is not None:
        worst = max(r["total_s"] for r in export_result["runs"])
        found.append(
            Figure(
                "journal",
                f"/export of {export_result['expected']:,} entries",
                f"{worst:.2f} s",
                f"≤ {EXPORT_TARGET_S:.0f} s",
                worst <= EXPORT_TARGET_S,
            )
        )
    figures.report(found)
    print()
    print(
        f"targets (p99 <= {PAGE_TARGET_MS:.0f} ms for page and search; export <="
        f" {EXPORT_TARGET_S:.0f} s):"
    )
    for label, ok in targets:
        print(f"  {label}: {'met' if ok else 'MISSED'}")
    verdict = "all met" if all(ok for _, ok in targets) else "NOT all met"
    print(f"  -> {verdict}" + (" (quick run: not a judgement)" if args.quick else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--browse", type=int, default=5_000, help="entries of the /entries person")
    parser.add_argument("--export", type=int, default=10_000, help="entries of the export person")
    parser.add_argument("--reps", type=int, default=200, help="measured rounds of /entries ops")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up rounds, not measured")
    parser.add_argument("--exports", type=int, default=3, help="timed /export runs")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--profile",
        choices=[*KINDS, "export"],
        help="cProfile one kind of operation instead (printed to stderr)",
    )
    parser.add_argument("--part", choices=["entries", "export"], help=argparse.SUPPRESS)
    parser.add_argument("--template", help=argparse.SUPPRESS)
    parser.add_argument("--info", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        return child(args)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
