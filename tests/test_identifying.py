"""Tests for the identifying-detail detectors in flows.identifying.

Each kind has true and false positives. Dates are checked against a fixed `today` so the tests do
not drift with the calendar. No test asserts a timing.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools

import pytest

from flows.kernel.identifying import Finding, Kind, find, kinds, nhs_check_digit_ok

TODAY = datetime.date(2026, 5, 1)


def found(text: str, today: datetime.date = TODAY) -> list[tuple[Kind, str]]:
    """(kind, the text found) for each finding, in order."""
    return [(f.kind, text[f.start : f.end]) for f in find(text, today=today)]


def kinds_at(text: str, today: datetime.date = TODAY) -> list[Kind]:
    """The kind of each finding, in order."""
    return [f.kind for f in find(text, today=today)]


def only(kind: Kind, text: str) -> list[tuple[Kind, str]]:
    return [(kind, text)]


def check_digit(first_nine: str) -> int | None:
    """The NHS check digit, worked out independently of the module; None if there is none."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(first_nine))
    digit = 11 - total % 11
    return None if digit == 10 else digit % 11


# --- basics ----------------------------------------------------------------------------------


def test_empty_and_plain_text_find_nothing() -> None:
    assert find("") == []
    assert kinds("") == []
    assert find("I felt nervous before the session but it went well.") == []
    assert find("   \n\t ") == []


def test_finding_is_a_frozen_dataclass() -> None:
    f = Finding("phone", 1, 2)
    assert (f.kind, f.start, f.end) == ("phone", 1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.start = 3  # type: ignore[misc]


# --- NHS number --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "943 476 5919",
        "943-476-5919",
        "9434765919",
        "401 023 2137",
        "4505577104",
        "485-777-3457",
    ],
)
def test_valid_nhs_numbers(number: str) -> None:
    assert found(number) == only("nhs_number", number)
    text = f"Her NHS number is {number}, I think."
    assert found(text) == only("nhs_number", number)
    start = text.index(number)
    assert find(text, today=TODAY) == [Finding("nhs_number", start, start + len(number))]


@pytest.mark.parametrize("first_nine", ["401023213", "612345678", "700000012", "498765432"])
def test_computed_nhs_numbers(first_nine: str) -> None:
    digit = check_digit(first_nine)
    assert digit is not None
    number = first_nine + str(digit)
    assert nhs_check_digit_ok(number)
    assert found(number) == only("nhs_number", number)
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    assert found(spaced) == only("nhs_number", spaced)
    wrong = first_nine + str((digit + 1) % 10)
    assert not nhs_check_digit_ok(wrong)
    assert "nhs_number" not in kinds(wrong)


@pytest.mark.parametrize(
    "text",
    [
        "1234567890",  # fails the check (and is no phone number either)
        "943 476 5918",  # check digit off by one
        "4857773456",
        "943 476-5919",  # mixed separators
        "1111111111",  # passes the check, but a placeholder
        "19434765919",  # part of a longer run of digits
        "943 476 59190",
        "943-476-5919-2",
        "1-943-476-5919",
    ],
)
def test_not_nhs_numbers(text: str) -> None:
    assert "nhs_number" not in kinds(text)


def test_ten_digits_with_no_possible_check_digit() -> None:
    # 123456789 gives a check digit of 10, so no tenth digit makes it valid.
    assert check_digit("123456789") is None
    for last in "0123456789":
        assert not nhs_check_digit_ok("123456789" + last)
        assert find("123456789" + last) == []


def test_valid_nhs_number_that_is_also_phone_shaped_is_only_an_nhs_number() -> None:
    assert found("0163296014") == only("nhs_number", "0163296014")
    # The same shape failing the check is a phone number (01632 96012, without the space).
    assert found("0163296012") == only("phone", "0163296012")


# --- phone ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "07700 900123",
        "07700900123",
        "07700 900 123",
        "0770 090 0123",
        "07700-900-123",
        "+44 7700 900123",
        "+447700900123",
        "0044 7700 900123",
        "+44 (0)7700 900123",
        "020 7946 0958",
        "02079460958",
        "0207 946 0958",
        "0161 496 0000",
        "(0114) 496 0999",
        "(020) 7946 0958",
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "01632 960123",
        "01632 960 123",
        "0300 123 4567",
    ],
)
def test_uk_phone_numbers(number: str) -> None:
    assert found(number) == only("phone", number)
    text = f"Her number: {number}. Ring after six 🙂"
    assert found(text) == only("phone", number)


