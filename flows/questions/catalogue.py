"""Question sets as data: load `prompts/*.yaml`, validate them, build one state machine each.

Everything here is pure and runs once at start-up. A broken question set raises `PromptError`
naming the file and the step, so it stops start-up instead of failing a person mid-chat.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, Template, TemplateSyntaxError

from flows.kernel import export, render
from flows.questions.sets import END as END  # re-exported: the loader's API
from flows.questions.sets import PROCTOR, Choice, Flow, Step
from flows.questions.sets import PromptError as PromptError

CALLBACK_LIMIT = 64
# Buttons carry the conversation's turn number; leave room for a very long-lived conversation.
_LONGEST_TURN = "9" * 12
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
BUTTON_LABEL_LIMIT = 24


# libyaml's safe loader when PyYAML has it (about ten times quicker: every start-up, and every
# test's, reads all of prompts/), else the pure-Python one. Both construct only plain data.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


SUPPORT_FILE = "support.yaml"
EXPORT_TEMPLATE = "export.md.j2"
SHARE_TEMPLATE = "share_summary.html.j2"


@dataclass(frozen=True, slots=True)
class Support:
    """Where a worker can find support for their own wellbeing, and when to offer it.

    Two tiers of phrases: words about wanting to die, ending it, suicide or self-harm (`acute`)
    get the urgent lines in the reply itself; other distressed-sounding words (`distress`) get
    one gentle line pointing to /support."""

    lines: tuple[str, ...]  # Telegram HTML, trusted (written by us or the organisation)
    organisation: tuple[str, ...]
    distress: re.Pattern[str] | None
    acute: re.Pattern[str] | None = None
    urgent_lines: tuple[str, ...] = ()  # carried in the reply to acute words

    def concern(self, text: str) -> int:
        """0: nothing heard; 1: distressed-sounding (the gentle line); 2: acute (urgent lines)."""
        folded = " ".join(text.lower().replace("\u2019", "'").split())
        if self.acute and self.acute.search(folded):
            return 2
        return 1 if self.distress and self.distress.search(folded) else 0


def _phrases(found: tuple[str, ...]) -> re.Pattern[str] | None:
    """Whole words or phrases, ignoring case and spacing, the longest tried first."""
    phrases = sorted({" ".join(p.lower().split()) for p in found}, key=len)
    if not phrases:
        return None
    return re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(p) for p in reversed(phrases)) + r")(?!\w)"
    )


def _support(path: Traversable, where: str, override: Path | None) -> Support:
    data = _read_yaml(path, where)
    if override is not None:
        try:
            extra = yaml.load(override.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
        except (OSError, yaml.YAMLError) as exc:
            raise PromptError(f"{override}: cannot be read as YAML: {exc}") from exc
        if not isinstance(extra, dict):
            raise PromptError(f"{override}: expected a mapping at the top level")
        data = {**data, **extra}
    lists = {}
    for key in ("lines", "organisation", "distress_phrases", "acute_phrases", "urgent_lines"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PromptError(f"{where}: '{key}' must be a list of text lines")
        lists[key] = tuple(v.strip() for v in value if v.strip())
    if not lists["lines"]:
        raise PromptError(f"{where}: 'lines' must name at least one place to find support")
    return Support(
        lists["lines"],
        lists["organisation"],
        _phrases(lists["distress_phrases"]),
        _phrases(lists["acute_phrases"]),
        lists["urgent_lines"] or lists["lines"],
    )


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every question set and message template, validated."""

    flows: dict[str, Flow]
    messages: dict[str, Template]
    timezones: tuple[str, ...]
    commands: dict[str, str]  # built-in command → menu description
    support: Support
    export_template: Template  # Markdown (not HTML): rendered without autoescaping
    share_template: Template  # the consented summary: macros heading, section and entry
    code: str = "en-GB"  # the locale: the shipped prompts/ folder is en-GB
    locales: dict[str, Catalogue] = field(default_factory=dict)  # the default's, by lower code

    def for_language(self, language_code: str | None) -> Catalogue:
        """The best locale for a Telegram language_code: exact, then its language, else this."""
        wanted = (language_code or "").strip().lower().replace("_", "-")
        if not wanted or not self.locales:
            return self
        found = self.locales.get(wanted) or self.locales.get(wanted.split("-", 1)[0])
        return found or self

    def by_command(self, command: str) -> Flow | None:
        return next((f for f in self.flows.values() if f.command == command), None)

    def say(self, message: str, /, **context: Any) -> str:
        return render.tidy(self.messages[message].render(**context))


