from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partners.models import PartnerTier, SyncRun
from partners.sync import run_sync
from tests.helpers import write_csv, write_json

pytestmark = pytest.mark.django_db


def errors_of(path, **kwargs):
    result = run_sync(path if isinstance(path, list) else [path], **kwargs)
    assert not result.applied
    return [(e.line, e.field, str(e)) for e in result.errors], result


def test_a_missing_required_field_names_file_line_and_field(input_dir):
    path = write_csv(
        input_dir / "p.csv",
        [["A", "Gold", "P", "Cisco", "", ""], ["", "Gold", "P", "Cisco", "", ""]],
    )
    errors, result = errors_of(path)
    assert errors == [(3, "name", f"{path.name}: Line 3: missing name")]
    assert result.error_message == f"Validation failed: {path.name}: Line 3: missing name"


def test_json_errors_use_the_record_index_in_the_seed_form(input_dir):
    path = write_json(
        input_dir / "p.json", {"partners": [{"tier": "Gold", "program": "P", "oem": "Cisco"}]}
    )
    errors, result = errors_of(path)
    assert errors == [(0, "name", f"{path.name}: Record 0: missing name")]
    assert result.error_message == f"Validation failed: {path.name}: Record 0: missing name"


def test_every_error_is_reported_not_just_the_first(input_dir):
    path = write_csv(
        input_dir / "p.csv",
        [
            ["", "", "P", "Cisco", "", ""],
            ["B", "Gold", "", "", "", ""],
        ],
    )
    errors, result = errors_of(path)
    assert [(line, field) for line, field, _ in errors] == [
        (2, "name"),
        (2, "tier"),
        (3, "program"),
        (3, "oem"),
    ]
    assert result.error_message.endswith("(and 3 more)")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", 42, "name must be a string, not number"),
        ("tier", ["Gold"], "tier must be a string, not list"),
        ("oem", True, "oem must be a string, not boolean"),
        ("poc", {"a": 1}, "poc must be a string, not object"),
        ("name", "x" * 201, "name is longer than 200 characters (201)"),
        ("tier", "x" * 101, "tier is longer than 100 characters (101)"),
        ("notes", "x" * 5001, "notes is longer than 5000 characters (5,001)"),
        ("name", "Bell\x07", "name contains a control character (U+0007)"),
        ("poc", "a\nb", "poc contains a control character (U+000A)"),
        ("notes", "a\x1bb", "notes contains a control character (U+001B)"),
        ("created_at", "last tuesday", "created_at is not an ISO 8601 time: 'last tuesday'"),
        ("updated_at", 1700000000, "updated_at must be an ISO 8601 time, not number"),
    ],
)
def test_each_field_rule_names_the_field(input_dir, field, value, message):
    record = {"name": "A", "tier": "Gold", "program": "P", "oem": "Cisco", field: value}
    path = write_json(input_dir / "p.json", [record])
    errors, _ = errors_of(path)
    assert errors == [(0, field, f"{path.name}: Record 0: {message}")]


def test_notes_may_hold_newlines_and_tabs_and_names_invisible_characters(input_dir):
    record = {
        "name": "Zero\u200bWidth",
        "tier": "Gold",
        "program": "P",
        "oem": "Cisco",
        "notes": "line one\n\tline two",
    }
    result = run_sync([write_json(input_dir / "p.json", [record])])
    assert result.ok
    assert result.plan.added[0].notes == "line one\n\tline two"


def test_a_json_entry_that_is_not_an_object_is_an_error(input_dir):
    path = write_json(input_dir / "p.json", [None, "x"])
    errors, _ = errors_of(path)
    assert errors == [
        (0, None, f"{path.name}: Record 0: expected an object, not null"),
        (1, None, f"{path.name}: Record 1: expected an object, not str"),
    ]


def test_a_row_with_more_fields_than_the_header_is_an_error(input_dir):
    path = input_dir / "p.csv"
    path.write_text("name,tier,program,oem\nA,Gold,P,Cisco,extra\n")
    errors, _ = errors_of(path)
    assert errors == [(2, None, f"{path.name}: Line 2: has 5 fields but the header has 4")]


