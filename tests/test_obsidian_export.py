"""The Obsidian export as a person living in the vault sees it."""

from __future__ import annotations

import html
import json
import os
import signal
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from partners.filenames import oem_id
from partners.models import LedgerEntry, PartnerTier
from partners.notes import BEGIN, END
from partners.obsidian import VaultError, export_obsidian
from partners.sync import run_sync
from tests.helpers import run, write_csv

pytestmark = pytest.mark.django_db

SEED = [
    ["Red River Technology", "Gold", "Cisco PTP", "Cisco", "John Doe", "Premier partner"],
    ["Global Tech Partners", "Platinum", "Cisco Premier", "Cisco", "Jane Smith", ""],
    ["Tech Solutions", "Platinum", "Nutanix Elevate", "Nutanix", "", ""],
]
HEADER = ["name", "tier", "program", "oem", "poc", "notes", "updated_at"]
STAMP = "2025-10-30T20:00:00Z"


@pytest.fixture(autouse=True)
def seed_layout(settings):
    """The seed's note layout exactly: the "Recent changes" list is tested on its own."""
    settings.PARTNERS_NOTE_RECENT_CHANGES = 0


@pytest.fixture
def vault(tmp_path) -> Path:
    root = tmp_path / "vault"
    root.mkdir()
    return root


def oem_dir(vault: Path) -> Path:
    return vault / "30 Hubs" / "OEMs"


def sync(input_dir: Path, rows: list[list[str]], name: str = "p.csv", prune: bool = True):
    path = write_csv(input_dir / name, [[*r, STAMP] for r in rows], header=HEADER)
    result = run_sync([path], apply=True, prune=prune)
    assert result.applied, result.errors
    return result


def frontmatter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_the_seed_example_note_is_reproduced(input_dir, vault):
    sync(input_dir, SEED)
    result = export_obsidian(vault)

    cisco = (oem_dir(vault) / "Cisco.md").read_text()
    expected_block = (
        "# Cisco\n\n## Partner Tiers\n\n"
        "### Global Tech Partners\n- **Tier**: Platinum\n- **Program**: Cisco Premier\n"
        f"- **POC**: Jane Smith\n- **Updated**: {STAMP}\n\n"
        "### Red River Technology\n- **Tier**: Gold\n- **Program**: Cisco PTP\n"
        f"- **POC**: John Doe\n- **Notes**: Premier partner\n- **Updated**: {STAMP}"
    )
    assert f"\n\n{BEGIN}\n\n{expected_block}\n\n{END}\n" in cisco
    assert frontmatter(cisco) == {
        "oem": "Cisco",
        "oem_id": oem_id("Cisco"),
        "type": "oem",
        "status": "active",
        "partner_count": 2,
        "tiers": ["Platinum", "Gold"],
        "programs": ["Cisco Premier", "Cisco PTP"],
        "updated": STAMP,
    }
    assert result.oems_count == 2
    assert sorted(Path(p).name for p in result.files_written) == [
        "Cisco.md",
        "Nutanix.md",
        "OEM Index.md",
    ]
    assert all(os.path.isabs(p) for p in result.files_written)


def test_oem_id_is_a_slug_and_eight_hex_digits_of_the_key():
    ident = oem_id("Red Hat")
    assert ident.startswith("red-hat-") and len(ident.split("-")[-1]) == 8
    assert oem_id("  red   HAT ") == ident  # the identity key, not the spelling
    assert oem_id("Ünïcode Systems").startswith("unicode-systems-")
    assert oem_id("日本").startswith("oem-")


def test_partners_are_ordered_by_tier_rank_then_name(input_dir, vault):
    rows = [
        ["Zed", "Bronze", "P", "Acme", "", ""],
        ["Alpha", "Registered", "P", "Acme", "", ""],
        ["Beta", "Platinum", "P", "Acme", "", ""],
        ["alpha two", "Gold", "P", "Acme", "", ""],
        ["Able", "Gold", "P", "Acme", "", ""],
        ["Omega", "Authorized", "P", "Acme", "", ""],
    ]
    sync(input_dir, rows)
    export_obsidian(vault)
    text = (oem_dir(vault) / "Acme.md").read_text()
    headings = [line[4:] for line in text.splitlines() if line.startswith("### ")]
    # Other tiers follow Bronze in the order of their names: Authorized, then Registered.
    assert headings == ["Beta", "Able", "alpha two", "Zed", "Omega", "Alpha"]