def test_brackets_around_a_whole_number_are_not_part_of_it() -> None:
    assert found("(07700 900123)") == only("phone", "07700 900123")


@pytest.mark.parametrize(
    "text",
    [
        "116 123",
        "85258",
        "111",
        "999",
        "Samaritans: call 116 123, free, any time, day or night",
        "Shout: text SHOUT to 85258, free, 24/7",
        "NHS 111: call 111 and choose option 2 for urgent mental health help",
        "999: in an emergency, or if a life is at risk",
        "0800 123 4567",  # freephone: an organisation
        "07700 90012",  # too short
        "077009001234",  # too long
        "107700 900123",  # inside a longer run
        "7700 900123",  # no trunk 0
        "06123 456789",  # no such range
        "The score was 0 1 2 3 4 5 6 7 8 9",
    ],
)
def test_not_phone_numbers(text: str) -> None:
    assert find(text, today=TODAY) == []


# --- email -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("email sarah.jones@example.com today", "sarah.jones@example.com"),
        ("(j_o+tag@mail.example.co.uk).", "j_o+tag@mail.example.co.uk"),
        ("Write to: k-2@nhs.net, please", "k-2@nhs.net"),
        ("zoë@exämple.org", "zoë@exämple.org"),
        ("...sam@example.com", "sam@example.com"),
    ],
)
def test_emails(text: str, address: str) -> None:
    assert found(text) == only("email", address)


@pytest.mark.parametrize(
    "text",
    [
        "ask @sarah_j on Telegram",
        "sarah at example dot com",
        "meet @ 3pm",
        "a@b",
        "me@localhost",
    ],
)
def test_not_emails(text: str) -> None:
    assert "email" not in kinds(text)


def test_email_with_digits_is_one_email() -> None:
    text = "07700900123@example.com"
    assert found(text) == only("email", text)


# --- postcode ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "postcode",
    [
        "SW1A 1AA",
        "M1 1AE",
        "B33 8TH",
        "CR2 6XH",
        "DN55 1PT",
        "EC1A 1BB",
        "W1A 0AX",
        "sw1a 1aa",
        "Cr2 6xh",
        "SW1A1AA",
        "M11AE",
    ],
)
def test_postcodes(postcode: str) -> None:
    assert found(postcode) == only("postcode", postcode)
    text = f"She lives near {postcode}, by the park."
    assert found(text) == only("postcode", postcode)


@pytest.mark.parametrize(
    "text",
    [
        "GO2 TO",
        "a1 sauce",
        "QX1 1AA",  # Q never starts a postcode
        "SW1A 1CA",  # C is not used in the inward code
        "B4 5PM",  # nor is M
        "SW1A",  # an area, not an address
        "we met on the 4th and the 2nd",
        "covid19 jab",
        "XSW1A 1AA",  # part of a longer word
        "SW1A 1AAB",
    ],
)
def test_not_postcodes(text: str) -> None:
    assert "postcode" not in kinds(text)


# --- date of birth -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("She was born 12 March.", "12 March"),
        ("DOB: 12/03/87", "12/03/87"),
        ("D.O.B. 01/02/2020", "01/02/2020"),  # recent, but a cue
        ("date of birth 5th June", "5th June"),
        ("Her birthday is on 3 May", "3 May"),
        ("12/03 is his birthday", "12/03"),
        ("born on March 12th", "March 12th"),
        ("born 12/03/2024, so just a baby", "12/03/2024"),
        ("Birthdate: 1999-07-04", "1999-07-04"),
    ],
)
def test_dates_near_a_birth_cue(text: str, date: str) -> None:
    assert found(text) == only("date_of_birth", date)