def test_the_same_key_with_different_values_names_both_places(input_dir):
    a = write_csv(input_dir / "a.csv", [["Red River", "Gold", "P", "Cisco", "", ""]])
    b = write_csv(
        input_dir / "b.csv",
        [["Other", "Gold", "P", "Dell", "", ""], ["red  river", "Silver", "P", "CISCO", "", ""]],
    )
    errors, _ = errors_of([a, b])
    assert errors == [
        (
            3,
            "name",
            f"{b.name}: Line 3: 'red  river' at 'Cisco' is also at {a.name}: Line 2 with a "
            "different name, tier",
        ),
    ]


def test_identical_duplicates_collapse_with_a_warning(input_dir):
    row = ["Red River", "Gold", "P", "Cisco", "", ""]
    a = write_csv(input_dir / "a.csv", [row])
    b = write_csv(input_dir / "b.csv", [row])
    result = run_sync([a, b])
    assert result.ok
    assert len(result.plan.added) == 1
    assert result.warnings == [f"{b.name}: Line 2: same record as {a.name}: Line 2; counted once"]


def test_a_failed_apply_writes_nothing_but_its_sync_run(input_dir, store):
    path = write_csv(
        input_dir / "p.csv",
        [["A", "Gold", "P", "Cisco", "", ""], ["", "Gold", "P", "Cisco", "", ""]],
    )
    result = run_sync([path], apply=True)
    assert not result.applied
    assert PartnerTier.objects.count() == 0
    assert not store.exists()
    run = SyncRun.objects.get()
    assert run.applied is False
    assert run.errors[0]["field"] == "name"
    assert json.dumps(run.errors)


def test_it_keeps_the_first_thousand_errors_and_counts_the_rest(input_dir):
    path = input_dir / "p.csv"
    path.write_text("name,tier,program,oem\n" + ",Gold,P,Cisco\n" * 1_500)
    result = run_sync([path])
    shown = result.sources[0]["path"]  # as the engine names the file
    assert len(result.errors) == 1_001
    assert str(result.errors[999]) == f"{shown}: Line 1001: missing name"
    last = result.errors[-1]
    assert str(last) == (
        f"{shown}: Line 1002: … and 500 more errors from here on (the first 1,000 are listed)"
    )
    assert last.to_dict()["field"] is None
    assert result.error_message.endswith("(and 1499 more)")


def test_identical_duplicates_are_warned_about_ten_times_then_counted(input_dir):
    path = input_dir / "p.csv"
    path.write_text("name,tier,program,oem\n" + "Red River,Gold,P,Cisco\n" * 5_000)
    result = run_sync([path])
    shown = result.sources[0]["path"]
    assert result.ok and len(result.plan.added) == 1
    assert len(result.warnings) == 11
    assert result.warnings[0] == f"{shown}: Line 3: same record as {shown}: Line 2; counted once"
    assert result.warnings[-1] == "… and 4,989 more like this"


# Letters with and without accents, combining marks, spaces of every kind, a format character
# (zero-width space), a control character and a line break: what the fast path must either
# read exactly as the row path does or leave to it.
GOOD = ["a", "B", " ", "\u00e9", "e\u0301", "\u0301", "\u0141", "\u00df", "\ufb01"]
BAD = ["\u00a0", "\u200b", "\x07", "\n", "\t"]
FIELD = st.one_of(
    *[st.lists(st.sampled_from(GOOD), min_size=1, max_size=6).map("".join)] * 3,
    st.lists(st.sampled_from(GOOD + BAD), max_size=6).map("".join),
)


@given(st.lists(st.tuples(*[FIELD] * 6), min_size=1, max_size=4))
def test_the_column_path_reads_exactly_what_the_row_path_reads(rows):
    """Whatever the whole-file check accepts, the row-by-row rules accept with the same
    values; whatever they refuse, it leaves to them."""
    from partners.fields import COMPARED
    from partners.loaders import LoadedFile
    from partners.records import Built, _checked_rows, _plain_columns

    table = {name: [row[i] for row in rows] for i, name in enumerate(COMPARED)}
    lines = list(range(2, len(rows) + 2))
    loaded = LoadedFile("f.csv", "0", "Line", columns=table, lines=lines, header=COMPARED)
    columns = _plain_columns(loaded)
    built = Built()
    checked = _checked_rows(loaded, built)
    if columns is not None:
        assert not built.errors
        assert [list(c) for c in columns] == [list(c) for c in checked[:8]]
