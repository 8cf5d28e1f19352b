"""An organisation's own question sets and wording (COREFLECT_PROMPTS_DIR), and locales."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import open_service
from flows.questions import catalogue as engine
from flows.store.core import StartupProblem
from tests.drivers import Chat, Harness, make_config, running
from tests.offline import Person


def shipped(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(resources.files("prompts").joinpath(name).read_text())
    return data


def write(folder: Path, name: str, data: dict[str, Any]) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def changed(name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = shipped(name)
    change(data)
    return data


def started(tmp_path: Path, prompts_dir: Path) -> contextlib.AbstractAsyncContextManager[Harness]:
    return running(make_config(tmp_path / "data", prompts_dir=prompts_dir))


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    """The README's worked example of adding a question set, word for word."""
    text = README.read_text(encoding="utf-8")
    after = text[text.index("**Worked example: adding a question set.**") :]
    return after.split("```yaml\n", 1)[1].split("```", 1)[0]


CHECK_IN = readme_example()


async def test_an_added_question_set_is_a_new_command(tmp_path: Path) -> None:
    org = tmp_path / "org"
    org.mkdir()
    (org / "team_check_in.yaml").write_text(CHECK_IN, encoding="utf-8")
    async with started(tmp_path, org) as bot:
        chat = Chat(bot)
        await chat.send("/start")
        assert any("/checkin – A two-minute check-in" in t for t in await chat.send("/help"))
        replies = await chat.send("/checkin")
        assert "Did you feel your experience was heard" in replies[-1]
        await chat.press("Partly")
        await chat.send("That my voice counts <here> & now")
        assert any("It's saved in your journal" in r for r in chat.read()[-2:])
        listed = await chat.send("/entries")
        assert "Team check-in" in listed[-1]
        # The shipped sets are all still there.
        assert "Tip 1 of 10" in (await chat.send("/tips"))[-1]


async def test_a_replacing_question_set_changes_the_wording(tmp_path: Path) -> None:
    org = tmp_path / "org"

    def reword(data: dict[str, Any]) -> None:
        data["steps"][0]["ask"] = "<i>Tip 1 of 10</i>\nDid I really listen, our way?"

    write(org, "top_tips.yaml", changed("top_tips.yaml", reword))
    async with started(tmp_path, org) as bot:
        chat = Chat(bot)
        await chat.send("/start")
        replies = await chat.send("/tips")
        assert "Did I really listen, our way?" in replies[-1]
        assert "actively listen" not in replies[-1]


async def test_an_organisation_can_reword_one_message(tmp_path: Path) -> None:
    org = tmp_path / "org"
    write(org, "messages.yaml", {"messages": {"welcome_back": "Hello again from Our Trust."}})
    async with started(tmp_path, org) as bot:
        chat = Chat(bot)
        await chat.send("/start")
        assert await chat.send("/start") == ["Hello again from Our Trust."]
        # Every other message is still the shipped one.
        assert "What I can do" in (await chat.send("/help"))[-1]


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        (
            "top_tips.yaml",
            changed("top_tips.yaml", lambda d: d["steps"][0].update(next="nowhere")),
            "top_tips.yaml: step 'listening' goes to 'nowhere', which does not exist",
        ),
        (
            "extra.yaml",
            {**yaml.safe_load(CHECK_IN), "flow": "extra", "command": "tips"},
            "extra.yaml: command '/tips' is also used by",
        ),
        (
            "messages.yaml",
            {"messages": {"welcome_back": "Hello {% if %}"}},
            "messages.yaml: message 'welcome_back': template does not compile",
        ),
    ],
)
async def test_a_broken_override_stops_start_up_naming_file_and_step(
    tmp_path: Path, name: str, data: dict[str, Any], expected: str
) -> None:
    org = tmp_path / "org"
    path = write(org, name, data)
    with pytest.raises(StartupProblem) as caught:
        await open_service(make_config(tmp_path / "data", prompts_dir=org))
    message = str(caught.value)
    assert expected.split(":", 1)[1] in message
    # The overriding file is named by its full path, so it cannot be mistaken for a shipped one.
    assert str(path) in message


async def test_a_missing_override_folder_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(StartupProblem, match="COREFLECT_PROMPTS_DIR is not a folder"):
        await open_service(make_config(tmp_path / "data", prompts_dir=tmp_path / "nope"))


# ---- locales ---------------------------------------------------------------------------------

WELSH_TIP = "<i>Awgrym 1 o 10</i>\nOeddwn i'n gwrando'n astud?"