@pytest.mark.parametrize(
    "date",
    [
        "12/03/1987",
        "12.03.87",
        "12-03-1987",
        "1/3/1987",
        "12 March 1987",
        "12th March 1987",
        "12th of September, 1987",
        "12-Mar-1987",
        "March 12, 1987",
        "Sept 3rd 1962",
        "1987-03-12",
        "03/25/1987",  # read month first, as that is the only way it is a date
        "12/03/1928",  # two digits more than a year ahead are the 1900s: 12/03/28 below
        "12/03/28",
        "01/05/2016",  # exactly ten years before TODAY
    ],
)
def test_old_full_dates_without_a_cue(date: str) -> None:
    assert found(date) == only("date_of_birth", date)
    text = f"Something happened on {date} and we talked."
    assert found(text) == only("date_of_birth", date)


@pytest.mark.parametrize(
    "text",
    [
        "12/03/2026",  # a recent session
        "Our session on 02/05/2026 went well",
        "12/03/26",
        "12/03/27",  # next year, not 1927
        "02/05/2016",  # one day short of ten years
        "12 March 2024",
        "March 12, 2019",
        "in 1987",
        "born in 1987",  # a bare year, even with a cue
        "12 March",  # no year and no cue
        "12/03",
        "24/7",
        "31/02/1987",  # not a date
        "32/13/1987",
        "1987-13-01",
        "she was stubborn on 12 May",  # 'born' inside another word is no cue
        "12:30 and 3.5 and 2-1",
        "12/03/1850",  # history, not a birth
        "it may 12 times",
        "version 1.2.3",
        "192.168.1.10",
        "10/10/10/10",
    ],
)
def test_not_dates_of_birth(text: str) -> None:
    assert "date_of_birth" not in kinds_at(text)


def test_birth_cue_must_be_near() -> None:
    near = "born on " + "12 March"
    far = "born. " + "x" * 40 + " 12 March"
    assert found(near) == only("date_of_birth", "12 March")
    assert found(far) == []


def test_one_cue_serves_dates_on_both_sides() -> None:
    text = "12/03 or 14/05, her birthday, or 01/06"
    assert found(text) == [
        ("date_of_birth", "12/03"),
        ("date_of_birth", "14/05"),
        ("date_of_birth", "01/06"),
    ]


def test_default_today() -> None:
    assert kinds("It was 12/03/1950.") == ["date_of_birth"]
    next_year = datetime.date.today().year + 1
    assert kinds(f"The review is on 12/03/{next_year}.") == []


def test_leap_day_today() -> None:
    leap = datetime.date(2028, 2, 29)
    assert found("28/02/2018", today=leap) == only("date_of_birth", "28/02/2018")
    assert found("01/03/2018", today=leap) == []


# --- name after a cue ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("my client, John said he was fine", "John"),
        ("the person I support (Sarah Jones) was late", "Sarah Jones"),
        ("a person I support, Tom, rang", "Tom"),
        ("the person I'm supporting: Amir", "Amir"),
        ("the person I’m supporting – Beth", "Beth"),
        ("My service user - 'Anna-Marie Smith' came", "Anna-Marie Smith"),
        ("patient Chloe was discharged", "Chloe"),
        ("my supportee: Priya", "Priya"),
        ("I was supporting Dev today", "Dev"),
        ("working with John", "John"),
        ("the young person, Kai, laughed", "Kai"),
        ("MY CLIENT Leo", "Leo"),
        ("my client Mr Smith", "Mr Smith"),
        ("working with Dr. Patel", "Dr. Patel"),
        ("my client O'Brien", "O'Brien"),
        ("I’ve been working with Zoë’s mum", "Zoë"),
        ("a lad called Tom Hughes rang", "Tom Hughes"),
        ("his name is Ravi", "Ravi"),
        ("my client John Today", "John"),
        ("the person I support\nMaria", "Maria"),
    ],
)
def test_names_after_a_cue(text: str, name: str) -> None:
    assert found(text) == only("name", name)


@pytest.mark.parametrize(
    "text",
    [
        "working with people",
        "my client I think was upset",
        "my client, He said no",
        "my client: She",
        "my client They",
        "the person I support The",
        "patient Today",
        "working with Monday's group",
        "supporting March",
        "my client Yesterday",
        "my client It",
        "client J said",  # an initial: the usual way to anonymise
        "working with CAMHS",  # a service
        "working with Mum",
        "clientele Anna",
        "I was patient. John arrived",  # a full stop ends the cue
        "my client, Didn't",
        "John said hello",  # no cue
        "my client mr smith",
        "I called Samaritans, then working with Mind",
    ],
)
def test_not_names(text: str) -> None:
    assert "name" not in kinds(text)


