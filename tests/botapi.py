"""Check outgoing Bot API calls against the machine-readable spec in tests/spec.

Telegram rejects malformed calls at run time with terse errors ("can't parse
entities", "BUTTON_DATA_INVALID"); checking every call the bot makes in tests
catches those mistakes before a real person ever sees them.

Limits such as "1-4096 characters after entities parsing" are read from the
field descriptions in the spec, so they follow the spec rather than our memory.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).parent / "spec" / "botapi.min.json"

PARSE_MODES = ("HTML", "MarkdownV2", "Markdown")

# With telegram.ext.Defaults set, PTB sends these to methods that do not take them
# (editMessageReplyMarkup, sendSticker, ...) because its send and edit helpers are
# shared; Telegram ignores unknown parameters, so they are not our mistake.
PTB_DEFAULT_EXTRAS = frozenset({"parse_mode", "disable_notification", "protect_content"})


@dataclass(frozen=True)
class Upload:
    """A file sent as a multipart part, standing in for the spec's InputFile."""

    filename: str
    size: int
    content_type: str = "application/octet-stream"
    content: bytes = dataclasses.field(default=b"", compare=False, repr=False)  # to read back


@functools.cache
def spec() -> dict[str, Any]:
    """The parsed spec, loaded once because it is large."""
    with SPEC_PATH.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def check(method: str, params: Mapping[str, Any]) -> None:
    """Raise AssertionError listing every problem, for use directly in tests."""
    problems = violations(method, params)
    if problems:
        raise AssertionError(f"invalid {method} call:\n  " + "\n  ".join(problems))


def violations(method: str, params: Mapping[str, Any]) -> list[str]:
    """Human-readable problems with one call; an empty list means it looks valid."""
    entry = spec()["methods"].get(method)
    if entry is None:
        return [f"unknown Bot API method {method!r}"]
    fields = entry.get("fields", [])
    known = {f["name"] for f in fields}
    extras = PTB_DEFAULT_EXTRAS - known
    own = {k: v for k, v in params.items() if k not in extras}
    return _check_object(own, fields, method, method) + _upload_problems(method, own)


_PHOTO_BYTES = 10 * 1024 * 1024
_SIZE_RULE = re.compile(r"width and height must not exceed (\d+) in total", re.IGNORECASE)
_RATIO_RULE = re.compile(r"ratio must be at most (\d+)", re.IGNORECASE)


def _upload_problems(method: str, params: Mapping[str, Any]) -> list[str]:
    """An uploaded photo must be an image Telegram accepts: the size and shape rules in the
    photo field's description (at most 10 MB, width + height, ratio), and a real PNG or JPEG."""
    photo = params.get("photo")
    if method != "sendPhoto" or not isinstance(photo, Upload):
        return []
    where = f"{method}.photo"
    description = next(f["description"] for f in _method_fields(method) if f["name"] == "photo")
    problems = []
    if photo.size > _PHOTO_BYTES:
        problems.append(f"{where}: {photo.size} bytes, at most 10 MB allowed")
    body = photo.content
    if body[:8] == b"\x89PNG\r\n\x1a\n" and body[12:16] == b"IHDR":
        width, height = int.from_bytes(body[16:20], "big"), int.from_bytes(body[20:24], "big")
    elif body[:3] == b"\xff\xd8\xff":
        return problems  # JPEG: its size is deep in the file; not sent by us
    else:
        return [*problems, f"{where}: not a PNG or JPEG image"]
    total = _SIZE_RULE.search(description)
    if total and width + height > int(total.group(1)):
        problems.append(f"{where}: {width}x{height}, width + height over {total.group(1)}")
    ratio = _RATIO_RULE.search(description)
    if ratio and max(width, height) > int(ratio.group(1)) * max(1, min(width, height)):
        problems.append(f"{where}: {width}x{height}, ratio over {ratio.group(1)}")
    return problems


def utf16_len(s: str) -> int:
    """Length as Telegram counts it: UTF-16 code units, so emoji count double."""
    return len(s.encode("utf-16-le")) // 2


# --- decoding form values -------------------------------------------------------------------


