"""A per-person storage allowance an organisation can set (COREFLECT_STORAGE_MB; a feature says
how much with `Feature.storage_bytes`). What counts: a person's answers (every entry, notes and
plans included) and voice notes, as sealed on disk, kept as a running total by the database
(migrations/019_fair_shares.sql), so each check is one lookup.

The rule, for a tired person mid-question-set (an allowance that threw typed words away would be
worse than none):
- Typed words are always kept up to the allowance and a headroom past it (a tenth more), so a
  question set under way can be finished; past the headroom, which only a flood of text reaches,
  nothing typed is kept (commands and buttons still work, so /export and deleting do) and they
  are told so, still on the question they were on. An edit of a message already kept is not
  checked: it replaces words already counted.
- A voice note that would take them past the allowance is not kept, nothing of it; they are told
  why, and can type instead.
- Once past 80%, one kind line says so and what to do (/export, then delete older entries); at
  the allowance, one more. Each is said once, and again only after dropping below 80%.
"""

from __future__ import annotations

from flows.kernel.crypto import NONCE_BYTES
from flows.kernel.model import Voice
from flows.kernel.turn import Turn, msg

MB = 1_000_000
SEALED_EXTRA = NONCE_BYTES + 16  # a nonce and an authentication tag on each sealed value
WARN_AT = 0.8  # of the allowance: the kind line
HEADROOM = 0.1  # typed words are kept this far past the allowance
NOTHING, NEARLY, FULL = 0, 1, 2  # storage_used.told


def allowance(t: Turn) -> int | None:
    """The most this person may store, in bytes (None: no allowance)."""
    limits: list[int] = t.desk.hooks("storage_bytes")
    return min(limits) if limits else None


def used(t: Turn) -> tuple[int, int]:
    """(bytes stored, what they have been told: NOTHING, NEARLY or FULL)."""
    row = t.tx.one("SELECT bytes, told FROM storage_used WHERE person_id = ?", (t.person.id,))
    return (int(row[0]), int(row[1])) if row else (0, NOTHING)


def size(n: int) -> str:
    """Bytes as people read them: "1.5 MB", "160 MB"."""
    mb = n / MB
    return f"{mb:.1f}".removesuffix(".0") + " MB" if mb < 10 else f"{mb:.0f} MB"


def voice_fits(t: Turn, voice: Voice) -> bool:
    """May this recording be kept? If not, they are told (and shown their question again)."""
    limit = allowance(t)
    if limit is None:
        return True
    stored, _ = used(t)
    if stored + voice.size + SEALED_EXTRA <= limit:
        return True
    t.say(msg("storage_voice_refused", used=size(stored), allowance=size(limit)))
    t.resume()
    return False


def typed_fits(t: Turn, text: str) -> bool:
    """May these typed words be kept (within the allowance and its headroom)? If not, they
    are told, and stay on the question they were on."""
    limit = allowance(t)
    if limit is None:
        return True
    stored, _ = used(t)
    if stored + len(text.encode("utf-8")) + SEALED_EXTRA <= limit * (1 + HEADROOM):
        return True
    t.say(msg("storage_typed_refused", used=size(stored), allowance=size(limit)))
    t.resume()
    return False


def notice(t: Turn) -> None:
    """At the end of a turn: the one kind line on passing 80% (or the allowance), once."""
    limit = allowance(t)
    if limit is None:
        return
    stored, told = used(t)
    now = FULL if stored >= limit else NEARLY if stored >= limit * WARN_AT else NOTHING
    if now == told or (now != NOTHING and now < told):
        return
    t.tx.conn.execute("UPDATE storage_used SET told = ? WHERE person_id = ?", (now, t.person.id))
    if now != NOTHING:
        key = "storage_full" if now == FULL else "storage_nearly_full"
        t.say(msg(key, used=size(stored), allowance=size(limit)))
