"""Supervisors: linking with consent on both sides, consented summaries, withdrawal, co-reflection.

The promise: a supervisor sees only what the worker chose to share, when they chose it, and
nothing after they withdraw it. Everything that reaches another person goes through
`flows.kernel.gate`; every button that names a link, invite, share or round is checked against
the person pressing.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flows.features.supervision import db as sup_db
from flows.features.supervision import pack_pdf
from flows.features.supervision.db import LinkRow, ShareRow
from flows.kernel import gate, render
from flows.kernel.model import Button, Outcome, Reply
from flows.kernel.turn import Turn
from flows.questions import answers as content
from flows.questions.catalogue import PROCTOR, Catalogue
from flows.store.rows import EntryRow
from flows.store.unit import Unit

if TYPE_CHECKING:
    from flows.service import Service

SUPERVISION_COMMANDS = ("supervisor", "link", "share", "shared", "supervisees", "summaries")
INVITE_TTL = timedelta(hours=72)
WRONG_CODES_ALLOWED = 5  # in any hour; more are refused until the oldest is an hour old
WRONG_CODE_WINDOW = timedelta(hours=1)
DELETE_WINDOW = timedelta(hours=48)  # Telegram lets a bot delete its messages for 48 hours
EXPIRY_DAYS = (0, 7, 30)  # 0: until withdrawn
LIST_PAGE = 5
TOGGLES_PER_ROW = 5
TOGGLE_LIMIT = 90  # answer buttons in one preview; beyond this, whole entries are toggled

SUPERVISION_MESSAGES = frozenset(
    {
        "not_found",
        "supervisor_menu",
        "button_invite",
        "button_unlink",
        "invite_ready",
        "invite_already_linked",
        "code_missing",
        "code_doesnt_work",
        "code_limit",
        "code_own",
        "code_already_linked",
        "link_explain",
        "button_link_confirm",
        "button_not_now",
        "link_asked",
        "link_not_now",
        "link_request",
        "button_link_yes",
        "button_link_no",
        "link_request_gone",
        "linked_worker",
        "linked_supervisor",
        "link_declined_worker",
        "link_declined_supervisor",
        "unlink_confirm",
        "button_unlink_yes",
        "button_keep_link",
        "unlinked",
        "unlinked_other",
        "link_kept",
        "share_no_supervisor",
        "share_what",
        "button_share_entry",
        "button_share_episode",
        "button_share_pack",
        "share_pick_entry",
        "share_pick_episode",
        "share_nothing",
        "pack_empty",
        "share_controls",
        "button_share_with",
        "button_keep_private",
        "button_expiry",
        "share_sent",
        "share_kept_private",
        "share_changed",
        "share_none_left",
        "shared_empty",
        "shared_list",
        "button_withdraw",
        "withdraw_confirm",
        "button_withdraw_yes",
        "button_keep_shared",
        "withdrawn",
        "share_ended_notice",
        "already_over",
        "supervisees_empty",
        "supervisees",
        "button_coreflect_with",
        "summaries_empty",
        "summaries_list",
        "proctor_formative",
        "proctor_normative",
        "proctor_restorative",
        "entry_section",
        "button_section",
        "section_choose",
        "section_set",
        "button_share",
        "coreflect_no_link",
        "coreflect_choose",
        "coreflect_busy",
        "round_invite",
        "button_answer_now",
        "round_waiting",
        "button_withdraw_round",
        "round_reveal_ask",
        "button_reveal",
        "button_keep_mine",
        "round_reveal_waiting",
        "round_revealed",
        "round_declined",
        "round_withdrawn",
        "round_closed",
        "forgotten_notice",
        "someone",
        *pack_pdf.PACK_PDF_MESSAGES,
    }
)


def new_code() -> str:
    """80 random bits, in capitals and digits a person can read aloud or type."""
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii")


def normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def code_hash(code: str) -> bytes:
    return hashlib.sha256(normalise(code).encode("ascii", "ignore")).digest()


def show_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


@dataclass(frozen=True, slots=True)
class Item:
    """One answer that could be shared: the worker can leave any of them out."""

    entry: EntryRow
    key: str
    label: str
    text: str


class Supervision:
    def __init__(self, service: Service) -> None:
        self.svc = service

    @property
    def cat(self) -> Catalogue:
        return self.svc.cat

    def say(self, message: str, /, **context: Any) -> str:
        return self.cat.say(message, **context)

    # ---- entry points --------------------------------------------------------------------

    def command(self, t: Turn, command: str, args: str) -> None:
        if command == "supervisor":
            self.menu(t)
        elif command == "link":
            self.code(t, args)
        elif command == "share":
            self.share_menu(t)
        elif command == "shared":
            self.shared(t, 0, team=self.svc.team.has_posts(t))
            self.svc.team.shared(t)
        elif command == "supervisees":
            self.supervisees(t)
        else:
            self.summaries(t, 0)
        if t.conv.flow:
            t.say(self.say("still_in_flow", title=self.svc._flow_of(t).title))

    def button(self, t: Turn, kind: str, rest: str) -> bool:
        """Buttons that carry an id: each is checked against the person pressing it."""
        head, _, tail = rest.partition(":")
        number = int(head) if head.isdigit() else None
        if kind == "g":
            self.invite(t)
        elif kind == "j" and number is not None:
            self.worker_answer(t, number, tail)
        elif kind == "n" and number is not None:
            self.unlink(t, number, tail)
        elif kind == "h":
            self.share_pick(t, head, tail)
        elif kind == "w" and number is not None:
            self.withdraw(t, number, tail)
        elif kind == "d":
            self.shared(t, number or 0)
        elif kind == "y":
            self.summaries(t, number or 0)
        elif kind == "m" and number is not None:
            self.open_summary(t, number)
            self.svc.team.offer(t, number)
        elif kind == "q" and number is not None:
            self.coreflect_on(t, number)
        elif kind == "r" and number is not None:
            self.round_button(t, number, tail)
        elif kind in {"g", "j", "n", "w", "m", "q", "r"}:
            self.not_found(t)
        else:
            return False
        return True

    def turn_button(self, t: Turn, kind: str, value: str) -> None:
        """Buttons tied to what the bot is waiting on (and to its turn number)."""
        if kind == "k":
            self.supervisor_answer(t, value)
        else:
            self.preview_button(t, value)

    def not_found(self, t: Turn) -> None:
        t.out.toast = self.say("not_found")

    # ---- linking -------------------------------------------------------------------------

    def menu(self, t: Turn) -> None:
        mine = sup_db.supervisor_link(t.tx, t.person.id)
        theirs = sup_db.supervisee_links(t.tx, t.person.id)
        rows: list[list[Button]] = []
        if mine is not None:
            name = self.name(t.tx, mine.supervisor_id)
            rows.append([Button(self.say("button_unlink", name=name), f"n:{mine.id}:ask")])
        else:
            rows.append([Button(self.say("button_invite"), "g:invite")])
        for link in theirs:
            name = self.name(t.tx, link.worker_id)
            rows.append([Button(self.say("button_unlink", name=name), f"n:{link.id}:ask")])
        t.say(
            self.say(
                "supervisor_menu",
                supervisor=self.name(t.tx, mine.supervisor_id) if mine else None,
                since=self.svc._when(t, mine.created_at) if mine else "",
                supervisees=[self.name(t.tx, link.worker_id) for link in theirs],
            ),
            rows,
        )

    def invite(self, t: Turn) -> None:
        mine = sup_db.supervisor_link(t.tx, t.person.id)
        if mine is not None:
            t.say(self.say("invite_already_linked", name=self.name(t.tx, mine.supervisor_id)))
            return
        code = new_code()
        sup_db.invite_create(t.tx, t.person.id, code_hash(code), t.now, INVITE_TTL)
        username = self.svc.bot_username
        t.say(
            self.say(
                "invite_ready",
                code=show_code(code),
                url=f"https://t.me/{username}?start=link_{code}" if username else "",
                hours=int(INVITE_TTL.total_seconds() // 3600),
            )
        )

    def code(self, t: Turn, typed: str) -> None:
        """A supervisor brings an invite code (typed, or from the link)."""
        if not normalise(typed):
            t.say(self.say("code_missing"))
            return
        recent = sup_db.wrong_codes_since(t.tx, t.person.id, t.now - WRONG_CODE_WINDOW)
        if recent >= WRONG_CODES_ALLOWED:
            t.say(self.say("code_limit"))
            return
        invite = sup_db.invite_by_hash(t.tx, code_hash(typed))
        if invite is not None and invite.worker_id == t.person.id and not invite.closed:
            t.say(self.say("code_own"))
            return
        if (
            invite is None
            or invite.closed
            or invite.supervisor_id is not None
            or invite.expires_at <= t.now
        ):
            sup_db.wrong_code(t.tx, t.person.id, t.now)
            t.say(self.say("code_doesnt_work"))
            return
        current = sup_db.supervisor_link(t.tx, invite.worker_id)
        if current is not None and current.supervisor_id == t.person.id:
            t.say(self.say("code_already_linked", name=self.name(t.tx, invite.worker_id)))
            return
        t.conv.pending = {"kind": "link_confirm", "invite": invite.id}
        t.conv.turn += 1
        t.say(
            self.say("link_explain", name=self.name(t.tx, invite.worker_id)),
            [
                [Button(self.say("button_link_confirm"), f"k:{t.conv.turn}:yes")],
                [Button(self.say("button_not_now"), f"k:{t.conv.turn}:no")],
            ],
        )

    def supervisor_answer(self, t: Turn, value: str) -> None:
        invite_id = int((t.conv.pending or {}).get("invite", 0))
        t.conv.pending = None
        t.out.clear_buttons = True
        if value != "yes":
            t.say(self.say("link_not_now"))
            return
        invite = sup_db.invite(t.tx, invite_id)
        if (
            invite is None
            or invite.expires_at <= t.now
            or not sup_db.invite_claim(t.tx, invite.id, t.person.id, t.now)
        ):
            t.say(self.say("code_doesnt_work"))
            return
        worker_name = self.name(t.tx, invite.worker_id)
        supervisor_name = self.name(t.tx, t.person.id)
        gate.send(
            t.tx,
            t.out,
            invite.worker_id,
            [
                Reply(
                    self.say("link_request", name=supervisor_name),
                    [
                        [Button(self.say("button_link_yes"), f"j:{invite.id}:yes")],
                        [Button(self.say("button_link_no"), f"j:{invite.id}:no")],
                    ],
                )
            ],
            gate.LinkRequest(invite.id),
            t.now,
        )
        t.say(self.say("link_asked", name=worker_name))

    def worker_answer(self, t: Turn, invite_id: int, value: str) -> None:
        invite = sup_db.invite(t.tx, invite_id)
        if invite is None or invite.worker_id != t.person.id:
            self.not_found(t)
            return
        t.out.clear_buttons = True
        if invite.closed or invite.supervisor_id is None or invite.expires_at <= t.now:
            t.say(self.say("link_request_gone"))
            return
        supervisor = invite.supervisor_id
        name = self.name(t.tx, supervisor)
        if value != "yes":
            gate.send(
                t.tx,
                t.out,
                supervisor,
                [Reply(self.say("link_declined_supervisor", name=self.name(t.tx, t.person.id)))],
                gate.LinkRequest(invite.id),
                t.now,
            )
            sup_db.invite_close(t.tx, invite.id, t.now)
            t.say(self.say("link_declined_worker", name=name))
            return
        current = sup_db.supervisor_link(t.tx, t.person.id)
        if current is not None:
            sup_db.invite_close(t.tx, invite.id, t.now)
            t.say(self.say("invite_already_linked", name=self.name(t.tx, current.supervisor_id)))
            return
        link_id = sup_db.link_create(t.tx, t.person.id, supervisor, t.now)
        sup_db.invite_close(t.tx, invite.id, t.now)
        self.notice(t.tx, t.out, link_id, supervisor, "linked_supervisor", t.now, t.person.id)
        t.say(self.say("linked_worker", name=name))

    def unlink(self, t: Turn, link_id: int, stage: str) -> None:
        link = sup_db.link(t.tx, link_id)
        if link is None or not link.active or not link.has(t.person.id):
            self.not_found(t)
            return
        other = link.other(t.person.id)
        name = self.name(t.tx, other)
        if stage == "ask":
            t.say(
                self.say("unlink_confirm", name=name, worker=t.person.id == link.worker_id),
                [
                    [Button(self.say("button_unlink_yes"), f"n:{link.id}:yes")],
                    [Button(self.say("button_keep_link"), f"n:{link.id}:no")],
                ],
            )
            return
        t.out.clear_buttons = True
        if stage != "yes":
            t.out.toast = self.say("link_kept")
            return
        self.end_link(t.tx, t.out, link, t.person.id, t.now, "unlinked_other")
        t.say(self.say("unlinked", name=name))

    def end_link(
        self, tx: Unit, out: Outcome, link: LinkRow, by: int, now: datetime, notice: str
    ) -> None:
        """The link ends: an open co-reflection round closes unrevealed; summaries still
        queued are dropped, and the supervisor's lists no longer show the worker's summaries."""
        other = link.other(by)
        self.notice(tx, out, link.id, other, notice, now, by)
        open_round = sup_db.open_round(tx, link.id)
        if open_round is not None:
            sup_db.round_close(tx, open_round.id, "withdrawn", now)
        sup_db.drop_queued_shares(tx, link.id)
        sup_db.link_end(tx, link.id, by, now)

    def notice(
        self,
        tx: Unit,
        out: Outcome,
        link_id: int,
        to: int,
        message: str,
        now: datetime,
        about: int,
        buttons: list[list[Button]] | None = None,
        **context: Any,
    ) -> None:
        """Catalogue wording to the other side of a link: names and dates, never anyone's words."""
        html = self.say(message, name=self.name(tx, about), **context)
        gate.send(tx, out, to, [Reply(html, buttons or [])], gate.Notice(link_id), now)

    def name(self, tx: Unit, person_id: int) -> str:
        return tx.name_of(person_id) or self.say("someone")

    # ---- sharing: choose, preview, share -------------------------------------------------

    def share_menu(self, t: Turn) -> None:
        link = sup_db.supervisor_link(t.tx, t.person.id)
        pack = self.pack_entries(t)
        if link is None:
            # A supervisor who isn't on CoReflect can still be brought the pack, printed.
            rows = [[Button(self.say("button_pack_pdf_only"), "h:kp")]] if pack else []
            t.say(self.say("share_no_supervisor", pack=len(pack)), rows)
            return
        t.say(
            self.say("share_what", name=self.name(t.tx, link.supervisor_id)),
            [
                [Button(self.say("button_share_entry"), "h:le:0")],
                [Button(self.say("button_share_episode"), "h:lp:0")],
                [Button(self.say("button_share_pack", count=len(pack)), "h:k")],
                *self.svc.team.share_menu_rows(t, link),
            ],
        )

    def share_pick(self, t: Turn, what: str, tail: str) -> None:
        number = int(tail) if tail.isdigit() else 0
        if what == "le":
            self.pick_list(t, "entry", number)
        elif what == "lp":
            self.pick_list(t, "episode", number)
        elif what == "e":
            entry = t.tx.entry(t.person.id, number)
            if entry is None or entry.status == "in_progress":
                self.not_found(t)
                return
            self.preview(t, "entry", entry.id, [entry])
        elif what == "p":
            episode = self.episode(t, number)
            if not episode:
                self.not_found(t)
                return
            self.preview(t, "episode", number, episode)
        elif what == "k":
            pack = self.pack_entries(t)
            if not pack:
                t.say(self.say("pack_empty"))
                return
            self.preview(t, "pack", None, pack)
        elif what == "kp":
            pack = self.pack_entries(t)
            if not pack:
                t.say(self.say("pack_empty"))
                return
            self.preview(t, "pack", None, pack, pdf_only=True)
        else:
            self.not_found(t)

    def pick_list(self, t: Turn, what: str, page: int) -> None:
        """Recent entries (or sharing episodes), newest first, to choose one to share."""
        start = page * LIST_PAGE
        if what == "entry":
            rows = t.tx.entries(t.person.id, limit=LIST_PAGE + 1, offset=start)
            choices = [(self.svc._entry_label(t, e), f"h:e:{e.id}") for e in rows]
        else:
            # An episode is listed by its newest entry; only episodes of two or more entries.
            seen: dict[int, list[EntryRow]] = {}
            for e in t.tx.entries(t.person.id, limit=200):
                seen.setdefault(e.episode_id, []).append(e)
            groups = [g for g in seen.values() if len(g) > 1][start : start + LIST_PAGE + 1]
            choices = [
                (
                    " → ".join(self.svc._title(e.flow) for e in reversed(g))[:40],
                    f"h:p:{g[0].episode_id}",
                )
                for g in groups
            ]
        more, choices = len(choices) > LIST_PAGE, choices[:LIST_PAGE]
        if not choices:
            t.say(self.say("share_nothing", what=what))
            return
        rows_ = [[Button(render.shorten(label, 40), data)] for label, data in choices]
        paging = []
        if page > 0:
            paging.append(Button(self.say("button_newer"), f"h:l{what[0]}:{page - 1}"))
        if more:
            paging.append(Button(self.say("button_older"), f"h:l{what[0]}:{page + 1}"))
        if paging:
            rows_.append(paging)
        t.say(self.say("share_pick_entry" if what == "entry" else "share_pick_episode"), rows_)

    def episode(self, t: Turn, episode_id: int) -> list[EntryRow]:
        rows = t.tx.entries(t.person.id, limit=20, episode_id=episode_id)
        return sorted(rows, key=lambda e: (e.created_at, e.id))

    def pack_entries(self, t: Turn) -> list[EntryRow]:
        """Everything flagged "Bring to supervision" since the last pack they shared."""
        since = sup_db.last_pack_at(t.tx, t.person.id)
        rows = t.tx.entries(t.person.id, limit=200, flagged=True, flagged_since=since)
        return sorted(rows, key=lambda e: (e.created_at, e.id))

    def section(self, entry: EntryRow) -> str:
        if entry.proctor in PROCTOR:
            return entry.proctor
        flow = self.cat.flows.get(entry.flow)
        return flow.proctor if flow else PROCTOR[0]

    def items(self, t: Turn, entries: list[EntryRow]) -> list[Item]:
        items = []
        for entry in entries:
            flow = self.cat.flows.get(entry.flow)
            answers = t.tx.answers(t.row.cipher, entry.id)
            for key, text in content.collapse(flow, answers).items():
                items.append(Item(entry, key, self.svc._label(flow, key), text))
        return items

    def summary_blocks(
        self,
        t: Turn,
        kind: str,
        items: list[Item],
        left_out: set[int],
        preview: bool,
        name: str,
    ) -> list[str]:
        """The summary as HTML blocks (a heading, then one per entry), from the template in
        prompts/: what the supervisor would receive, or (preview) what the worker checks."""
        macros = self.cat.share_template.module
        numbered = list(enumerate(items, start=1))
        groups: list[tuple[str | None, list[EntryRow]]]
        entries = list({i.entry.id: i.entry for i in items}.values())
        if kind == "pack":
            groups = [
                (self.say(f"proctor_{s}"), [e for e in entries if self.section(e) == s])
                for s in PROCTOR
            ]
        else:
            groups = [(None, entries)]
        blocks = [
            str(
                macros.heading(  # type: ignore[attr-defined]
                    name=name, kind=kind, when=self.svc._when(t, t.now), preview=preview
                )
            )
        ]
        for title, group in groups:
            if title is not None:
                blocks.append(str(macros.section(title=title, empty=not group)))  # type: ignore[attr-defined]
            for entry in group:
                answers = [
                    {"number": n, "label": i.label, "text": i.text, "left_out": n - 1 in left_out}
                    for n, i in numbered
                    if i.entry.id == entry.id and (preview or n - 1 not in left_out)
                ]
                if not answers:
                    continue
                blocks.append(
                    str(
                        macros.entry(  # type: ignore[attr-defined]
                            title=self.svc._title(entry.flow),
                            when=self.svc._when(t, entry.created_at),
                            answers=answers,
                            preview=preview,
                        )
                    )
                )
        return blocks

    def preview(
        self,
        t: Turn,
        kind: str,
        subject: int | None,
        entries: list[EntryRow],
        pdf_only: bool = False,
    ) -> None:
        """The preview, with a button per answer. `pdf_only`: the pack, to be printed rather
        than shared (no supervisor is linked), so it offers only the PDF."""
        link = None if pdf_only else sup_db.supervisor_link(t.tx, t.person.id)
        if link is None and not pdf_only:
            t.say(self.say("share_no_supervisor", pack=0))
            return
        items = self.items(t, entries)
        if not items:
            t.say(self.say("share_nothing", what="entry"))
            return
        t.conv.pending = {
            "kind": "share_preview",
            "what": kind,
            "subject": subject,
            # consent is to this supervisor: another link needs a new preview
            "link": link.id if link else None,
            "entries": [e.id for e in entries],
            "out": [],
            "expiry": 0,
            "pdf_only": pdf_only,
        }
        blocks = self.summary_blocks(t, kind, items, set(), True, t.row.name)
        if pdf_only:
            blocks[0] = self.say("pack_pdf_preview")
        for chunk in render.pack(blocks):
            t.say(chunk)
        t.say(*self.controls(t, items, link))

    def controls(
        self, t: Turn, items: list[Item], link: LinkRow | None
    ) -> tuple[str, list[list[Button]]]:
        pending = t.conv.pending or {}
        left_out = set(pending.get("out", []))
        t.conv.turn += 1
        turn = t.conv.turn
        pending["digest"] = self.digest(t, str(pending.get("what")), items, left_out)
        toggles: list[Button] = []
        if len(items) <= TOGGLE_LIMIT:
            for n in range(len(items)):
                mark = "—" if n in left_out else "✓"
                toggles.append(Button(f"{mark} {n + 1}", f"p:{turn}:t{n}"))
        rows = [toggles[i : i + TOGGLES_PER_ROW] for i in range(0, len(toggles), TOGGLES_PER_ROW)]
        left = [{"number": n + 1, "label": items[n].label} for n in sorted(left_out)]
        if link is None:
            rows.append([Button(self.say("button_pack_pdf"), f"p:{turn}:pdf")])
            rows.append([Button(self.say("button_pack_pdf_close"), f"p:{turn}:keep")])
            return self.say("pack_pdf_controls", left_out=left, toggles=bool(toggles)), rows
        name = self.name(t.tx, link.supervisor_id)
        days = int(pending.get("expiry", 0))
        rows.append([Button(self.say("button_expiry", days=days), f"p:{turn}:x")])
        rows.append([Button(self.say("button_share_with", name=name), f"p:{turn}:send")])
        if pending.get("what") == "pack":
            rows.append([Button(self.say("button_pack_pdf"), f"p:{turn}:pdf")])
        rows.append([Button(self.say("button_keep_private"), f"p:{turn}:keep")])
        text = self.say(
            "share_controls",
            name=name,
            left_out=left,
            days=days,
            toggles=bool(toggles),
            count=len(items),
        )
        return text, rows

    def digest(self, t: Turn, kind: str, items: list[Item], left_out: set[int]) -> str:
        """A fingerprint of exactly what would be sent: the press shares this text or nothing.
        (The heading, with today's date, is left out, so a preview does not go stale.)"""
        blocks = self.summary_blocks(t, kind, items, left_out, False, t.row.name)[1:]
        return hashlib.sha256("\n".join(blocks).encode("utf-8")).hexdigest()

    def preview_entries(self, t: Turn) -> list[EntryRow] | None:
        pending = t.conv.pending or {}
        found = [t.tx.entry(t.person.id, int(i)) for i in pending.get("entries", [])]
        if any(e is None for e in found):
            return None
        return [e for e in found if e is not None]

    def preview_button(self, t: Turn, value: str) -> None:
        pending = t.conv.pending or {}
        pdf_only = bool(pending.get("pdf_only"))
        link = None if pdf_only else sup_db.supervisor_link(t.tx, t.person.id)
        entries = self.preview_entries(t)
        if (link is None and not pdf_only) or entries is None:
            t.conv.pending = None
            t.out.clear_buttons = True
            t.say(self.say("share_changed" if link or pdf_only else "share_no_supervisor", pack=0))
            return
        items = self.items(t, entries)
        left_out = {int(n) for n in pending.get("out", [])}
        if value == "keep":
            t.conv.pending = None
            t.out.replace = Reply(self.say("pack_pdf_closed" if pdf_only else "share_kept_private"))
            return
        if value == "pdf" and pending.get("what") == "pack":
            self.pack_pdf(t, items, left_out)
            return
        if link is None:
            if not (value.startswith("t") and value[1:].isdigit()):
                self.not_found(t)  # a preview for printing has only its toggles and the PDF
                t.out.clear_buttons = False
                return
        elif link.id != pending.get("link"):
            # The preview named someone else (unlinked and linked again since): start afresh.
            t.out.clear_buttons = True
            t.say(self.say("share_changed"))
            self.preview(t, str(pending.get("what")), pending.get("subject"), entries)
            return
        if value.startswith("t") and value[1:].isdigit():
            n = int(value[1:])
            if n < len(items):
                left_out ^= {n}
            pending["out"] = sorted(left_out)
        elif value == "x":
            days = int(pending.get("expiry", 0))
            pending["expiry"] = EXPIRY_DAYS[(EXPIRY_DAYS.index(days) + 1) % len(EXPIRY_DAYS)]
        elif value == "send" and link is not None:
            self.send_share(t, link, items, left_out)
            return
        t.conv.pending = pending
        text, rows = self.controls(t, items, link)
        t.out.replace = Reply(text, rows)

    def send_share(self, t: Turn, link: LinkRow, items: list[Item], left_out: set[int]) -> None:
        pending = t.conv.pending or {}
        kept = [i for n, i in enumerate(items) if n not in left_out]
        if not kept:
            t.out.toast = self.say("share_none_left")
            return
        if self.digest(t, str(pending["what"]), items, left_out) != pending.get("digest"):
            # Something changed since the preview (an answer edited meanwhile): show it again.
            kind, subject = str(pending["what"]), pending.get("subject")
            t.out.clear_buttons = True
            t.say(self.say("share_changed"))
            entries = self.preview_entries(t) or []
            self.preview(t, kind, subject, entries)
            return
        days = int(pending.get("expiry", 0))
        name = self.name(t.tx, link.supervisor_id)
        blocks = self.summary_blocks(t, str(pending["what"]), items, left_out, False, t.row.name)
        body = render.pack(blocks)
        share_id = sup_db.share_create(
            t.tx,
            link,
            str(pending["what"]),
            pending.get("subject"),
            [(i.entry.id, i.key) for i in kept],
            t.now,
            t.now + timedelta(days=days) if days else None,
            t.row.cipher,
            body,
        )
        gate.send(
            t.tx,
            t.out,
            link.supervisor_id,
            [Reply(chunk) for chunk in body],
            gate.Share(share_id),
            t.now,
        )
        t.conv.pending = None
        t.out.replace = Reply(self.say("share_sent", name=name, days=days))

    def pack_pdf(self, t: Turn, items: list[Item], left_out: set[int]) -> None:
        """The pack as previewed, less what was left out, as a PDF for the worker alone: made in
        memory after this transaction and never stored. The preview stays open."""
        pending = t.conv.pending or {}
        kept = [(n, i) for n, i in enumerate(items) if n not in left_out]
        if not kept:
            t.out.toast = self.say("share_none_left")
            return
        if self.digest(t, "pack", items, left_out) != pending.get("digest"):
            t.out.clear_buttons = True
            t.say(self.say("share_changed"))
            pdf_only = bool(pending.get("pdf_only"))
            self.preview(t, "pack", None, self.preview_entries(t) or [], pdf_only=pdf_only)
            return
        t.out.documents.append(pack_pdf.document(t, self, [i for _, i in kept]))
        t.out.toast = self.say("pack_pdf_ready")
        t.out.clear_buttons = False  # the preview stays open: share, or keep it private

    # ---- after sharing: the worker's list, withdrawal, expiry ----------------------------

    def shared(self, t: Turn, page: int, team: bool = False) -> None:
        rows = sup_db.shares_by_worker(t.tx, t.person.id, LIST_PAGE + 1, page * LIST_PAGE)
        more, rows = len(rows) > LIST_PAGE, rows[:LIST_PAGE]
        if not rows:
            if not team:  # team posts (listed already) are something shared too
                t.say(self.say("shared_empty"))
            return
        items = []
        buttons: list[list[Button]] = []
        for number, share in enumerate(rows, start=page * LIST_PAGE + 1):
            live = share.live(t.now)
            items.append(
                {
                    "number": number,
                    "what": self.share_label(t, share),
                    "name": self.name(t.tx, share.supervisor_id),
                    "when": self.svc._when(t, share.created_at),
                    "live": live,
                    "ended": share.ended or ("expired" if not live else None),
                    "until": self.svc._when(t, share.expires_at) if share.expires_at else "",
                }
            )
            if live:
                label = self.say("button_withdraw", number=number)
                buttons.append([Button(label, f"w:{share.id}:ask")])
        buttons += self.paging("d", page, more)
        t.say(self.say("shared_list", items=items), buttons)

    def share_label(self, t: Turn, share: ShareRow) -> str:
        if share.kind == "pack":
            return self.say("button_share_pack", count=len({e for e, _ in share.answers}))
        entry = t.tx.entry(share.worker_id, share.answers[0][0]) if share.answers else None
        title = self.svc._title(entry.flow) if entry else ""
        return title + (" · " + self.say("button_share_episode") if share.kind == "episode" else "")

    def paging(self, kind: str, page: int, more: bool) -> list[list[Button]]:
        row = []
        if page > 0:
            row.append(Button(self.say("button_newer"), f"{kind}:{page - 1}"))
        if more:
            row.append(Button(self.say("button_older"), f"{kind}:{page + 1}"))
        return [row] if row else []

    def withdraw(self, t: Turn, share_id: int, stage: str) -> None:
        share = sup_db.share(t.tx, share_id)
        if share is None or share.worker_id != t.person.id:
            self.not_found(t)
            return
        if not share.live(t.now):
            t.out.clear_buttons = True
            t.out.toast = self.say("already_over")
            return
        name = self.name(t.tx, share.supervisor_id)
        if stage == "ask":
            t.say(
                self.say("withdraw_confirm", name=name, when=self.svc._when(t, share.created_at)),
                [
                    [Button(self.say("button_withdraw_yes"), f"w:{share.id}:yes")],
                    [Button(self.say("button_keep_shared"), f"w:{share.id}:no")],
                ],
            )
            return
        t.out.clear_buttons = True
        if stage != "yes":
            t.out.toast = self.say("kept_toast")
            return
        kept = self.end_share(t.tx, t.out, share, "withdrawn", t.now)
        t.say(self.say("withdrawn", name=name, kept=kept))

    def end_share(self, tx: Unit, out: Outcome, share: ShareRow, event: str, now: datetime) -> int:
        """Withdrawn or expired: a new log row, the text deleted, the supervisor's copies
        deleted where Telegram still allows it, and the supervisor told. Returns how many
        copies were too old to delete."""
        copies = sup_db.share_end(tx, share.id, event, now)
        kept = 0
        for chat_id, message_id, sent_at in copies:
            if now - sent_at < DELETE_WINDOW:
                removal = Reply("", delete_message=message_id)
                gate.send(tx, out, chat_id, [removal], gate.Removal(share.id), now)
            else:
                kept += 1
        self.notice(
            tx,
            out,
            share.link_id,
            share.supervisor_id,
            "share_ended_notice",
            now,
            share.worker_id,
            event=event,
            kept=kept,
            when=share.created_at.strftime("%-d %b"),
        )
        return kept

    def sweep(self, tx: Unit, out: Outcome, now: datetime) -> None:
        for share_id in sup_db.shares_due(tx, now):
            share = sup_db.share(tx, share_id)
            if share is not None:
                self.end_share(tx, out, share, "expired", now)
        sup_db.prune_wrong_codes(tx, now - WRONG_CODE_WINDOW)

    # ---- the supervisor's side -----------------------------------------------------------

    def supervisees(self, t: Turn) -> None:
        links = sup_db.supervisee_links(t.tx, t.person.id)
        if not links:
            t.say(self.say("supervisees_empty"))
            return
        people = []
        buttons = []
        for link in links:
            name = self.name(t.tx, link.worker_id)
            people.append({"name": name, "since": self.svc._when(t, link.created_at)})
            buttons.append([Button(self.say("button_coreflect_with", name=name), f"q:{link.id}")])
        t.say(self.say("supervisees", people=people), buttons)

    def summaries(self, t: Turn, page: int) -> None:
        rows = sup_db.shares_for_supervisor(
            t.tx, t.person.id, t.now, LIST_PAGE + 1, page * LIST_PAGE
        )
        more, rows = len(rows) > LIST_PAGE, rows[:LIST_PAGE]
        if not rows:
            t.say(self.say("summaries_empty", page=page))
            return
        items = [
            {
                "number": number,
                "name": self.name(t.tx, share.worker_id),
                "what": self.share_label(t, share),
                "when": self.svc._when(t, share.created_at),
                "until": self.svc._when(t, share.expires_at) if share.expires_at else "",
            }
            for number, share in enumerate(rows, start=page * LIST_PAGE + 1)
        ]
        numbers = [Button(str(i["number"]), f"m:{s.id}") for i, s in zip(items, rows, strict=True)]
        buttons = [numbers]
        buttons += self.paging("y", page, more)
        t.say(self.say("summaries_list", items=items), buttons)

    def open_summary(self, t: Turn, share_id: int) -> None:
        share = sup_db.share(t.tx, share_id)
        link = sup_db.link(t.tx, share.link_id) if share else None
        cipher = t.tx.cipher_of(share.worker_id) if share else None
        if (
            share is None
            or link is None
            or cipher is None
            or share.supervisor_id != t.person.id
            or not link.active
            or not share.live(t.now)
        ):
            self.not_found(t)
            return
        body = sup_db.share_body(t.tx, cipher, share.id) or []
        gate.send(t.tx, t.out, t.person.id, [Reply(c) for c in body], gate.Share(share.id), t.now)

    # ---- co-reflection -------------------------------------------------------------------

    def links_of(self, t: Turn) -> list[LinkRow]:
        mine = sup_db.supervisor_link(t.tx, t.person.id)
        return ([mine] if mine else []) + sup_db.supervisee_links(t.tx, t.person.id)

    def coreflect(self, t: Turn) -> None:
        links = self.links_of(t)
        if not links:
            t.say(self.say("coreflect_no_link"))
        elif len(links) == 1:
            self.coreflect_on(t, links[0].id)
        else:
            rows = [
                [Button(self.name(t.tx, link.other(t.person.id)), f"q:{link.id}")] for link in links
            ]
            t.say(self.say("coreflect_choose"), rows)

    def coreflect_on(self, t: Turn, link_id: int) -> None:
        link = sup_db.link(t.tx, link_id)
        if link is None or not link.active or not link.has(t.person.id):
            self.not_found(t)
            return
        if t.conv.flow is not None:
            t.say(self.say("coreflect_busy", title=self.svc._flow_of(t).title))
            self.svc._ask(t)
            return
        current = sup_db.open_round(t.tx, link.id)
        other = link.other(t.person.id)
        if current is None:
            round_id = sup_db.round_create(t.tx, link, t.person.id, t.now)
            self.notice(
                t.tx,
                t.out,
                link.id,
                other,
                "round_invite",
                t.now,
                t.person.id,
                [[Button(self.say("button_answer_now"), f"r:{round_id}:join")]],
            )
            self.answer_round(t, round_id)
            return
        self.round_button(t, current.id, "join")

    def answer_round(self, t: Turn, round_id: int) -> None:
        flow = next(f for f in self.cat.flows.values() if f.together)
        self.svc._start_flow(t, flow)
        sup_db.round_part(t.tx, round_id, t.person.id, entry_id=t.conv.entry_id)

    def round_button(self, t: Turn, round_id: int, action: str) -> None:
        found = sup_db.round(t.tx, round_id)
        if found is None or t.person.id not in found.parts:
            self.not_found(t)
            return
        link = sup_db.link(t.tx, found.link_id)
        if found.outcome is not None or link is None or not link.active:
            t.out.clear_buttons = True
            t.say(self.say("round_closed"))
            return
        me = found.parts[t.person.id]
        other = link.other(t.person.id)
        if action == "withdraw":
            sup_db.round_close(t.tx, found.id, "withdrawn", t.now)
            t.out.clear_buttons = True
            self.notice(t.tx, t.out, link.id, other, "round_withdrawn", t.now, t.person.id)
            t.say(self.say("round_withdrawn", name=self.name(t.tx, other), mine=True))
            return
        if action == "join":
            if me.finished:
                t.say(
                    self.say("round_waiting", name=self.name(t.tx, other)),
                    [[Button(self.say("button_withdraw_round"), f"r:{found.id}:withdraw")]],
                )
            elif t.conv.flow is not None:
                t.say(self.say("coreflect_busy", title=self.svc._flow_of(t).title))
                self.svc._ask(t)
            else:
                t.out.clear_buttons = True
                self.answer_round(t, found.id)
            return
        if action not in {"reveal", "keep"} or not all(p.finished for p in found.parts.values()):
            self.not_found(t)
            return
        t.out.clear_buttons = True
        if action == "keep":
            sup_db.round_part(t.tx, found.id, t.person.id, reveal=False)
            sup_db.round_close(t.tx, found.id, "declined", t.now)
            self.notice(t.tx, t.out, link.id, other, "round_declined", t.now, t.person.id)
            t.say(self.say("round_declined", name=self.name(t.tx, other), mine=True))
            return
        sup_db.round_part(t.tx, found.id, t.person.id, reveal=True)
        if found.parts[other].reveal is not True:
            t.say(self.say("round_reveal_waiting", name=self.name(t.tx, other)))
            return
        self.reveal(t.tx, t.out, found.id, link, t.now)

    def completed(self, t: Turn, entry_id: int) -> None:
        """A co-reflection answer set is finished: when both are, ask both about revealing."""
        found = sup_db.round_of_entry(t.tx, entry_id)
        if found is None or found.outcome is not None:
            return
        link = sup_db.link(t.tx, found.link_id)
        if link is None or not link.active:
            return
        sup_db.round_part(t.tx, found.id, t.person.id, finished=t.now)
        other = link.other(t.person.id)
        if not found.parts[other].finished:
            t.say(
                self.say("round_waiting", name=self.name(t.tx, other)),
                [[Button(self.say("button_withdraw_round"), f"r:{found.id}:withdraw")]],
            )
            return
        buttons = [
            [Button(self.say("button_reveal"), f"r:{found.id}:reveal")],
            [Button(self.say("button_keep_mine"), f"r:{found.id}:keep")],
        ]
        self.notice(t.tx, t.out, link.id, other, "round_reveal_ask", t.now, t.person.id, buttons)
        t.say(self.say("round_reveal_ask", name=self.name(t.tx, other)), buttons)

    def reveal(self, tx: Unit, out: Outcome, round_id: int, link: LinkRow, now: datetime) -> None:
        """Both said yes: each receives both answer sets, side by side, then the round closes."""
        found = sup_db.round(tx, round_id)
        assert found is not None
        flow = next(f for f in self.cat.flows.values() if f.together)
        sets: dict[int, dict[str, str]] = {}
        for person_id, part in found.parts.items():
            cipher = tx.cipher_of(person_id)
            entry = tx.entry(person_id, part.entry_id) if part.entry_id else None
            if cipher is None or entry is None:
                # An answer set was deleted meanwhile: nothing is revealed.
                sup_db.round_close(tx, found.id, "withdrawn", now)
                for p in found.parts:
                    self.notice(tx, out, link.id, p, "round_closed", now, p)
                return
            sets[person_id] = content.collapse(flow, tx.answers(cipher, entry.id))
        for viewer in found.parts:
            other = link.other(viewer)
            steps = [
                {
                    "label": step.label,
                    "mine": sets[viewer].get(step.id, ""),
                    "theirs": sets[other].get(step.id, ""),
                }
                for step in flow.steps.values()
            ]
            html = self.say("round_revealed", name=self.name(tx, other), steps=steps)
            replies = [Reply(chunk) for chunk in render.pack([html])]
            gate.send(tx, out, viewer, replies, gate.Reveal(found.id), now)
        sup_db.round_close(tx, found.id, "revealed", now)

    # ---- the journal's side --------------------------------------------------------------

    def before_forget(self, t: Turn) -> None:
        """Erasing everything withdraws every live summary and ends every link, telling the
        other side, before the rows go."""
        for share in sup_db.shares_by_worker(t.tx, t.person.id, 10_000, 0):
            if share.live(t.now):
                self.end_share(t.tx, t.out, share, "withdrawn", t.now)
        self.svc.team.before_forget(t)
        for link in self.links_of(t):
            self.end_link(t.tx, t.out, link, t.person.id, t.now, "forgotten_notice")