def test_a_persons_text_and_properties_survive_three_exports_with_changes(input_dir, vault):
    sync(input_dir, SEED)
    export_obsidian(vault)
    note = oem_dir(vault) / "Cisco.md"
    text = note.read_text()
    front, body = text.split("---\n", 2)[1:]
    mine_front = "aliases:\n  - Cisco Systems\n# my own comment\nrating: 5\n"
    mine_top = "Intro I wrote, with a [[Link]] and #tag.\n\n"
    mine_bottom = "\n\n## My meeting notes\n- call Jane on Monday\n"
    note.write_text(f"---\n{mine_front}{front}---\n{mine_top}{body.strip()}{mine_bottom}")

    for tier in ("Silver", "Bronze", "Platinum"):
        changed = [list(SEED[0]), *SEED[1:]]
        changed[0][1] = tier
        sync(input_dir, changed)
        export_obsidian(vault)
        text = note.read_text()
        assert f"- **Tier**: {tier}" in text
        assert mine_front in text  # keys, order and comments kept
        assert mine_top in text and text.endswith(mine_bottom)
        props = frontmatter(text)
        assert props["aliases"] == ["Cisco Systems"] and props["rating"] == 5
        assert list(props)[:2] == ["aliases", "rating"]


def test_a_note_without_markers_is_adopted_below_the_persons_text(input_dir, vault):
    folder = oem_dir(vault)
    folder.mkdir(parents=True)
    mine = "---\ntags:\n  - vendor\n---\n# Cisco\n\nOur account team: Bob.\n"
    (folder / "cisco.md").write_text(mine)
    sync(input_dir, SEED)

    result = export_obsidian(vault)

    text = (folder / "cisco.md").read_text()
    assert not (folder / "Cisco.md").exists() or (folder / "Cisco.md").samefile(folder / "cisco.md")
    assert text.index("Our account team: Bob.") < text.index(BEGIN)
    assert frontmatter(text)["tags"] == ["vendor"]
    assert frontmatter(text)["oem_id"] == oem_id("Cisco")
    assert str(folder / "cisco.md") in result.files_written


def test_notes_are_found_again_by_oem_id_after_a_person_renames_them(input_dir, vault):
    sync(input_dir, SEED)
    export_obsidian(vault)
    folder = oem_dir(vault)
    (folder / "Cisco.md").rename(folder / "Vendors - Cisco.md")
    sync(input_dir, [[*SEED[0][:1], "Silver", *SEED[0][2:]], *SEED[1:]])

    export_obsidian(vault)

    assert not (folder / "Cisco.md").exists()
    assert "- **Tier**: Silver" in (folder / "Vendors - Cisco.md").read_text()
    assert "[[Vendors - Cisco\\|Cisco]]" in (folder / "OEM Index.md").read_text()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda t: t.replace(END, ""), "expected one begin and one end marker"),
        (lambda t: t + f"\n{BEGIN}\nmore\n{END}\n", "expected one begin and one end marker"),
        (lambda t: t.replace(END, "%% partner-tiers:end"), "damaged"),
        (lambda t: t.replace("oem: ", "oem: [unclosed ", 1), "frontmatter is not valid YAML"),
        (lambda t: t.replace(BEGIN, "@@").replace(END, BEGIN).replace("@@", END), "before"),
    ],
)
def test_a_damaged_note_is_reported_and_left_byte_identical(input_dir, vault, damage, reason):
    sync(input_dir, SEED)
    export_obsidian(vault)
    note = oem_dir(vault) / "Cisco.md"
    note.write_text(damage(note.read_text()))
    before = note.read_bytes()
    sync(input_dir, [[*SEED[0][:1], "Silver", *SEED[0][2:]], *SEED[1:]])

    out, err, code = run("export_obsidian", "--vault", str(vault), "--format", "json")

    assert code == 1
    assert note.read_bytes() == before
    assert "conflicts" in out and reason in out
    assert "Nutanix.md" in out  # the rest was exported


