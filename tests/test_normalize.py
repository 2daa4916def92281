from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partners.normalize import (
    clean,
    identity_key,
    key_parts,
    name_keys_in,
    name_keys_of,
    normalize_notes,
    normalize_tier,
    oem_alias_map,
    oem_keys_of,
    parse_timestamp,
    record_key,
    tier_direction,
)
from partners.records import normalize_row


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("platinum", "Platinum"),
        ("GOLD", "Gold"),
        ("silver", "Silver"),
        ("Bronze", "Bronze"),
        ("premier integrator", "Premier Integrator"),
        ("ELITE", "Elite"),
    ],
)
def test_tiers_use_the_map_then_title_case(raw, expected):
    assert normalize_tier(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("cisco", "Cisco"),
        ("NUTANIX", "Nutanix"),
        ("dell", "Dell"),
        ("hp", "HP"),
        ("hpe", "HPE"),
        ("vmware", "VMware"),
        ("microsoft", "Microsoft"),
        ("aws", "AWS"),
        ("red hat", "Red Hat"),
        ("  Red   HAT ", "Red Hat"),
    ],
)
def test_known_oems_get_their_fixed_spelling(raw, expected):
    assert oem_alias_map()[identity_key(raw)] == expected


def test_aliases_can_be_extended():
    aliases = oem_alias_map({"Amazon Web Services": "AWS", "juniper": "Juniper Networks"})
    assert aliases[identity_key("amazon  web services")] == "AWS"
    assert aliases["juniper"] == "Juniper Networks"
    assert aliases["cisco"] == "Cisco"


def test_fields_are_trimmed_and_empty_becomes_none():
    assert clean("  Red River  ") == "Red River"
    assert clean("   ") is None
    assert clean("") is None
    assert clean(None) is None


def test_text_is_stored_in_nfc():
    assert clean("Cafe\u0301") == "Caf\u00e9"


def test_notes_keep_line_breaks_as_newlines():
    assert normalize_notes("a\r\nb\rc\n") == "a\nb\nc"


def test_the_key_ignores_case_whitespace_and_unicode_form():
    assert identity_key("  Red   River\tTECHNOLOGY ") == identity_key("red river technology")
    assert identity_key("Cafe\u0301") == identity_key("CAF\u00c9")
    assert identity_key("Straße") == identity_key("STRASSE")


def test_different_names_have_different_keys():
    assert identity_key("Red River") != identity_key("Red Rivers")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-10-30T20:00:00Z", "2025-10-30T20:00:00Z"),
        ("2025-10-30T22:00:00+02:00", "2025-10-30T20:00:00Z"),
        ("2025-10-30T20:00:00.123456", "2025-10-30T20:00:00Z"),
        ("2025-10-30", "2025-10-30T00:00:00Z"),
    ],
)
def test_timestamps_are_kept_in_utc_to_the_second(raw, expected):
    assert parse_timestamp(raw) == expected


def test_a_time_that_is_not_iso_8601_is_refused():
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")


@pytest.mark.parametrize(
    ("old", "new", "direction"),
    [
        ("Silver", "Gold", "up"),
        ("Platinum", "Bronze", "down"),
        ("Gold", "Elite", "changed"),
        ("Premier", "Gold", "changed"),
    ],
)
def test_tier_changes_have_a_direction_by_rank(old, new, direction):
    assert tier_direction(old, new) == direction


@given(st.text())
def test_the_key_is_idempotent(text):
    assert identity_key(identity_key(text)) == identity_key(text)


@given(st.text(), st.text(alphabet=" \t\n\u3000", max_size=3), st.text(alphabet=" \t", max_size=3))
def test_the_key_ignores_case_and_surrounding_and_repeated_whitespace(text, left, right):
    spaced = left + text.replace(" ", "  ") + right
    assert identity_key(spaced) == identity_key(text)
    assert identity_key(text.upper()) == identity_key(text.upper().lower())


# What an OEM or name key may hold: any text but NUL (no record's text has a control
# character, and PostgreSQL stores no NUL).
key_text = st.text(alphabet=st.characters(blacklist_characters="\x00"))


@given(st.tuples(key_text, key_text), st.tuples(key_text, key_text))
def test_a_record_key_splits_back_and_sorts_as_its_oem_and_name_keys(one, other):
    joined = record_key(one)
    assert key_parts(joined) == one
    assert list(oem_keys_of([joined])) == [one[0]]
    assert list(name_keys_of([joined])) == list(name_keys_in(one[0], [joined])) == [one[1]]
    assert (joined < record_key(other)) == (one < other)
    assert (joined == record_key(other)) == (one == other)


fields = st.fixed_dictionaries(
    {
        name: st.one_of(st.none(), st.text(max_size=30))
        for name in ("name", "tier", "program", "oem", "poc", "notes")
    }
)


@given(fields)
def test_normalizing_a_row_twice_equals_once(values):
    once, errors = normalize_row(values)
    if errors:
        return
    twice, again = normalize_row(once)
    assert again == []
    assert twice == once


def test_a_naive_time_is_taken_as_utc_and_written_to_the_second():
    from datetime import datetime, timedelta, timezone

    from partners.normalize import format_timestamp

    assert format_timestamp(datetime(2025, 1, 1, 12, 30, 5, 999)) == "2025-01-01T12:30:05Z"
    plus_two = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2025, 1, 1, 12, 30, tzinfo=plus_two)) == "2025-01-01T10:30:00Z"


@pytest.mark.parametrize(
    "values",
    [
        ["Acme Corp", "ACME  corp", "Café", "x\x1fy", "plain"],
        ["one", "Two Words", "UPPER"],
        [" leading", "trailing "],
        ["a", " b"],
        ["a ", "b"],
        ["tab\tinside"],
        ["Müller", "Acme Corp", "ÅNGSTRÖM AB", "Straße", "plain"],
        [],
    ],
)
def test_identity_keys_of_a_column_are_each_values_identity_key(values):
    from partners.records import identity_keys

    assert identity_keys(values) == [identity_key(v) for v in values]


@given(st.lists(st.text(max_size=12), max_size=8))
def test_identity_keys_of_any_column_are_each_values_identity_key(values):
    from partners.records import identity_keys

    assert identity_keys(values) == [identity_key(v) for v in values]
    if all(v.isprintable() for v in values):  # as a file's plain columns say they are
        assert identity_keys(values, printable=True) == [identity_key(v) for v in values]


@given(st.text())
def test_printable_is_str_isprintable(text):
    from partners.records import _printable

    assert _printable(text) == text.isprintable()


@pytest.mark.parametrize("char", [chr(i) for i in range(0x80)])
def test_printable_ascii_is_str_isprintable(char):
    from partners.records import _printable

    assert _printable(f"ab{char}cd") == f"ab{char}cd".isprintable()


def test_identity_keys_of_a_column_longer_than_a_chunk_are_each_values_identity_key():
    from partners.records import PLAIN_CHUNK, identity_keys

    values = [f"Partner {i}" for i in range(PLAIN_CHUNK * 2 + 5)]
    values[PLAIN_CHUNK - 1] = "Müller  GmbH"  # collapsible, at the end of the first part
    values[PLAIN_CHUNK] = "ÅNGSTRÖM"  # not ASCII, first of the second
    values[-1] = "Straße"
    assert identity_keys(values) == [identity_key(v) for v in values]
