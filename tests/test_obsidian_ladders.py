"""The Obsidian notes read by each OEM's ladder: partners by rank, the index's columns per
ladder, the rank as a property; an OEM without a ladder exported as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from partners.obsidian import export_obsidian
from partners.programs import Entry, import_catalog
from tests.test_obsidian_export import (
    STANDALONE,
    frontmatter,
    marker_tokens,
    oem_dir,
    sync,
)

pytestmark = pytest.mark.django_db

CISCO = Entry("Cisco", None, ("Select", "Premier", "Gold"))
CISCO_360 = Entry("Cisco", "Cisco 360", ("Partner", "Preferred Partner"))
AWS = Entry("AWS", None, ("Select", "Advanced", "Premier"))

ROWS = [
    ["Zulu", "Select", "Cisco PTP", "Cisco", "", ""],
    ["Alpha", "Premier", "Cisco PTP", "Cisco", "", ""],
    ["Mike", "Gold", "Cisco PTP", "Cisco", "", ""],
    ["Typo", "Goldd", "Cisco PTP", "Cisco", "", ""],
    ["Bravo", "Advanced", "APN", "AWS", "", ""],
    ["Acme", "Premier", "APN", "AWS", "", ""],
    ["Omega", "Select", "APN", "AWS", "", ""],
    ["Kilo", "Bronze", "Engage", "Fortinet", "", ""],
    ["Lima", "Platinum", "Engage", "Fortinet", "", ""],
    ["Echo", "Expert", "Engage", "Fortinet", "", ""],
]


@pytest.fixture(autouse=True)
def seed_layout(settings):
    settings.PARTNERS_NOTE_RECENT_CHANGES = 0


@pytest.fixture
def vault(tmp_path) -> Path:
    root = tmp_path / "vault"
    root.mkdir()
    return root


@pytest.fixture
def ladders():
    import_catalog([CISCO, CISCO_360, AWS], {})


def headings(note: Path) -> list[str]:
    return [line[4:] for line in note.read_text().splitlines() if line.startswith("### ")]


def tables(note: Path) -> list[list[list[str]]]:
    """Every table of the note as markdown-it (CommonMark with tables) reads it: rows of
    cells, the header first."""
    tokens = MarkdownIt("commonmark").enable("table").parse(note.read_text().split("---\n", 2)[2])
    found: list[list[list[str]]] = []
    for token in tokens:
        if token.type == "table_open":
            found.append([])
        elif token.type == "tr_open":
            found[-1].append([])
        elif token.type == "inline" and found and token.level > 2:
            found[-1][-1].append(token.content)
    return found


def test_partners_are_ordered_by_their_ladder_highest_first_off_ladder_last(
    ladders, input_dir, vault
):
    sync(input_dir, ROWS)

    export_obsidian(vault)

    assert headings(oem_dir(vault) / "Cisco.md") == ["Mike", "Alpha", "Zulu", "Typo"]
    assert headings(oem_dir(vault) / "AWS.md") == ["Acme", "Bravo", "Omega"]


def test_the_top_of_each_programs_ladder_comes_first(ladders, input_dir, vault):
    rows = [
        ["Low 360", "Partner", "Cisco 360", "Cisco", "", ""],
        ["Top 360", "Preferred Partner", "Cisco 360", "Cisco", "", ""],
        ["Middle", "Premier", "Cisco PTP", "Cisco", "", ""],
        ["Top", "Gold", "Cisco PTP", "Cisco", "", ""],
    ]
    sync(input_dir, rows)

    export_obsidian(vault)

    assert headings(oem_dir(vault) / "Cisco.md") == ["Top", "Top 360", "Low 360", "Middle"]


def test_the_note_properties_gain_each_tiers_rank_and_list_tiers_highest_first(
    ladders, input_dir, vault
):
    sync(input_dir, ROWS)

    export_obsidian(vault)

    front = frontmatter((oem_dir(vault) / "Cisco.md").read_text())
    assert front["tiers"] == ["Gold", "Premier", "Select", "Goldd"]
    assert front["ranks"] == {"Gold": 3, "Premier": 2, "Select": 1}
    assert "ranks" not in frontmatter((oem_dir(vault) / "Fortinet.md").read_text())


def test_the_index_has_the_old_table_for_oems_without_a_ladder_and_a_table_per_ladder(
    ladders, input_dir, vault
):
    sync(input_dir, ROWS)

    export_obsidian(vault)

    found = tables(oem_dir(vault) / "OEM Index.md")
    assert found == [
        [
            ["OEM", "Partners", "Platinum", "Gold", "Silver", "Bronze", "Other"],
            ["[[Fortinet]]", "3", "1", "0", "0", "1", "1"],
        ],
        [
            ["OEM", "Partners", "Premier", "Advanced", "Select"],
            ["[[AWS]]", "3", "1", "1", "1"],
        ],
        [
            ["OEM", "Partners", "Gold", "Premier", "Select", "Off ladder"],
            ["[[Cisco]]", "4", "1", "1", "1", "1"],
        ],
    ]


def test_an_oem_with_records_on_two_ladders_is_a_row_of_each(ladders, input_dir, vault):
    rows = [
        ["One", "Partner", "Cisco 360", "Cisco", "", ""],
        ["Two", "Gold", "Cisco PTP", "Cisco", "", ""],
    ]
    sync(input_dir, rows)

    export_obsidian(vault)

    found = tables(oem_dir(vault) / "OEM Index.md")
    assert found == [
        [
            ["OEM", "Partners", "Preferred Partner", "Partner"],
            ["[[Cisco]] (Cisco 360)", "1", "0", "1"],
        ],
        [["OEM", "Partners", "Gold", "Premier", "Select"], ["[[Cisco]]", "1", "1", "0", "0"]],
    ]


def test_ladder_notes_stay_commonmark_with_standalone_markers(ladders, input_dir, vault):
    sync(input_dir, ROWS)

    export_obsidian(vault)

    for name in ("Cisco.md", "AWS.md", "Fortinet.md", "OEM Index.md"):
        assert marker_tokens((oem_dir(vault) / name).read_text()) == STANDALONE, name


def test_a_second_export_with_ladders_writes_nothing(ladders, input_dir, vault):
    sync(input_dir, ROWS)
    export_obsidian(vault)
    note = oem_dir(vault) / "Cisco.md"
    note.write_text(note.read_text().replace("---\n", "---\nrating: 5\n", 1))  # a person's

    again = export_obsidian(vault)

    assert again.files_written == []
    assert frontmatter(note.read_text())["rating"] == 5


def test_an_oem_without_a_ladder_is_exported_as_before(input_dir, vault):
    sync(input_dir, ROWS)
    export_obsidian(vault)
    before = {p.name: p.read_text() for p in oem_dir(vault).iterdir()}

    import_catalog([CISCO, AWS], {})
    result = export_obsidian(vault)

    assert sorted(Path(p).name for p in result.files_written) == [
        "AWS.md",
        "Cisco.md",
        "OEM Index.md",
    ]
    assert (oem_dir(vault) / "Fortinet.md").read_text() == before["Fortinet.md"]
    assert headings(oem_dir(vault) / "Fortinet.md") == ["Lima", "Kilo", "Echo"]


def test_a_reordered_ladder_reorders_the_note_on_the_next_export(ladders, input_dir, vault):
    sync(input_dir, ROWS)
    export_obsidian(vault)

    import_catalog([Entry("AWS", None, ("Premier", "Advanced", "Select"))], {})
    export_obsidian(vault)

    assert headings(oem_dir(vault) / "AWS.md") == ["Omega", "Bravo", "Acme"]
    assert frontmatter((oem_dir(vault) / "AWS.md").read_text())["ranks"] == {
        "Select": 3,
        "Advanced": 2,
        "Premier": 1,
    }