def marker_tokens(text: str) -> list[tuple[str, int, str, list[str]]]:
    """How markdown-it (CommonMark with tables) reads each line naming a marker: the opening
    token of the block that holds it, its nesting level, its text and its inline parts."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text.split("---\n", 2)[2])
    return [
        (tokens[i - 1].type, tokens[i - 1].level, t.content, [c.type for c in t.children or []])
        for i, t in enumerate(tokens)
        if t.type == "inline" and "partner-tiers" in t.content
    ]


# Each marker alone in a top-level paragraph of plain text: not in a list item, not a row.
STANDALONE = [("paragraph_open", 0, BEGIN, ["text"]), ("paragraph_open", 0, END, ["text"])]


def test_it_renders_each_marker_as_its_own_paragraph_after_bullets_and_tables(input_dir, vault):
    sync(input_dir, SEED)
    export_obsidian(vault)
    folder = oem_dir(vault)
    # The OEM notes' blocks end in a bullet, the index's in a table row.
    assert (folder / "Cisco.md").read_text().split(END)[0].rstrip().endswith(STAMP)
    assert (folder / "OEM Index.md").read_text().split(END)[0].rstrip().endswith("|")
    for name in ("Cisco.md", "Nutanix.md", "OEM Index.md"):
        assert marker_tokens((folder / name).read_text()) == STANDALONE, name


def test_it_renders_the_markers_of_inactive_notes_and_their_index_list_alone(input_dir, vault):
    sync(input_dir, SEED)
    export_obsidian(vault)
    sync(input_dir, SEED[:2])
    export_obsidian(vault)
    folder = oem_dir(vault)
    # The inactive note's block ends in a sentence, the index's in a list item.
    assert (folder / "Nutanix.md").read_text().split(END)[0].rstrip().endswith(".")
    assert "## Inactive" in (folder / "OEM Index.md").read_text()
    for name in ("Nutanix.md", "OEM Index.md"):
        assert marker_tokens((folder / name).read_text()) == STANDALONE, name


def old_layout(text: str) -> str:
    """A note as exports before the blank lines around the markers wrote it."""
    return text.replace(f"{BEGIN}\n\n", f"{BEGIN}\n").replace(f"\n\n{END}", f"\n{END}")


def test_it_rewrites_an_old_layout_note_once_and_keeps_the_persons_blank_lines(input_dir, vault):
    sync(input_dir, SEED)
    export_obsidian(vault)
    folder = oem_dir(vault)
    fresh = {p.name: p.read_text() for p in folder.iterdir()}

    def persons(text: str, gap: str) -> str:  # a person's lines hugging or spaced from the block
        return text.replace(BEGIN, f"Mine above{gap}{BEGIN}").replace(
            f"{END}\n", f"{END}{gap}Mine below\n"
        )

    gaps = {"Cisco.md": "\n", "Nutanix.md": "\n\n\n", "OEM Index.md": "\n\n"}
    for name, gap in gaps.items():
        assert old_layout(fresh[name]) != fresh[name]
        (folder / name).write_text(persons(old_layout(fresh[name]), gap))

    migrated = export_obsidian(vault)

    assert sorted(Path(p).name for p in migrated.files_written) == sorted(gaps)
    for name, gap in gaps.items():
        assert (folder / name).read_text() == persons(fresh[name], gap)
    before = mtimes(folder)
    time.sleep(0.01)
    again = export_obsidian(vault)
    assert again.files_written == [] and len(again.files_unchanged) == 3
    assert mtimes(folder) == before


MARKER_VALUES = [
    "see partner-tiers:end here",
    BEGIN,
    END,
    "Partner-Tiers : Begin",
    "PARTNER-TIERS:END and %% partner-tiers:begin %%",
    "partner\\-tiers:end",
]
FIELDS = ["name", "tier", "program", "oem", "poc", "notes"]


def rows_with(field: str, values: list[str]) -> list[list[str]]:
    rows = []
    for i, value in enumerate(values):
        row = dict(zip(FIELDS, [f"Partner {i}", "Gold", "P", "Acme", "", ""], strict=True))
        row[field] = value
        rows.append([row[f] for f in FIELDS])
    return rows


@pytest.mark.parametrize("field", FIELDS)
def test_it_escapes_marker_text_in_every_field_so_the_note_exports_again(input_dir, vault, field):
    rows = rows_with(field, MARKER_VALUES)
    sync(input_dir, rows)
    folder = oem_dir(vault)

    results = [export_obsidian(vault) for _ in range(3)]
    oems = dict.fromkeys(r[3] for r in rows)
    sync(input_dir, [*rows, *[["Newcomer", "Bronze", "P", oem, "", ""] for oem in oems]])
    results.append(export_obsidian(vault))

    assert [r.conflicts for r in results] == [[], [], [], []]
    assert results[1].files_written == results[2].files_written == []
    stored = PartnerTier.objects.exclude(name="Newcomer").values_list(field, flat=True)
    notes = [p for p in folder.iterdir() if p.name != "OEM Index.md"]
    shown = ""
    for note in notes:
        text = note.read_text()
        body = text.split("---\n", 2)[2]  # the frontmatter may quote values as they are
        assert body.count(BEGIN) == body.count(END) == 1, note.name
        assert marker_tokens(text) == STANDALONE, note.name
        assert "### Newcomer" in body
        shown += html.unescape(MarkdownIt("commonmark").render(body))
    for value in stored:  # readable as it was given
        assert value in shown, value


def test_it_escapes_marker_text_in_oem_names_shown_in_the_index(input_dir, vault):
    sync(input_dir, rows_with("oem", MARKER_VALUES))
    results = [export_obsidian(vault) for _ in range(2)]
    assert [r.conflicts for r in results] == [[], []]
    index = (oem_dir(vault) / "OEM Index.md").read_text().split("---\n", 2)[2]
    assert index.count(BEGIN) == index.count(END) == 1
    shown = html.unescape(MarkdownIt("commonmark").enable("table").render(index))
    assert "|see partner-tiers:end here]]" in shown and f"|{BEGIN}]]" in shown


# Pieces a marker is made of (and of near misses), so that examples spell markers often.
MARKER_LIKE = st.lists(
    st.sampled_from(["partner-tiers", "Partner-Tiers", ":", " : ", "begin", "END", "%%", " "])
    | st.sampled_from(["\\", "-", "partner", "tiers", "x"]),
    min_size=1,
    max_size=8,
).map("".join)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.sampled_from(FIELDS), MARKER_LIKE), min_size=1, max_size=4))
@example([("notes", "see partner-tiers:end here"), ("oem", "%% partner-tiers:begin %%")])
def test_any_marker_like_text_in_any_field_never_makes_a_conflict(tmp_path_factory, cases):
    vault = tmp_path_factory.mktemp("vault")
    PartnerTier.objects.all().delete()
    for i, (field, text) in enumerate(cases):
        row: dict[str, str | None] = {"name": f"P{i}", "tier": "Gold", "program": "P"}
        row |= {"oem": "Acme", "poc": None, "notes": None}
        row[field] = f"{text} {i}"
        PartnerTier.objects.create(**row)

    results = [export_obsidian(vault) for _ in range(2)]

    assert [r.conflicts for r in results] == [[], []]
    assert results[1].files_written == []


def test_an_export_with_no_data_change_writes_nothing(input_dir, vault):
    sync(input_dir, SEED)
    export_obsidian(vault)
    before = mtimes(oem_dir(vault))
    time.sleep(0.01)

    result = export_obsidian(vault)

    assert result.files_written == []
    assert len(result.files_unchanged) == 3
    assert mtimes(oem_dir(vault)) == before


def test_an_unrelated_change_rewrites_only_that_oems_note(input_dir, vault):
    sync(input_dir, SEED)
    export_obsidian(vault)
    sync(input_dir, [*SEED[:2], ["Tech Solutions", "Gold", "Nutanix Elevate", "Nutanix", "", ""]])

    result = export_obsidian(vault)

    assert sorted(Path(p).name for p in result.files_written) == ["Nutanix.md", "OEM Index.md"]


def test_an_oem_without_records_keeps_its_note_as_inactive(input_dir, vault):
    sync(input_dir, SEED)
    export_obsidian(vault)
    note = oem_dir(vault) / "Nutanix.md"

    sync(input_dir, SEED[:2])
    result = export_obsidian(vault)

    text = note.read_text()
    props = frontmatter(text)
    assert props["status"] == "inactive" and props["partner_count"] == 0
    assert f"No partner tiers since {props['inactive_since']}." in text
    assert result.inactive == [str(note)]
    assert result.oems_count == 1
    assert "## Inactive" in (oem_dir(vault) / "OEM Index.md").read_text()
    assert export_obsidian(vault).files_written == []  # stays put, no churn


def test_prune_moves_untouched_inactive_notes_to_the_trash_and_keeps_edited_ones(input_dir, vault):
    sync(input_dir, SEED)
    export_obsidian(vault)
    sync(input_dir, [SEED[0]])
    export_obsidian(vault)  # Global Tech left Cisco? no: Nutanix is now inactive
    folder = oem_dir(vault)
    edited = folder / "Nutanix.md"
    edited.write_text(edited.read_text() + "\nMy note.\n")
    sync(input_dir, [["Someone", "Gold", "P", "Dell", "", ""]])
    export_obsidian(vault)  # Cisco inactive too, untouched

    result = export_obsidian(vault, prune=True)

    assert not (folder / "Cisco.md").exists()
    assert (vault / ".trash" / "Cisco.md").exists()
    assert result.trashed == [str(vault / ".trash" / "Cisco.md")]
    assert edited.exists() and "My note." in edited.read_text()


def test_the_index_links_every_oem_with_counts_per_tier(input_dir, vault):
    sync(input_dir, SEED)
    export_obsidian(vault)
    index = (oem_dir(vault) / "OEM Index.md").read_text()
    assert "| [[Cisco]] | 2 | 1 | 1 | 0 | 0 | 0 |" in index
    assert "| [[Nutanix]] | 1 | 1 | 0 | 0 | 0 | 0 |" in index


HOSTILE_VALUES = [
    "[[x]]",
    "#tag",
    "---",
    "| a | b |",
    "<script>alert(1)</script>",
    "%% comment %%",
    "![[embed]]",
    "line one\nline two\n\n## not a heading",
    "*bold* _it_ `code` ~~s~~ ==hl== $x$ ^block [^1]",
    "<div>html block</div>",
    "# not a heading",
]


def test_hostile_values_stay_one_heading_per_partner_and_plain_text(input_dir, vault):
    def one_line(value: str) -> str:  # only notes may hold line breaks
        return " ".join(value.split())

    rows = [
        [f"{one_line(value)} {i}", "Gold", one_line(value), "Acme", one_line(value), value]
        for i, value in enumerate(HOSTILE_VALUES)
    ]
    rows.append(["<b>Name</b> | x", "Gold", "P", "Acme", "", ""])
    sync(input_dir, rows)
    export_obsidian(vault)
    text = (oem_dir(vault) / "Acme.md").read_text()

    tokens = MarkdownIt("commonmark").enable("table").parse(text.split("---\n", 2)[2])
    kinds = [t.type for t in tokens]
    h3 = [t for t in tokens if t.type == "heading_open" and t.tag == "h3"]
    assert len(h3) == len(rows)
    assert "html_block" not in kinds and "table_open" not in kinds
    assert not [
        t
        for t in tokens
        if t.type == "inline" and any(c.type == "html_inline" for c in (t.children or []))
    ]
    names = [tokens[i + 1].content for i, t in enumerate(tokens) if t in h3]
    rendered = MarkdownIt("commonmark").render(text.split("---\n", 2)[2])
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
    assert len(names) == len(rows)
    props = frontmatter(text)
    assert props["programs"] == sorted({r[2] for r in rows}, key=lambda p: (p.casefold(), p))
    assert props["partner_count"] == len(rows)


def test_the_frontmatter_quotes_strings_and_keeps_numbers_numbers(input_dir, vault):
    sync(input_dir, [["Acme", "Gold", "yes", "123", "", ""]])
    export_obsidian(vault)
    text = (oem_dir(vault) / "123.md").read_text()
    props = frontmatter(text)
    assert props["oem"] == "123" and props["programs"] == ["yes"]
    assert props["partner_count"] == 1
    assert 'oem: "123"' in text


def test_the_note_layout_comes_from_an_overridable_template(input_dir, vault, tmp_path, settings):
    custom = tmp_path / "templates"
    custom.mkdir()
    (custom / "oem_note.md").write_text(
        "# {{ oem }}\n{% for p in partners %}* {{ p.name }}\n{% endfor %}"
    )
    engines_setting = [dict(t) for t in settings.TEMPLATES]
    engines_setting[1]["DIRS"] = [custom, *engines_setting[1]["DIRS"]]
    settings.TEMPLATES = engines_setting
    sync(input_dir, SEED)

    export_obsidian(vault)

    assert (
        f"{BEGIN}\n\n# Cisco\n* Global Tech Partners\n* Red River Technology\n\n{END}"
        in (oem_dir(vault) / "Cisco.md").read_text()
    )


def test_the_command_needs_a_vault(settings):
    settings.VAULT_ROOT = None
    out, err, code = run("export_obsidian")
    assert code == 2 and "VAULT_ROOT environment variable not set" in err


def test_the_command_refuses_a_vault_that_is_not_a_directory(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    _, err, code = run("export_obsidian", "--vault", str(path))
    assert code == 2 and "is not a directory" in err


def test_the_command_prints_the_json_result(input_dir, vault, settings):
    settings.VAULT_ROOT = vault
    sync(input_dir, SEED)
    out, _, code = run("export_obsidian", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert list(data)[:6] == [
        "status",
        "files_written",
        "files_unchanged",
        "conflicts",
        "inactive",
        "oems_count",
    ]
    assert data["status"] == "success" and data["oems_count"] == 2


def test_a_dry_run_writes_nothing(input_dir, vault):
    sync(input_dir, SEED)
    result = export_obsidian(vault, dry_run=True)
    assert len(result.files_written) == 3
    assert not (vault / "30 Hubs").exists()


def test_a_symlinked_folder_leading_out_of_the_vault_is_refused(input_dir, vault, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (vault / "30 Hubs").symlink_to(outside)
    sync(input_dir, SEED)

    _, err, code = run("export_obsidian", "--vault", str(vault))

    assert code == 2 and "leads outside the vault" in err
    assert list(outside.iterdir()) == []


def test_a_symlinked_note_pointing_outside_gets_no_write_through_it(input_dir, vault, tmp_path):
    outside = tmp_path / "secret.md"
    outside.write_text("do not touch\n")
    folder = oem_dir(vault)
    folder.mkdir(parents=True)
    (folder / "Cisco.md").symlink_to(outside)
    sync(input_dir, SEED)

    result = export_obsidian(vault)

    assert outside.read_text() == "do not touch\n"
    assert {"path": str(folder / "Cisco.md"), "reason": "is a symbolic link"} in result.conflicts
    assert (folder / "Cisco.md").is_symlink()


def test_an_applied_sync_exports_when_auto_export_is_on(input_dir, vault, settings):
    settings.VAULT_ROOT = vault
    settings.PARTNERS_AUTO_EXPORT = True
    sync(input_dir, SEED)
    assert (oem_dir(vault) / "Cisco.md").exists()
    settings.PARTNERS_AUTO_EXPORT = False
    PartnerTier.objects.all().delete()
    sync(input_dir, [["Other", "Gold", "P", "Dell", "", ""]])
    assert not (oem_dir(vault) / "Dell.md").exists()


def test_a_failing_auto_export_is_a_warning_not_a_failed_sync(input_dir, tmp_path, settings):
    settings.VAULT_ROOT = tmp_path / "missing-vault"
    settings.PARTNERS_AUTO_EXPORT = True
    result = sync(input_dir, SEED)
    assert any("Obsidian export failed" in w for w in result.warnings)


def test_vault_root_must_be_set():
    with pytest.raises(VaultError, match="VAULT_ROOT environment variable not set"):
        export_obsidian(None)


def test_temp_files_left_by_a_killed_export_are_swept_and_others_kept(input_dir, vault):
    sync(input_dir, SEED)
    folder = oem_dir(vault)
    folder.mkdir(parents=True)
    leftover = folder / ".Cisco.md.k2j4_x9a.tmp"
    leftover.write_text("half a note")
    mine = folder / ".my-scratch.tmp"
    mine.write_text("a person's file")

    export_obsidian(vault)

    assert not leftover.exists()
    assert mine.read_text() == "a person's file"


# Non-regular files in the vault. An export of three OEMs takes well under a second; 30 s
# leaves room for a busy 2-core CI machine while a hang on a FIFO still fails the test.
HANG_SECONDS = 30


@contextmanager
def fails_if_it_hangs(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """SIGALRM interrupts a blocking open() of a FIFO and fails the test instead."""

    def hung(signum, frame):
        raise TimeoutError(f"the export hung for {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_folder(path: Path) -> None:
    path.mkdir()
    (path / "inside.md").write_text("a person's file\n")


NOT_REGULAR = {
    "fifo": (make_fifo, stat.S_ISFIFO, "is a FIFO, not a regular file"),
    "folder": (make_folder, stat.S_ISDIR, "is a folder, not a regular file"),
}


@pytest.mark.parametrize("name", ["Cisco.md", "OEM Index.md"])
@pytest.mark.parametrize("kind", sorted(NOT_REGULAR))
def test_it_skips_a_fifo_or_folder_at_a_notes_path_as_a_conflict(input_dir, vault, kind, name):
    make, is_kind, reason = NOT_REGULAR[kind]
    folder = oem_dir(vault)
    folder.mkdir(parents=True)
    make(folder / name)
    make(folder / "Projects.md")  # where no note goes: not the exporter's business
    sync(input_dir, SEED)

    with fails_if_it_hangs():
        out, err, code = run("export_obsidian", "--vault", str(vault), "--format", "json")

    assert code == 1, err
    data = json.loads(out)
    assert data["conflicts"] == [{"path": str(folder / name), "reason": reason}]
    assert is_kind(os.lstat(folder / name).st_mode)
    written = {"Cisco.md", "Nutanix.md", "OEM Index.md"} - {name}
    assert sorted(Path(p).name for p in data["files_written"]) == sorted(written)
    if kind == "folder":
        assert (folder / name / "inside.md").read_text() == "a person's file\n"


def test_a_fifo_note_stays_a_conflict_on_every_export_and_a_dry_run(input_dir, vault):
    sync(input_dir, SEED)
    export_obsidian(vault)
    note = oem_dir(vault) / "Cisco.md"
    note.unlink()
    os.mkfifo(note)

    with fails_if_it_hangs():
        dry = export_obsidian(vault, dry_run=True)
        again = [export_obsidian(vault) for _ in range(2)]

    for result in (dry, *again):
        assert result.conflicts == [{"path": str(note), "reason": "is a FIFO, not a regular file"}]
    assert stat.S_ISFIFO(os.lstat(note).st_mode)


def test_it_trashes_a_note_past_a_fifo_a_folder_and_a_dangling_link_in_the_trash(input_dir, vault):
    sync(input_dir, SEED)
    export_obsidian(vault)
    trash = vault / ".trash"
    trash.mkdir()
    os.mkfifo(trash / "Nutanix.md")
    make_folder(trash / "Nutanix 1.md")
    (trash / "Nutanix 2.md").symlink_to(vault / "gone.md")
    sync(input_dir, SEED[:2])

    with fails_if_it_hangs():
        result = export_obsidian(vault, prune=True)

    assert result.conflicts == []
    assert result.trashed == [str(trash / "Nutanix 3.md")]
    assert "Nutanix" in (trash / "Nutanix 3.md").read_text()
    assert stat.S_ISFIFO(os.lstat(trash / "Nutanix.md").st_mode)
    assert (trash / "Nutanix 1.md" / "inside.md").exists()
    assert os.readlink(trash / "Nutanix 2.md") == str(vault / "gone.md")


@pytest.mark.parametrize(
    "make", [make_fifo, lambda p: p.write_text("not a folder\n")], ids=["fifo", "file"]
)
def test_it_keeps_the_note_when_the_trash_is_not_a_folder(input_dir, vault, make):
    sync(input_dir, SEED)
    export_obsidian(vault)
    make(vault / ".trash")
    note = oem_dir(vault) / "Nutanix.md"
    sync(input_dir, SEED[:2])

    with fails_if_it_hangs():
        out, err, code = run(
            "export_obsidian", "--vault", str(vault), "--prune", "--format", "json"
        )

    assert code == 1, err
    data = json.loads(out)
    assert data["conflicts"] == [{"path": str(note), "reason": ".trash is not a folder"}]
    assert data["trashed"] == []
    assert note.exists()


@pytest.mark.parametrize("person_property", [False, True])
def test_an_oem_with_records_again_is_active_without_its_inactive_since(
    input_dir, vault, person_property
):
    note = oem_dir(vault) / "Dell.md"
    dell, cisco = ["Acme", "Gold", "P", "Dell", "", ""], ["Acme", "Gold", "P", "Cisco", "", ""]
    sync(input_dir, [dell])
    export_obsidian(vault)
    sync(input_dir, [cisco])
    export_obsidian(vault)
    assert frontmatter(note.read_text())["status"] == "inactive"
    if person_property:
        note.write_text(note.read_text().replace('type: "oem"\n', 'type: "oem"\nmine: 1\n'))
    sync(input_dir, [dell])
    export_obsidian(vault)
    properties = frontmatter(note.read_text())
    assert properties["status"] == "active" and "inactive_since" not in properties
    assert properties.get("mine") == (1 if person_property else None)
    assert export_obsidian(vault).files_written == []


def test_each_note_ends_with_its_oems_recent_tier_changes(input_dir, vault, settings):
    settings.PARTNERS_NOTE_RECENT_CHANGES = 3
    sync(input_dir, SEED)
    changed = [["Red River Technology", "Platinum", "Cisco PTP", "Cisco", "John Doe", ""]]
    sync(input_dir, [*changed, *SEED[1:]], prune=True)
    sync(input_dir, [[*changed[0][:1], "Silver", *changed[0][2:]], *SEED[1:]], prune=True)
    export_obsidian(vault)
    text = (oem_dir(vault) / "Cisco.md").read_text()
    block = text[text.index("## Recent changes") : text.index(END)]
    lines = [line for line in block.splitlines() if line.startswith("- ")]
    today = LedgerEntry.objects.latest("id").at.date().isoformat()
    assert lines == [
        f"- {today} ↓ Red River Technology: Platinum → Silver",
        f"- {today} ↑ Red River Technology: Gold → Platinum",
        f"- {today} new: Global Tech Partners, Platinum",
    ]
    rendered = MarkdownIt().render(text)
    assert "<h2>Recent changes</h2>" in rendered
    assert f"<li>{lines[1][2:]}</li>" in rendered
    assert export_obsidian(vault).files_written == []


def test_recent_changes_can_be_turned_off(input_dir, vault, settings):
    settings.PARTNERS_NOTE_RECENT_CHANGES = 0
    sync(input_dir, SEED)
    export_obsidian(vault)
    assert "Recent changes" not in (oem_dir(vault) / "Cisco.md").read_text()


def test_an_inactive_oems_note_lists_its_removals(input_dir, vault, settings):
    settings.PARTNERS_NOTE_RECENT_CHANGES = 10
    sync(input_dir, SEED)
    export_obsidian(vault)
    sync(input_dir, SEED[:2], prune=True)
    export_obsidian(vault)
    text = (oem_dir(vault) / "Nutanix.md").read_text()
    assert 'status: "inactive"' in text
    assert "removed: Tech Solutions (was Platinum)" in text
    assert export_obsidian(vault).files_written == []