def welsh(org: Path) -> None:
    """A test locale (not shipped): one question reworded, a few messages."""

    def translate(data: dict[str, Any]) -> None:
        data["title"] = "Deg Awgrym"
        data["menu"] = "Deg Awgrym ar ôl sgwrs"
        data["steps"][0]["ask"] = WELSH_TIP
        data["steps"][0]["choices"][0]["label"] = "Ydw"

    write(org / "locales" / "cy", "top_tips.yaml", changed("top_tips.yaml", translate))
    write(
        org / "locales" / "cy",
        "messages.yaml",
        {"messages": {"welcome_back": "Croeso nôl{% if name %}, {{ name }}{% endif %}."}},
    )


LANGUAGES = {"cy": True, "cy-GB": True, "CY": True, "en-GB": False, "en-US": False, "fr": False}


async def test_language_code_picks_the_locale_or_falls_back(tmp_path: Path) -> None:
    org = tmp_path / "org"
    org.mkdir()
    welsh(org)
    async with started(tmp_path, org) as bot:
        for number, (language_code, welsh_expected) in enumerate(LANGUAGES.items()):
            chat = Chat(bot, Person(user_id=2001 + number, language_code=language_code))
            await chat.send("/start")
            back = await chat.send("/start")
            tips = await chat.send("/tips")
            if welsh_expected:
                assert back == ["Croeso nôl, Alex."], language_code
                assert "Oeddwn i'n gwrando'n astud?" in tips[-1]
                assert "Ydw" in chat.buttons()
                # Untranslated messages fall back to the default's wording.
                assert any("What I can do" in r for r in await chat.send("/help"))
            else:
                assert back[0].startswith("Welcome back, Alex."), language_code
                assert "actively listen" in tips[-1]
                assert "Yes" in chat.buttons()


async def test_two_people_in_two_languages_side_by_side(tmp_path: Path) -> None:
    org = tmp_path / "org"
    org.mkdir()
    welsh(org)
    async with started(tmp_path, org) as bot:
        cymraeg = Chat(bot, Person(user_id=2101, language_code="cy"))
        english = Chat(bot, Person(user_id=2102, language_code="en"))
        for chat in (cymraeg, english):
            await chat.send("/start")
            await chat.send("/tips")
        await cymraeg.press("Ydw")
        await english.press("Yes")
        # The answer means the same in both: the choice value, not its label, is stored.
        assert "Tip 2 of 10" in cymraeg.read()[-1] and "Tip 2 of 10" in english.read()[-1]
        assert not any("Oeddwn" in t for t in english.read())


def test_every_locale_is_loaded_and_checked_once_at_start_up(tmp_path: Path) -> None:
    org = tmp_path / "org"
    org.mkdir()
    welsh(org)
    cat = engine.load(overlay=org)
    assert set(cat.locales) == {"cy"}
    assert cat.for_language("cy-GB") is cat.locales["cy"]
    assert cat.for_language(None) is cat and cat.for_language("") is cat
    assert cat.for_language("pt-BR") is cat
    assert cat.locales["cy"].flows["top_tips"].title == "Deg Awgrym"
    # The default is untouched by the locale.
    assert cat.flows["top_tips"].title == "Ten Top Tips"