LOCALES = "locales"  # prompts/locales/<code>/: a language, overlaying the default
DEFAULT_LOCALE = "en-GB"  # the shipped prompts/ folder itself
_LOCALE_CODE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$", re.IGNORECASE)
MESSAGES_FILE = "messages.yaml"


def load(
    folder: Traversable | None = None,
    support_override: Path | None = None,
    overlay: Path | None = None,
) -> Catalogue:
    """Load and validate everything under `prompts/` (the installed package's by default), and
    every locale, once.

    `overlay` is an organisation's own folder (COREFLECT_PROMPTS_DIR): a file with a shipped
    file's name replaces it, a new name adds to it (`messages.yaml` alone is merged message by
    message). A locale is a folder `locales/<code>/`, in either place, overlaying the default
    the same way; its question sets must keep the default's shape (names, commands, step ids,
    choice values), so an entry written in one language reads in another.
    `support_override` is an organisation's own support file (COREFLECT_SUPPORT_FILE): the keys
    it has replace the shipped ones.

    Every message the shipped `messages.yaml` holds must be there (the code uses each of them:
    tests/test_message_keys.py checks both ways), so a replacement folder cannot miss one.
    """
    required_messages = shipped_message_keys()
    root = folder if folder is not None else resources.files("prompts")
    layers: list[tuple[Traversable, str]] = [(root, "")]
    if overlay is not None:
        if not overlay.is_dir():
            raise PromptError(f"{overlay}: COREFLECT_PROMPTS_DIR is not a folder")
        layers.append((overlay, f"{overlay}/"))
    default = _load_layers(required_messages, layers, support_override, DEFAULT_LOCALE)
    for code, extra in _locale_layers(layers).items():
        translated = _load_layers(required_messages, layers + extra, support_override, code)
        _check_same_shape(default, translated, code)
        default.locales[code.lower()] = translated
    return default


@functools.cache
def shipped_message_keys() -> frozenset[str]:
    """The names of the messages shipped in prompts/messages.yaml."""
    data = _read_yaml(resources.files("prompts").joinpath(MESSAGES_FILE), MESSAGES_FILE)
    return frozenset(data.get("messages", {}))


def _locale_layers(
    layers: list[tuple[Traversable, str]],
) -> dict[str, list[tuple[Traversable, str]]]:
    """Every locale folder, by code, in layer order (shipped first, the organisation's after)."""
    found: dict[str, list[tuple[Traversable, str]]] = {}
    names: dict[str, str] = {}
    for layer, prefix in layers:
        folder = layer.joinpath(LOCALES)
        if not folder.is_dir():
            continue
        for sub in sorted(folder.iterdir(), key=lambda p: p.name):
            if not sub.is_dir():
                continue
            where = f"{prefix}{LOCALES}/{sub.name}"
            if not _LOCALE_CODE.match(sub.name):
                raise PromptError(f"{where}: not a language code (like cy, en-US or pt-BR)")
            if sub.name.lower() == DEFAULT_LOCALE.lower():
                raise PromptError(f"{where}: {DEFAULT_LOCALE} is the prompts folder itself")
            code = names.setdefault(sub.name.lower(), sub.name)
            found.setdefault(code, []).append((sub, f"{where}/"))
    return found


