"""Spot details in an answer that could identify the person a worker supports.

Before an answer is saved, the bot checks it with `find()`. If anything turns up it says so
kindly and offers to rewrite the answer or keep it as written. The detectors err towards asking:
a false alarm costs one tap ("keep as written"), a miss puts someone's identity in a journal.
They are only a prompt to think, not a guarantee: the worker remains the judge.

Everything here is pure: stdlib `re`, patterns compiled at import, no I/O. Offsets are Python
`str` offsets (code points), so emoji and right-to-left text around a detail are fine.

What each detector catches, and what it misses:

- **nhs_number**: ten digits, run together or grouped 3-3-4 with spaces or hyphens (the same
  separator both times), passing the NHS modulus-11 check. Ten digits failing the check are not
  an NHS number (they may still be a phone number). Misses other groupings ("9434 765 919") and
  numbers inside a longer run of digits. Ten identical digits pass the check but are taken for a
  placeholder and ignored.
- **phone**: UK mobiles (07…) and landlines (01…, 02…, 03…) in the usual groupings, with spaces
  or hyphens, an area code in brackets ("(0114) 496 0999"), and +44, 0044 or +44 (0) in front.
  The support lines the bot itself mentions (116 123, 85258, 111, 999) do not have the shape of
  a full UK number and are never flagged, nor are 0800/0808 freephone numbers (organisations,
  not people). Misses unusual groupings ("077 009 00123") and numbers from other countries.
- **email**: something@domain.tld. Misses obfuscated addresses ("john at example dot com") and
  Telegram @usernames.
- **postcode**: the standard UK postcode shape (outward code, optional space, a digit and two
  letters, with only the letters the Royal Mail uses in each place), any case. Misses partial
  postcodes ("SW1A" alone, an area rather than a home).
- **date_of_birth**: a date within about 30 characters of a birth cue ("born", "DOB", "D.O.B",
  "date of birth", "birthday"), even without a year ("born 12 March"); or a full date (day,
  month and year: "12/03/1987", "12.03.87", "1987-03-12", "12 March 1987", "March 12, 1987") at
  least ten years before today, so plausible as a birth date. A recent date without a cue is not
  flagged (workers write about recent sessions), and a bare year never is. Numeric dates are
  read day first, or month first if that is the only way they make a date. A two-digit year is
  20xx unless that is more than a year ahead, then 19xx. Without a cue, dates before 1900 are
  history, not births. Misses ages and years on their own.
- **name**: a capitalised word, with an optional second one for a surname and an optional title
  ("Mr", "Dr"…), straight after a cue such as "my client", "the person I support", "the person
  I'm supporting", "service user", "patient", "supportee", "supporting", "working with", "the
  young person", "called", "named" or "her name is", with an optional comma, colon, dash,
  bracket or quote in between. Common capitalised words (I, He, The, Today, weekdays, months,
  Mum…) are not names, nor are the support services ("I called Samaritans"). Misses names
  without such a cue and names written in lower case. Deliberately not flagged: single letters
  ("client J", the usual way to anonymise) and words in capitals ("working with CAMHS", nearly
  always a team or a service).

`find()` returns every finding in order of position, never two overlapping: where detectors
overlap, email beats nhs_number beats phone beats date_of_birth beats postcode beats name.

Speed: a 4,096-character message takes a fraction of a millisecond. Each pattern starts with a
literal or a digit (boundaries are checked just after the first character or in Python) so the
regex engine can skip quickly to the places worth trying; the cue words are looked for in a
lower-cased copy of the text for the same reason.
"""

from __future__ import annotations

import bisect
import datetime
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import mul
from typing import Literal

Kind = Literal["nhs_number", "phone", "email", "postcode", "date_of_birth", "name"]

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    start: int  # character offsets into the text
    end: int


def _scan(
    pattern: re.Pattern[str], text: str, check: Callable[[re.Match[str]], Span | None]
) -> Iterator[Span]:
    """Each span `check` accepts; after a rejected match, look again one character further on."""
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        span = check(m)
        if span is None:
            pos = m.start() + 1
        else:
            yield span
            pos = max(span[1], m.start() + 1)