def test_the_shipped_prompts_are_the_en_gb_default() -> None:
    cat = engine.load()
    assert cat.code == "en-GB"
    assert cat.locales == {}  # no other locale ships yet


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["steps"][0].update(id="listen"), "the steps must be the default's"),
        (
            lambda d: d["steps"][0]["choices"][0].update(value="ydw"),
            "step 'listening': the choice values must be the default's",
        ),
        (lambda d: d.update(command="awgrymiadau"), "the command must stay /tips"),
    ],
)
def test_a_locale_cannot_change_what_answers_mean(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    org = tmp_path / "org"
    path = write(org / "locales" / "cy", "top_tips.yaml", changed("top_tips.yaml", change))
    with pytest.raises(engine.PromptError) as caught:
        engine.load(overlay=org)
    assert str(caught.value).startswith(str(path)) and expected in str(caught.value)


def test_a_locale_folder_must_be_a_language_code(tmp_path: Path) -> None:
    org = tmp_path / "org"
    (org / "locales" / "Welsh language").mkdir(parents=True)
    with pytest.raises(engine.PromptError, match="not a language code"):
        engine.load(overlay=org)


def test_a_broken_locale_names_its_file(tmp_path: Path) -> None:
    org = tmp_path / "org"
    folder = org / "locales" / "cy"
    folder.mkdir(parents=True)
    (folder / "messages.yaml").write_text("messages: [not, a, mapping", encoding="utf-8")
    with pytest.raises(engine.PromptError) as caught:
        engine.load(overlay=org)
    assert str(caught.value).startswith(str(folder / "messages.yaml") + ": not valid YAML")


def test_the_real_command_reads_coreflect_prompts_dir_and_refuses_a_broken_one(
    tmp_path: Path,
) -> None:
    from tests.test_console import run_bot

    org = tmp_path / "org"
    path = write(org, "top_tips.yaml", changed("top_tips.yaml", lambda d: d.pop("steps")))
    result = run_bot(["console"], "/quit\n", tmp_path / "data", COREFLECT_PROMPTS_DIR=str(org))
    assert result.returncode == 1
    assert (
        f"CoReflect cannot start: A question set is broken: {path}: 'steps' must be a non-empty"
        in result.stderr
    )


def test_a_yml_file_is_refused_rather_than_silently_ignored(tmp_path: Path) -> None:
    org = tmp_path / "org"
    org.mkdir()
    (org / "team_check_in.yml").write_text(CHECK_IN, encoding="utf-8")
    with pytest.raises(engine.PromptError, match=r"team_check_in\.yml: question sets are read"):
        engine.load(overlay=org)


async def test_an_organisation_can_switch_an_optional_set_off(tmp_path: Path) -> None:
    org = tmp_path / "org"
    write(org, "coproduction.yaml", {"enabled": False})
    async with started(tmp_path, org) as bot:
        chat = Chat(bot)
        await chat.send("/start")
        assert not any("/coproduction" in t for t in await chat.send("/help"))
        assert "coproduction" in (await chat.send("/coproduction"))[-1]  # "I don't know /…"
        assert "coproduction" not in bot.service.cat.flows


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("journal.yaml", {"enabled": False}, "journal.yaml: can't be switched off: loose"),
        ("preparation.yaml", {"enabled": False}, "link_to names 'preparation'"),
        ("coproduction.yaml", {"enabled": "no"}, "'enabled' must be true or false"),
    ],
)
async def test_switching_off_what_others_need_stops_start_up(
    tmp_path: Path, name: str, data: dict[str, Any], expected: str
) -> None:
    org = tmp_path / "org"
    write(org, name, data)
    with pytest.raises(StartupProblem, match=re.escape(expected)):
        await open_service(make_config(tmp_path / "data", prompts_dir=org))


async def test_each_locale_gets_its_own_telegram_menu(tmp_path: Path) -> None:
    from bot.telegram_bot import menus

    org = tmp_path / "org"
    org.mkdir()
    welsh(org)
    (org / "locales" / "haw").mkdir()  # a three-letter code: Telegram's menus can't name it
    async with started(tmp_path, org) as bot:
        found = {
            language: {c.command: c.description for c in cmds}
            for language, cmds in menus(bot.service)
        }
        assert set(found) == {None, "cy"}
        assert found[None]["tips"] == "Ten Top Tips check after an interaction"
        assert found["cy"]["tips"] == "Deg Awgrym ar ôl sgwrs"
        assert found["cy"]["progress"] == found[None]["progress"]  # not translated: the default's


async def test_a_supervisors_own_menu_comes_in_each_language_too(tmp_path: Path) -> None:
    from tests.drivers import Daytime, link

    org = tmp_path / "org"
    org.mkdir()
    welsh(org)
    # Daytime: the worker's "Yes, link" would otherwise wait out their quiet hours at night.
    async with running(make_config(tmp_path / "data", prompts_dir=org), Daytime()) as bot:
        alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
        sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
        await link(alex, sam)
        scoped = [
            c for c in bot.request.calls if c.method == "setMyCommands" and "scope" in c.params
        ]
        by_language = {c.params.get("language_code"): c.params["commands"] for c in scoped}
        assert set(by_language) == {None, "cy"}
        assert all(c.params["scope"] == {"type": "chat", "chat_id": 2002} for c in scoped)
        welsh_menu = {c["command"]: c["description"] for c in by_language["cy"]}
        assert welsh_menu["tips"] == "Deg Awgrym ar ôl sgwrs" and "supervisees" in welsh_menu
        await alex.send("/supervisor")
        await alex.press("Unlink Sam")
        await alex.press(alex.buttons()[0])
        gone = [c.params for c in bot.request.calls if c.method == "deleteMyCommands"]
        assert sorted(str(p.get("language_code")) for p in gone) == ["None", "cy"]