def decode_params(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Turn wire strings back into the JSON values they encode, guided by the spec.

    Over HTTP every value is a string ("123", "true", '{"inline_keyboard": ...}'),
    so each is decoded only when the decoded value fits a non-String type of that
    field; a text that merely looks like a number stays a string.
    """
    fields = {f["name"]: f["types"] for f in _method_fields(method)}
    return {name: _decode(value, fields.get(name)) for name, value in params.items()}


def _method_fields(method: str) -> list[dict[str, Any]]:
    entry = spec()["methods"].get(method)
    return entry.get("fields", []) if entry else []


def _decode(value: Any, types: list[str] | None) -> Any:
    if not isinstance(value, str):
        return value
    if types is None:  # unknown field: decode only what is plainly JSON structure
        return _loads(value) if value[:1] in ("{", "[") else value
    if types == ["String"]:
        return value
    decoded = _loads(value)
    if decoded is _NOT_JSON or isinstance(decoded, str):
        return value
    if any(_shallow_fits(decoded, t) for t in types if t != "String"):
        return decoded
    return value


_NOT_JSON = object()


def _loads(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return _NOT_JSON


def _shallow_fits(value: Any, type_name: str) -> bool:
    """Whether value has the right JSON kind for type_name, ignoring its contents."""
    if type_name == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_name == "Boolean":
        return isinstance(value, bool)
    if type_name == "String":
        return isinstance(value, str)
    if type_name == "InputFile":
        return isinstance(value, Upload)
    if type_name.startswith("Array of "):
        return isinstance(value, list)
    if type_name == "KeyboardButton" and isinstance(value, str):
        return True  # the spec allows a bare string for a plain text button
    return isinstance(value, dict)


# --- structural checks ----------------------------------------------------------------------

_LIMIT = re.compile(r"(\d+)-(\d+) (characters|bytes)")
_MAX_ITEMS = re.compile(r"[Aa]t most (\d+) [a-z ]+ can be specified|up to (\d+) items")
_ONE_OF = re.compile(r"(Exactly|At most) one of the fields other than (.+?) must be used")
_LOWER_DIGITS_UNDERSCORE = "Can contain only lowercase English letters, digits and underscores"
_COMMAND = re.compile(r"[a-z0-9_]+")


def _check_object(
    obj: dict[str, Any], fields: list[dict[str, Any]], where: str, type_name: str
) -> list[str]:
    problems: list[str] = []
    known = {f["name"]: f for f in fields}
    problems += [f"{where}: unknown field {k!r}" for k in obj if k not in known]
    for name, field in known.items():
        path = f"{where}.{name}"
        if name not in obj:
            if field["required"]:
                problems.append(f"{path}: required field is missing")
            continue
        value = obj[name]
        type_problems = _check_value(value, field["types"], path)
        problems += type_problems
        if not type_problems:
            problems += _check_limits(obj, name, field, path)
    problems += _check_type_rules(obj, type_name, where)
    return problems


def _check_value(value: Any, types: list[str], where: str) -> list[str]:
    """Check value against a union of spec types, reporting the closest match's problems."""
    best: list[str] | None = None
    for type_name in types:
        if not _shallow_fits(value, type_name):
            continue
        problems = _check_one(value, type_name, where)
        if not problems:
            return []
        if best is None or len(problems) < len(best):
            best = problems
    if best is not None:
        return best
    return [f"{where}: expected {' or '.join(types)}, got {type(value).__name__} {value!r:.60}"]


def _check_one(value: Any, type_name: str, where: str) -> list[str]:
    if type_name.startswith("Array of "):
        inner = type_name.removeprefix("Array of ")
        problems: list[str] = []
        for i, item in enumerate(value):
            problems += _check_value(item, [inner], f"{where}[{i}]")
        return problems
    entry = spec()["types"].get(type_name)
    if entry is None or not isinstance(value, dict):
        return []  # a scalar, or a type the spec does not describe
    if "subtypes" in entry:
        return _check_value(value, entry["subtypes"], where)
    return _check_object(value, entry.get("fields", []), where, type_name)


def _check_limits(obj: dict[str, Any], name: str, field: dict[str, Any], where: str) -> list[str]:
    value = obj[name]
    description: str = field["description"]
    problems: list[str] = []
    if name == "parse_mode" or name.endswith("_parse_mode"):
        if value not in PARSE_MODES:
            problems.append(f"{where}: {value!r} is not one of {', '.join(PARSE_MODES)}")
        return problems
    if isinstance(value, list):
        m = _MAX_ITEMS.search(description)
        if m:
            limit = int(m.group(1) or m.group(2))
            if len(value) > limit:
                problems.append(f"{where}: {len(value)} items, at most {limit} allowed")
        return problems
    if not isinstance(value, str):
        return problems
    parse_mode = obj.get(f"{name}_parse_mode")
    if parse_mode is None and name in ("text", "caption", "message_text"):
        parse_mode = obj.get("parse_mode")
    text = value
    if parse_mode == "HTML":
        text, html_problems = parse_html(value)
        problems += [f"{where}: {p}" for p in html_problems]
    elif parse_mode in ("MarkdownV2", "Markdown"):
        return problems  # markup not modelled here, so lengths would mislead
    m = _LIMIT.search(description)
    if m:
        low, high, unit = int(m.group(1)), int(m.group(2)), m.group(3)
        size = len(text.encode("utf-8")) if unit == "bytes" else utf16_len(text)
        after = " after entity parsing" if parse_mode == "HTML" else ""
        if not low <= size <= high:
            problems.append(f"{where}: {size} {unit}{after}, must be {low}-{high}")
        elif low >= 1 and unit == "characters" and not text.strip():
            problems.append(f"{where}: only whitespace{after}, Telegram treats it as empty")
    if _LOWER_DIGITS_UNDERSCORE in description and not _COMMAND.fullmatch(value):
        problems.append(f"{where}: {value!r} may use only lowercase letters, digits and _")
    return problems


def _check_type_rules(obj: dict[str, Any], type_name: str, where: str) -> list[str]:
    """Rules stated in a type's description rather than on its fields."""
    problems: list[str] = []
    entry = spec()["types"].get(type_name, {})
    m = _ONE_OF.search(" ".join(entry.get("description", [])))
    if m:
        exempt = set(re.split(r",\s*(?:and\s+)?|\s+and\s+", m.group(2)))
        used = sorted(k for k in obj if k not in exempt)
        if len(used) > 1 or (m.group(1) == "Exactly" and not used):
            wanted = m.group(1).lower()
            problems.append(f"{where}: {wanted} one action field allowed, got {used or 'none'}")
    if type_name in ("InlineKeyboardButton", "KeyboardButton"):
        text = obj.get("text")
        if isinstance(text, str) and not text.strip():
            problems.append(f"{where}.text: button text is empty")
    return problems


# --- Telegram HTML --------------------------------------------------------------------------

_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler"}
    | {"a", "tg-emoji", "code", "pre", "blockquote"}
)
# Tags whose content Telegram keeps verbatim or which cannot contain one another.
_EXCLUSIVE = frozenset({"a", "code", "pre", "tg-emoji"})
_TAG = re.compile(
    r"<(/?)([a-z][a-z0-9-]*)"
    r"((?:\s+[a-z][a-z-]*(?:=(?:\"[^\"<>]*\"|'[^'<>]*'))?)*)\s*>"
)
_ATTR = re.compile(r"([a-z][a-z-]*)(?:=(?:\"([^\"]*)\"|'([^']*)'))?")
_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8}));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPECIAL = re.compile(r"[<>&]")