def _is_word_char(text: str, i: int) -> bool:
    """Whether text[i] exists and is a letter, digit or underscore (like `\\w`)."""
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")


# --- NHS number -------------------------------------------------------------------------------

# `(?<!\d\d)` just after the first digit: that digit does not continue a longer run.
_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_NHS = re.compile(r"\d(?<!\d\d)(?<!\d-\d)\d\d([ -]?)\d{3}\1\d{4}(?!-?\d)", re.ASCII)


def nhs_check_digit_ok(digits: str) -> bool:
    """The NHS modulus-11 check on a string of ten digits."""
    total: int = sum(map(mul, map(int, digits[:9]), _NHS_WEIGHTS))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _nhs_numbers(text: str) -> Iterator[Span]:
    def check(m: re.Match[str]) -> Span | None:
        digits = m[0].replace(" ", "").replace("-", "")
        if len(set(digits)) == 1 or not nhs_check_digit_ok(digits):
            return None
        return m.span()

    return _scan(_NHS, text, check)


# --- phone ------------------------------------------------------------------------------------

_S = "[ -]?"  # between groups of digits
_AREA_END = r"(?(paren)\))"  # the closing bracket, if the area code opened one
_PHONE = re.compile(
    # The trunk prefix. Each alternative starts with a literal character, so the regex engine
    # can skip quickly to the places worth trying; boundaries are checked after that character.
    r"(?:\+(?<![\d+]\+)44 ?(?:\(0\) ?|0)?"
    r"|0(?<!\d0)044 ?(?:\(0\) ?|0)?"
    r"|\((?P<paren>)0"
    r"|0(?<![\d+]0))"
    # The number after the trunk 0, by the groupings in common use; ten digits before nine.
    r"(?:"
    rf"7\d{{3}}{_AREA_END}{_S}\d{{3}}{_S}\d{{3}}"  # 07700 900123, 07700 900 123
    rf"|7\d\d{_AREA_END}{_S}\d{{3}}{_S}\d{{4}}"  # 0770 090 0123
    rf"|2\d{_AREA_END}{_S}\d{{4}}{_S}\d{{4}}"  # 020 7946 0958, 020 79460958
    rf"|2\d\d{_AREA_END}{_S}\d{{3}}{_S}\d{{4}}"  # 0207 946 0958
    rf"|1\d\d{_AREA_END}{_S}\d{{3}}{_S}\d{{4}}"  # 0161 496 0000, (0114) 496 0999
    rf"|1\d{{3}}{_AREA_END}{_S}\d{{3}}{_S}\d{{3}}"  # 01632 960123, 01632 960 123
    rf"|1\d{{4}}{_AREA_END}{_S}\d{{5}}"  # 013873 12345
    rf"|3\d\d{_AREA_END}{_S}\d{{3}}{_S}\d{{4}}"  # 0300 123 4567
    rf"|1\d{{3}}{_AREA_END}{_S}\d{{5}}"  # 01632 96012 (nine digits after the 0)
    rf"|1\d{{4}}{_AREA_END}{_S}\d{{4}}"  # 016977 1234
    r")(?!-?\d)",
    re.ASCII,
)


def _phones(text: str) -> Iterator[Span]:
    return (m.span() for m in _PHONE.finditer(text))


# --- email ------------------------------------------------------------------------------------