def _load_layers(
    required_messages: frozenset[str],
    layers: list[tuple[Traversable, str]],
    support_override: Path | None,
    code: str,
) -> Catalogue:
    """One locale's catalogue from the files of every layer, a later layer's file replacing.

    Errors name a shipped file by its name and an overlaid one by its path."""
    files: dict[str, tuple[Traversable, str]] = {}
    message_files: list[tuple[Traversable, str]] = []
    for layer, prefix in layers:
        for path in sorted(layer.iterdir(), key=lambda p: p.name):
            if not path.is_file():
                continue
            if prefix and path.name.endswith(".yml"):
                raise PromptError(f"{prefix}{path.name}: question sets are read from .yaml files")
            files[path.name] = (path, prefix + path.name)
            if path.name == MESSAGES_FILE:
                message_files.append(files[path.name])
    try:
        return _catalogue(required_messages, files, message_files, support_override, code)
    except PromptError as exc:
        named = any(p and str(exc).startswith(p) for _, p in layers)
        if code != DEFAULT_LOCALE and not named:
            raise PromptError(f"{LOCALES}/{code}: {exc}") from exc
        raise


def _catalogue(
    required_messages: frozenset[str],
    files: dict[str, tuple[Traversable, str]],
    message_files: list[tuple[Traversable, str]],
    support_override: Path | None,
    code: str,
) -> Catalogue:
    def need(name: str) -> tuple[Traversable, str]:
        if name not in files:
            raise PromptError(f"{name}: the file is missing")
        return files[name]

    support = _support(*need(SUPPORT_FILE), support_override)
    env = render.environment()
    flows: dict[str, Flow] = {}
    messages: dict[str, Template] = {}
    timezones: tuple[str, ...] = ()
    commands: dict[str, str] = {}
    messages_data: dict[str, Any] = {}
    for layer_file, where in message_files:
        # Each layer's messages are checked under its own name, then merged over the last.
        data = _read_yaml(layer_file, where)
        messages.update(_messages(env, where, data))
        commands.update({str(k): str(v) for k, v in (data.get("commands") or {}).items()})
        if data.get("timezones"):
            timezones = tuple(str(z) for z in data["timezones"])
        if data.get("flow_order"):
            messages_data["flow_order"] = data["flow_order"]
    for name in sorted(files):
        if not name.endswith(".yaml") or name in {SUPPORT_FILE, MESSAGES_FILE}:
            continue
        path, where = files[name]
        data = _read_yaml(path, where)
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise PromptError(f"{where}: 'enabled' must be true or false")
        if not enabled:
            continue  # an organisation switched this question set off (`enabled: false`)
        try:
            flow = _flow(env, name, data)
        except PromptError as exc:
            raise PromptError(_renamed(exc, name, where)) from exc
        flow.source = where
        flows[flow.name] = flow
    missing = sorted(required_messages - messages.keys())
    if missing:
        raise PromptError(f"{MESSAGES_FILE}: missing message(s): {', '.join(missing)}")
    _check_across(flows)
    order = [str(name) for name in messages_data.get("flow_order", [])]
    flows = dict(
        sorted(flows.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    )
    for flow in flows.values():
        _trial_render(flow)
        flow.build_machine()
    export_file, export_where = need(EXPORT_TEMPLATE)
    export_source = export_file.read_text(encoding="utf-8")
    try:
        export_template = export.markdown_environment().from_string(export_source)
    except TemplateSyntaxError as exc:
        raise PromptError(f"{export_where}: does not compile: {exc.message}") from exc
    together = [f.source for f in flows.values() if f.together]
    if len(together) > 1:
        raise PromptError(f"{together[1]}: only one question set can be 'together: true'")
    share_file, share_where = need(SHARE_TEMPLATE)
    try:
        share_template = _share_template(env, share_file)
    except PromptError as exc:
        raise PromptError(_renamed(exc, SHARE_TEMPLATE, share_where)) from exc
    return Catalogue(
        flows,
        messages,
        timezones or ("Europe/London",),
        commands,
        support,
        export_template,
        share_template,
        code=code,
    )


def _renamed(exc: PromptError, name: str, where: str) -> str:
    text = str(exc)
    return where + text[len(name) :] if text.startswith(name) else text


def _check_same_shape(default: Catalogue, other: Catalogue, code: str) -> None:
    """A locale translates the question sets; it must not change what the answers mean."""
    where = f"{LOCALES}/{code}"
    if set(other.flows) != set(default.flows):
        extra = sorted(set(other.flows) ^ set(default.flows))
        raise PromptError(f"{where}: has different question sets from the default: {extra}")
    for name, flow in other.flows.items():
        base = default.flows[name]
        if flow.command != base.command:
            raise PromptError(f"{flow.source}: the command must stay /{base.command}")
        if list(flow.steps) != list(base.steps):
            raise PromptError(f"{flow.source}: the steps must be the default's: {list(base.steps)}")
        for step in flow.steps.values():
            if [c.value for c in step.choices] != [c.value for c in base.steps[step.id].choices]:
                raise PromptError(
                    f"{flow.source}: step '{step.id}': the choice values must be the default's"
                )


def _share_template(env: Environment, path: Traversable) -> Template:
    """Load the summary template and try each of its macros once with awkward sample text."""
    template = _compile(env, SHARE_TEMPLATE, path.read_text("utf-8"))
    module = template.module
    answer = {
        "number": 1,
        "label": "A question",
        "text": "<b>&</b> 🌱",
        "left_out": True,
        "private": True,
    }
    trials = {
        "heading": {"name": "Alex", "kind": "pack", "when": "Mon 1 Dec", "preview": True},
        "section": {"title": "Learning and development", "empty": True},
        "entry": {"title": "Reflection", "when": "Mon 1 Dec", "answers": [answer], "preview": True},
    }
    for macro, context in trials.items():
        if not callable(getattr(module, macro, None)):
            raise PromptError(f"{SHARE_TEMPLATE}: the macro '{macro}' is missing")
        try:
            text = str(getattr(module, macro)(**context))
        except Exception as exc:  # any template error is the file's fault, reported by name
            raise PromptError(f"{SHARE_TEMPLATE}: macro '{macro}' does not render: {exc}") from exc
        if not render.to_plain(text).strip():
            raise PromptError(f"{SHARE_TEMPLATE}: macro '{macro}' renders as empty text")
    return template


def _read_yaml(path: Traversable, where: str | None = None) -> dict[str, Any]:
    where = where or path.name
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PromptError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PromptError(f"{where}: expected a mapping at the top level")
    return data


# Compiled template code, by source and the settings that shape compiled code: a template
# compiled once (at start-up, or in an earlier test) is not compiled again.
_COMPILED: dict[tuple[str, tuple[Any, ...]], Any] = {}


def _compile(env: Environment, where: str, source: Any) -> Template:
    if not isinstance(source, str) or not source.strip():
        raise PromptError(f"{where}: template is missing or empty")
    try:
        settings = (
            env.autoescape,
            env.trim_blocks,
            env.lstrip_blocks,
            env.keep_trailing_newline,
            env.undefined,
        )
        code = _COMPILED.get((source, settings))
        if code is None:
            code = _COMPILED[source, settings] = env.compile(source)
        return env.template_class.from_code(env, code, env.make_globals(None), None)
    except TemplateSyntaxError as exc:
        raise PromptError(
            f"{where}: template does not compile: {exc.message} (line {exc.lineno})"
        ) from exc


def _messages(env: Environment, filename: str, data: Mapping[str, Any]) -> dict[str, Template]:
    raw = data.get("messages")
    if not isinstance(raw, dict):
        raise PromptError(f"{filename}: expected a 'messages' mapping")
    return {str(k): _compile(env, f"{filename}: message '{k}'", v) for k, v in raw.items()}


def _text(data: Mapping[str, Any], key: str, where: str, limit: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PromptError(f"{where}: '{key}' is missing")
    if len(value) > limit:
        raise PromptError(f"{where}: '{key}' is longer than {limit} characters")
    return value.strip()


def _flow(env: Environment, filename: str, data: Mapping[str, Any]) -> Flow:
    name = _text(data, "flow", filename, 40)
    if not _NAME.match(name) or f"{name}.yaml" != filename:
        raise PromptError(f"{filename}: 'flow' must be a lower-case name matching the file name")
    command = _text(data, "command", filename, 32)
    if not _COMMAND.match(command):
        raise PromptError(f"{filename}: command '{command}' is not a valid Telegram command")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise PromptError(f"{filename}: 'steps' must be a non-empty list")
    ids = [s.get("id") if isinstance(s, dict) else None for s in raw_steps]
    steps: dict[str, Step] = {}
    for index, raw in enumerate(raw_steps):
        where = f"{filename}: step {index + 1}"
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            raise PromptError(f"{where}: every step needs an 'id'")
        step_id = raw["id"]
        where = f"{filename}: step '{step_id}'"
        if not _NAME.match(step_id) or step_id == END:
            raise PromptError(f"{where}: ids are lower-case names (and not '{END}')")
        if step_id in steps:
            raise PromptError(f"{where}: the id is used twice")
        default_next = ids[index + 1] if index + 1 < len(ids) else END
        steps[step_id] = _step(env, where, raw, str(default_next))
    targets = set(steps) | {END}
    for step in steps.values():
        for target in [step.next, *(to for _, to in step.branches)]:
            if target not in targets:
                raise PromptError(
                    f"{filename}: step '{step.id}' goes to '{target}', which does not exist"
                )
    _check_reachable(filename, steps)
    link_to = data.get("link_to") or []
    if not isinstance(link_to, list):
        raise PromptError(f"{filename}: 'link_to' must be a list of flow names")
    return Flow(
        name=name,
        command=command,
        menu=_text(data, "menu", filename, 256),
        title=_text(data, "title", filename, 40),
        link_to=tuple(str(x) for x in link_to),
        intro=_compile(env, f"{filename}: intro", data.get("intro")),
        summary=_compile(env, f"{filename}: summary", data.get("summary")),
        steps=steps,
        source=filename,
        proctor=_proctor(data, filename),
        together=bool(data.get("together", False)),
        plan=bool(data.get("plan", False)),
    )


def _proctor(data: Mapping[str, Any], filename: str) -> str:
    value = str(data.get("supervision", PROCTOR[0]))
    if value not in PROCTOR:
        raise PromptError(f"{filename}: 'supervision' must be one of {', '.join(PROCTOR)}")
    return value


def _step(env: Environment, where: str, raw: Mapping[str, Any], default_next: str) -> Step:
    kind = raw.get("input", "text")
    if kind not in {"text", "choice", "free"}:
        raise PromptError(f"{where}: input must be 'text', 'choice' or 'free', not '{kind}'")
    choices: list[Choice] = []
    if kind == "choice":
        raw_choices = raw.get("choices")
        if not isinstance(raw_choices, list) or len(raw_choices) < 2:
            raise PromptError(f"{where}: a choice step needs at least two choices")
        for item in raw_choices:
            if not isinstance(item, dict):
                raise PromptError(f"{where}: each choice needs a value and a label")
            value, label = str(item.get("value", "")), str(item.get("label", "")).strip()
            if not _NAME.match(value) or not label:
                raise PromptError(f"{where}: choice '{value}' needs a lower-case value and a label")
            if len(label) > BUTTON_LABEL_LIMIT:
                raise PromptError(
                    f"{where}: button label '{label}' is longer than {BUTTON_LABEL_LIMIT}"
                )
            data = f"a:{_LONGEST_TURN}:{value}"
            if len(data.encode()) > CALLBACK_LIMIT:
                raise PromptError(f"{where}: choice '{value}' makes callback data over 64 bytes")
            choices.append(Choice(value, label, bool(item.get("caution", False))))
        if len({c.value for c in choices}) != len(choices):
            raise PromptError(f"{where}: two choices share a value")
    elif raw.get("choices"):
        raise PromptError(f"{where}: only choice steps have choices")
    branches: list[tuple[frozenset[str], str]] = []
    for branch in raw.get("branches") or []:
        when, to = branch.get("when"), branch.get("to")
        if kind != "choice" or not isinstance(when, list) or not isinstance(to, str):
            raise PromptError(f"{where}: branches need a choice step, a 'when' list and a 'to'")
        unknown = set(map(str, when)) - {c.value for c in choices}
        if unknown:
            raise PromptError(f"{where}: branch on unknown choice(s) {sorted(unknown)}")
        branches.append((frozenset(map(str, when)), to))
    return Step(
        id=str(raw["id"]),
        label=_text(raw, "label", where, 40),
        ask=_compile(env, f"{where}: ask", raw.get("ask")),
        input=str(kind),
        optional=bool(raw.get("optional", False)),
        choices=tuple(choices),
        next=str(raw.get("next", default_next)),
        branches=tuple(branches),
        private=bool(raw.get("private", False)),
        in_list=bool(raw.get("in_list", False)),
    )


def _check_reachable(filename: str, steps: dict[str, Step]) -> None:
    first = next(iter(steps))
    seen = {first}
    frontier = [first]
    while frontier:
        step = steps[frontier.pop()]
        for target in [step.next, *(to for _, to in step.branches)]:
            if target != END and target not in seen:
                seen.add(target)
                frontier.append(target)
    for step_id in steps:
        if step_id not in seen:
            raise PromptError(f"{filename}: step '{step_id}' can never be reached")
    # Every step must also be able to finish, or a person could be stuck for ever.
    finishing = {END}
    changed = True
    while changed:
        changed = False
        for step in steps.values():
            if step.id not in finishing and (
                {step.next, *(to for _, to in step.branches)} & finishing
            ):
                finishing.add(step.id)
                changed = True
    for step_id in steps:
        if step_id not in finishing:
            raise PromptError(f"{filename}: from step '{step_id}' the question set never ends")


def sample_context(flow: Flow, answered: bool) -> dict[str, Any]:
    """A context like the one a person's answers make, to render every template once at start-up."""
    answers: dict[str, str] = {}
    values: dict[str, str] = {}
    if answered:
        for step in flow.steps.values():
            if step.choices:
                values[step.id] = step.choices[-1].value
                answers[step.id] = step.choices[-1].label
            else:
                answers[step.id] = "An answer with <angle brackets> & an emoji 🌱"
    cautions = [s for s, v in values.items() if (c := flow.steps[s].choice(v)) and c.caution]
    return {
        "answers": answers,
        "values": values,
        "cautions": cautions,
        "steps": {s.id: {"label": s.label, "ask": ""} for s in flow.steps.values()},
        "step_count": len(flow.steps),
        "tags": ["example"] if answered else [],
    }


def _trial_render(flow: Flow) -> None:
    for answered in (False, True):
        context = sample_context(flow, answered)
        for where, template in [("intro", flow.intro), ("summary", flow.summary)] + [
            (f"step '{s.id}'", s.ask) for s in flow.steps.values()
        ]:
            try:
                text = template.render(**context, step_number=1)
            except Exception as exc:  # any template error is the set's fault, reported by name
                raise PromptError(f"{flow.source}: {where} does not render: {exc}") from exc
            if where != "summary" and not render.to_plain(text).strip():
                raise PromptError(f"{flow.source}: {where} renders as empty text")


def _check_across(flows: dict[str, Flow]) -> None:
    commands: dict[str, str] = {}
    for flow in flows.values():
        if flow.command in commands:
            raise PromptError(
                f"{flow.source}: command '/{flow.command}' is also used by {commands[flow.command]}"
            )
        commands[flow.command] = flow.source
        for other in flow.link_to:
            if other not in flows:
                raise PromptError(f"{flow.source}: link_to names '{other}', which does not exist")