def parse_html(s: str) -> tuple[str, list[str]]:
    """Parse Telegram HTML strictly; return the plain text and the problems found.

    Stricter than Telegram on purpose (lowercase tags, quoted attributes only,
    no bare '>'), because it exists to catch our mistakes, not to be lenient.
    """
    out: list[str] = []
    problems: list[str] = []
    stack: list[str] = []
    pos = 0
    while (m := _SPECIAL.search(s, pos)) is not None:
        out.append(s[pos : m.start()])
        i = m.start()
        if s[i] == "&":
            text, pos = _entity(s, i, problems)
            out.append(text)
        elif s[i] == ">":
            problems.append(f"bare '>' at offset {i}; write &gt;")
            out.append(">")
            pos = i + 1
        elif (tag := _TAG.match(s, i)) is None:
            problems.append(f"bare '<' at offset {i} ({s[i : i + 12]!r}); write &lt;")
            out.append("<")
            pos = i + 1
        else:
            closing, name, attrs = tag.groups()
            _tag(closing == "/", name, attrs, stack, problems, i)
            pos = tag.end()
    out.append(s[pos:])
    problems += [f"<{name}> is never closed" for name in stack]
    return "".join(out), problems


def _entity(s: str, i: int, problems: list[str]) -> tuple[str, int]:
    m = _ENTITY.match(s, i)
    if m is None:
        problems.append(f"bare '&' or unsupported entity at offset {i} ({s[i : i + 10]!r})")
        return "&", i + 1
    named, dec, hexa = m.groups()
    if named:
        return _NAMED[named], m.end()
    code = int(dec) if dec else int(hexa, 16)
    if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        problems.append(f"entity {m.group()} is not a valid character")
        return "\ufffd", m.end()
    return chr(code), m.end()