_EMAIL_DOMAIN = re.compile(r"@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
_LOCAL_PUNCTUATION = "._%+-"


def _emails(text: str) -> Iterator[Span]:
    for m in _EMAIL_DOMAIN.finditer(text):
        start = m.start()
        while start > 0 and (
            _is_word_char(text, start - 1) or text[start - 1] in _LOCAL_PUNCTUATION
        ):
            start -= 1
        while start < m.start() and text[start] == ".":
            start += 1
        if start < m.start():
            yield start, m.end()


# --- postcode ---------------------------------------------------------------------------------

# Found from the inward code ("1AA": a digit and two of the letters used there), which is rare
# in ordinary text, then the outward code before it is checked. Matched in lower-cased text.
_INWARD = re.compile(r"\d[abd-hjlnp-uw-z]{2}(?!\w)", re.ASCII)
_OUTWARD = re.compile(
    r"[a-pr-uwyz]\d\d?|[a-pr-uwyz][a-hk-y]\d\d?|[a-pr-uwyz]\d[a-hjkpstuw]"
    r"|[a-pr-uwyz][a-hk-y]\d[abehmnprv-y]",
    re.ASCII,
)


def _postcodes(text: str, lowered: str) -> Iterator[Span]:
    for m in _INWARD.finditer(lowered):
        outward_end = m.start() - 1 if lowered[m.start() - 1 : m.start()] == " " else m.start()
        for length in (2, 3, 4):
            start = outward_end - length
            if (
                start >= 0
                and not _is_word_char(text, start - 1)
                and _OUTWARD.fullmatch(lowered, start, outward_end)
            ):
                yield start, m.end()
                break


# --- date of birth ----------------------------------------------------------------------------

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
# A month's name, in lower-cased text.
_MONTH = re.compile(
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
# Around a month's name: "12th of March", "March 12th", then a year: "12 March 1987".
_DAY_BEFORE = re.compile(r"(?<!\w)(?P<day>\d\d?)(?:st|nd|rd|th)?(?:\s+of)?[\s-]+\Z")
_DAY_AFTER = re.compile(r"\s+(?P<day>\d\d?)(?:st|nd|rd|th)?(?!\w)")
_YEAR_AFTER = re.compile(r",?[\s-]+(?P<year>\d{4})(?!\d)", re.ASCII)
# 1987-03-12, 12/03/1987, 12.03.87, and 12/03 if there is a birth cue in the text. Which one
# it is, and whether it is a date at all, is sorted out in Python. Not part of a longer chain
# of numbers such as "1.2.3.4" or "10/10/10/10".
_DAY_MONTH = r"(?P<a>\d(?<!\d\d)(?<!\d[-/.]\d)\d{0,3})(?P<sep>[-/.])(?P<b>\d\d?)"
_THEN_YEAR = r"(?:(?P=sep)(?P<c>\d{1,4}))"
_NOT_LONGER = r"(?!\d|[-/.]\d)"
_NUMERIC_DATE = re.compile(_DAY_MONTH + _THEN_YEAR + _NOT_LONGER, re.ASCII)
_NUMERIC_DATE_OR_DAY = re.compile(_DAY_MONTH + _THEN_YEAR + "?" + _NOT_LONGER, re.ASCII)
# In lower-cased text; that a cue is a word of its own is checked in Python.
_BIRTH_CUE = re.compile(r"born|dob|d\.o\.b|date\s+of\s+birth|birth\s?date|birthdays?|b-?day")
_CUE_WINDOW = 30
_EARLIEST_YEAR = 1900


def _real_date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _ten_years_before(today: datetime.date) -> datetime.date:
    try:
        return today.replace(year=today.year - 10)
    except ValueError:  # 29 February
        return today.replace(year=today.year - 10, day=28)


def _dates_of_birth(text: str, lowered: str, today: datetime.date) -> Iterator[Span]:
    cutoff = _ten_years_before(today)
    cues = [
        m
        for m in _BIRTH_CUE.finditer(lowered)
        if not _is_word_char(text, m.start() - 1) and not _is_word_char(text, m.end())
    ]
    cue_starts = [m.start() for m in cues]  # both in order: the cues never overlap
    cue_ends = [m.end() for m in cues]

    def plausible(start: int, end: int, year: int | None, month: int, day: int) -> bool:
        before = bisect.bisect_right(cue_ends, start) - 1  # the last cue ending by `start`
        after = bisect.bisect_left(cue_starts, end)  # the first cue starting from `end`
        near_cue = (before >= 0 and cue_ends[before] > start - _CUE_WINDOW) or (
            after < len(cue_starts) and cue_starts[after] < end + _CUE_WINDOW
        )
        if year is None:  # a day and a month: a birthday only if the text says so
            return near_cue and _real_date(2000, month, day) is not None
        date = _real_date(year, month, day)
        if date is None:
            return False
        return near_cue or (date.year >= _EARLIEST_YEAR and date <= cutoff)

    def numeric(m: re.Match[str]) -> Span | None:
        a, b, c = m["a"], m["b"], m["c"]
        if len(a) == 4:  # 1987-03-12
            if c is None or len(c) > 2:
                return None
            year: int | None = int(a)
            month, day = int(b), int(c)
        elif len(a) > 2:
            return None
        elif c is None:  # 12/03, but not 12-03 or 12.03 (scores, times, decimals)
            if m["sep"] != "/" or text[m.end() : m.end() + 1] in ("/", ".", "-"):
                return None
            year, month, day = None, int(b), int(a)
        elif len(c) in (2, 4):
            year, month, day = int(c), int(b), int(a)
            if len(c) == 2:
                year += 2000 if 2000 + year <= today.year + 1 else 1900
            if _real_date(year, month, day) is None:
                day, month = month, day  # 03/25/1987: month first
        else:
            return None
        return m.span() if plausible(*m.span(), year, month, day) else None

    yield from _scan(_NUMERIC_DATE_OR_DAY if cues else _NUMERIC_DATE, text, numeric)

    for m in _MONTH.finditer(lowered):
        if _is_word_char(text, m.start() - 1):
            continue
        month = _MONTHS[m[0][:3]]
        before = _DAY_BEFORE.search(lowered, max(0, m.start() - 20), m.start())
        if before is not None:
            start, day_end, day = before.start(), m.end(), int(before["day"])
        elif (after := _DAY_AFTER.match(lowered, m.end())) is not None:
            start, day_end, day = m.start(), after.end(), int(after["day"])
        else:
            continue
        year_match = _YEAR_AFTER.match(lowered, day_end)
        if year_match is not None:
            end, year = year_match.end(), int(year_match["year"])
        else:
            end, year = day_end, None
            if before is not None and lowered[end - 1] == ".":
                end -= 1  # "born on 12 March." ends with the sentence, not the date
        if plausible(start, end, year, month, day):
            yield start, end


# --- name after a cue -------------------------------------------------------------------------

_AFTER_I = r"(?:['’]m|['’]ve|['’]re| am| are| have| had| was| were)?"
_VERB = r"(?:support(?:s|ed|ing)?|work(?:s|ed|ing)? with|see(?:ing)?|saw|met|visit(?:s|ed|ing)?)"
_CLAUSE = rf" (?:(?:that|who|whom) )?(?:i|we){_AFTER_I} (?:been )?{_VERB}"
_PEOPLE = ("person", "people", "man", "woman", "lady", "gentleman", "lad", "girl", "boy")
# Matched in lower-cased text; every alternative starts with a literal, for speed.
_NAME_CUE = re.compile(
    r"(?:clients?|supportees?|service[ -]users?|patients?|young (?:person|people)"
    + "".join(f"|{noun}{_CLAUSE}" for noun in _PEOPLE)
    + r"|supporting|supported|work(?:s|ed|ing)? with|met with|called|named|known as|goes by"
    r"|name(?:['’]s| is| was))"
)
_WORD = r"[^\W\d_]+(?:['’\-][^\W\d_]+)*"
# What follows a cue, in the original text: a separator, maybe a title, one or two words.
_NAME = re.compile(
    r"(?:[ \t]*[,:;\-–—][ \t]*|\s+)(?:[(\"'“‘][ \t]*)?"
    r"(?P<title>(?:mr|mrs|ms|miss|mx|dr)\b\.?[ \t]+)?"
    rf"(?P<w1>{_WORD})(?:[ \t]+(?P<w2>{_WORD}))?",
    re.IGNORECASE,
)
_CONTRACTIONS = frozenset({"s", "m", "ve", "d", "ll", "re", "t"})
_NOT_NAME_WORDS = """
    i me my mine myself we us our ours you your yours he him his she her hers they them their
    theirs it its this that these those there here the a an and but or so if then than as at in
    on of to for from by with about after before because when while where what which who whom
    whose why how not no yes ok okay oh well also just still even only all some any each every
    both many much more most other another such one two three first last next today yesterday
    tomorrow tonight now later soon again always never sometimes often usually maybe perhaps
    really actually anyway however although though since until during let lets please thanks
    thank hello hi dear sorry
    monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december
    mr mrs ms miss mx dr sir madam mum mom dad mummy daddy mother father nan nana gran grandma
    grandad grandpa
    samaritans shout mind childline papyrus calm
"""
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())


def _name_length(word: str) -> tuple[int, bool] | None:
    """How much of `word` is a name and whether a suffix ('s, 'll…) was cut; None if no name."""
    plain = word.replace("’", "'")
    if plain.lower().endswith("n't"):
        return None
    base, apostrophe, suffix = plain.rpartition("'")
    trimmed = bool(apostrophe) and suffix.lower() in _CONTRACTIONS
    if not trimmed:
        base = plain
    if len(base) < 2 or not base[0].isupper() or base.isupper() or base.lower() in _NOT_NAMES:
        return None
    return len(base), trimmed


def _names(text: str, lowered: str) -> Iterator[Span]:
    def check(cue: re.Match[str]) -> Span | None:
        if _is_word_char(text, cue.start() - 1):
            return None
        m = _NAME.match(text, cue.end())
        if m is None:
            return None
        first = _name_length(m["w1"])
        title = m["title"]
        if first is None or (title and not title[0].isupper()):
            return None
        length, trimmed = first
        end = m.start("w1") + length
        if m["w2"] and not trimmed:
            second = _name_length(m["w2"])
            if second is not None:
                end = m.start("w2") + second[0]
        return (m.start("title") if title else m.start("w1")), end

    return _scan(_NAME_CUE, lowered, check)


# --- putting them together --------------------------------------------------------------------

_DIGIT = re.compile(r"\d", re.ASCII)
_PRIORITY: dict[Kind, int] = {
    "email": 0,
    "nhs_number": 1,
    "phone": 2,
    "date_of_birth": 3,
    "postcode": 4,
    "name": 5,
}


def _lower_same_length(text: str) -> str:
    """`text.lower()`, keeping offsets: a character whose lower case is longer stays as it is."""
    lowered = text.lower()
    if len(lowered) != len(text):  # "İ" (dotted capital I) lower-cases to two characters
        lowered = text.replace("\u0130", "i").lower()
    if len(lowered) != len(text):  # another such character, in a later version of Unicode
        lowered = "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)
    return lowered


def find(text: str, *, today: datetime.date | None = None) -> list[Finding]:
    """Every likely identifying detail, in order of position, non-overlapping."""
    if not text:
        return []
    lowered = _lower_same_length(text)
    candidates: list[Finding] = []

    def add(kind: Kind, spans: Iterator[Span]) -> None:
        candidates.extend(Finding(kind, start, end) for start, end in spans)

    if "@" in text:
        add("email", _emails(text))
    if _DIGIT.search(text):
        add("nhs_number", _nhs_numbers(text))
        add("phone", _phones(text))
        add("date_of_birth", _dates_of_birth(text, lowered, today or datetime.date.today()))
        add("postcode", _postcodes(text, lowered))
    add("name", _names(text, lowered))

    kept: list[Finding] = []  # in order of position, never overlapping
    starts: list[int] = []
    for f in sorted(candidates, key=lambda f: (_PRIORITY[f.kind], f.start)):
        i = bisect.bisect_left(starts, f.start)
        if (i > 0 and kept[i - 1].end > f.start) or (i < len(kept) and kept[i].start < f.end):
            continue
        kept.insert(i, f)
        starts.insert(i, f.start)
    return kept


def kinds(text: str) -> list[Kind]:
    """The distinct kinds found, in order of first appearance (for a message like 'a phone
    number and a name')."""
    seen: list[Kind] = []
    for f in find(text):
        if f.kind not in seen:
            seen.append(f.kind)
    return seen