# --- together ------------------------------------------------------------------------------------

MIXED = (
    "Met my client, John Smith, today 🙂. Call 07700 900123 or NHS 943 476 5919; "
    "email j.smith@example.com, lives near SW1A 1AA, born 12/03/1987. "
    "We talked about working with people, and Samaritans on 116 123."
)


def test_mixed_text_finds_each_kind_in_order() -> None:
    assert found(MIXED) == [
        ("name", "John Smith"),
        ("phone", "07700 900123"),
        ("nhs_number", "943 476 5919"),
        ("email", "j.smith@example.com"),
        ("postcode", "SW1A 1AA"),
        ("date_of_birth", "12/03/1987"),
    ]
    assert kinds(MIXED) == [
        "name",
        "phone",
        "nhs_number",
        "email",
        "postcode",
        "date_of_birth",
    ]


def assert_ordered_and_apart(text: str, findings: list[Finding]) -> None:
    for f in findings:
        assert 0 <= f.start < f.end <= len(text)
    for a, b in itertools.pairwise(findings):
        assert a.end <= b.start


def test_findings_are_ordered_and_never_overlap() -> None:
    text = (MIXED + " 0163296014 07700900123@example.com my client, Ali 12.03.87 ") * 3
    findings = find(text, today=TODAY)
    assert_ordered_and_apart(text, findings)
    one = [
        ("name", "John Smith"),
        ("phone", "07700 900123"),
        ("nhs_number", "943 476 5919"),
        ("email", "j.smith@example.com"),
        ("postcode", "SW1A 1AA"),
        ("date_of_birth", "12/03/1987"),
        ("nhs_number", "0163296014"),  # phone-shaped too
        ("email", "07700900123@example.com"),  # holds a phone number
        ("name", "Ali"),
        ("date_of_birth", "12.03.87"),
    ]
    assert [(f.kind, text[f.start : f.end]) for f in findings] == one * 3


def test_emoji_and_right_to_left_text_around_details() -> None:
    text = "🙂🙂 my client Ali 📞07700 900123 שלום 943 476 5919 مرحبا 👋🏽 SW1A 1AA ✨born 1/2/1990"
    expected: list[tuple[Kind, str]] = [
        ("name", "Ali"),
        ("phone", "07700 900123"),
        ("nhs_number", "943 476 5919"),
        ("postcode", "SW1A 1AA"),
        ("date_of_birth", "1/2/1990"),
    ]
    findings = find(text, today=TODAY)
    assert [(f.kind, text[f.start : f.end]) for f in findings] == expected
    # Offsets are Python str offsets (code points), not bytes or UTF-16 units.
    assert findings[1].start == text.index("07700")
    assert findings[4].end == len(text)


def test_text_whose_lower_case_is_longer_keeps_offsets() -> None:
    text = "İİ my client Ali, 07700 900123"  # 'İ'.lower() is two characters
    assert found(text) == [("name", "Ali"), ("phone", "07700 900123")]


def test_kinds_are_distinct_in_order_of_first_appearance() -> None:
    text = "Ring 07700 900123 or 020 7946 0958, my client Ana said, or 07700 900124"
    assert kinds(text) == ["phone", "name"]
    assert kinds("no details here") == []


def test_a_long_message_many_times() -> None:
    """Runs find() on 4,096 characters of mixed text 200 times; it only has to finish."""
    para = (
        "Today I met my client, Sarah Jones, at the café 🙂 and we talked about the week. "
        "Her number is 07700 900123 and her NHS number 943 476 5919; she lives near "
        "SW1A 1AA and was born 12/03/1987. Email sarah.jones@example.com if needed. "
        "The session on 02/05/2026 went well. I rang 116 123 for myself later. "
        "מרחבא שלום 👋🏽 working with people is a privilege. "
    )
    text = (para * (4096 // len(para) + 1))[:4096]
    assert len(text) == 4096
    first = find(text, today=TODAY)
    for _ in range(200):
        assert find(text, today=TODAY) == first
    assert_ordered_and_apart(text, first)
    assert {f.kind for f in first} == {
        "name",
        "phone",
        "nhs_number",
        "postcode",
        "date_of_birth",
        "email",
    }