def _tag(
    closing: bool, name: str, raw_attrs: str, stack: list[str], problems: list[str], i: int
) -> None:
    if closing:
        if raw_attrs.strip():
            problems.append(f"closing tag </{name}> has attributes")
        if not stack:
            problems.append(f"unexpected </{name}> at offset {i}")
        elif stack[-1] != name:
            problems.append(f"</{name}> at offset {i} closes <{stack[-1]}>; tags must nest")
            if name in stack:  # recover so one mistake is reported once
                del stack[len(stack) - 1 - stack[::-1].index(name) :]
        else:
            stack.pop()
        return
    if name not in _TAGS:
        problems.append(f"unsupported tag <{name}> at offset {i}")
    attrs: dict[str, str | None] = {}
    for m in _ATTR.finditer(raw_attrs):
        key, dq, sq = m.groups()
        if key in attrs:
            problems.append(f"<{name}> repeats attribute {key!r}")
        value = dq if dq is not None else sq
        if value is not None:
            value, attr_problems = parse_html(value)
            problems += [f"<{name} {key}>: {p}" for p in attr_problems]
        attrs[key] = value
    problems += [f"<{name}> at offset {i}: {p}" for p in _attr_problems(name, attrs, stack)]
    problems += [f"<{name}> at offset {i}: {p}" for p in _nesting_problems(name, stack)]
    stack.append(name)


def _attr_problems(name: str, attrs: dict[str, str | None], stack: list[str]) -> list[str]:
    allowed = {"a": {"href"}, "span": {"class"}, "tg-emoji": {"emoji-id"}}.get(name, set())
    if name == "code":
        allowed = {"class"}
    if name == "blockquote":
        allowed = {"expandable"}
    problems = [f"attribute {k!r} is not allowed" for k in attrs if k not in allowed]
    if name == "a" and not attrs.get("href"):
        problems.append("needs a non-empty href")
    if name == "span" and attrs.get("class") != "tg-spoiler":
        problems.append('only <span class="tg-spoiler"> is supported')
    if name == "tg-emoji" and not (attrs.get("emoji-id") or "").isdigit():
        problems.append("needs a numeric emoji-id")
    if name == "code" and "class" in attrs:
        if not re.fullmatch(r"language-[\w+#.-]+", attrs["class"] or ""):
            problems.append('class must look like "language-python"')
        if not stack or stack[-1] != "pre":
            problems.append("a language is allowed only on <code> directly inside <pre>")
    if name == "blockquote" and attrs.get("expandable") is not None:
        problems.append("expandable takes no value")
    return problems


def _nesting_problems(name: str, stack: list[str]) -> list[str]:
    if "code" in stack:
        return ["nothing may be nested inside <code>"]
    if "pre" in stack:
        ok = name == "code" and stack[-1] == "pre"
        return [] if ok else ["only <code> may be nested inside <pre>"]
    if name in _EXCLUSIVE and _EXCLUSIVE.intersection(stack):
        return [f"cannot be nested inside <{next(t for t in stack if t in _EXCLUSIVE)}>"]
    if name == "blockquote" and "blockquote" in stack:
        return ["blockquotes cannot be nested"]
    return []
