"""Programs and their tier ladders: the catalog, its file and its commands, ranking, spelling,
aliases, unknown tiers and near-duplicate spellings through every door."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from partners.models import LedgerEntry, PartnerTier, Program, ProgramTier, SyncRun
from partners.programs import (
    SHIPPED,
    Catalog,
    Entry,
    load_catalog,
    read_entries,
    rename_tier,
)
from partners.report import period, report
from partners.sync import StaleState, run_sync
from partners.tokens import create_token
from tests.helpers import run, write_csv

pytestmark = pytest.mark.django_db

CISCO = Entry("Cisco", None, ("Select", "Premier", "Gold"), (("gold partner", "Gold"),))
AWS = Entry("AWS", None, ("Select", "Advanced", "Premier"))
DELL = Entry("Dell", None, ("Authorized", "Gold", "Platinum", "Titanium", "Titanium Black"))
CISCO_360 = Entry("Cisco", "Cisco 360", ("Partner", "Preferred Partner"))


def catalog_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "programs.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load(*entries: Entry) -> None:
    from partners.programs import import_catalog

    import_catalog(entries, {})


def shipped_ladders() -> dict[tuple[str, str | None], list[str]]:
    document = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    return {(p["oem"], p["program"]): p["tiers"] for p in document["programs"]}


# The catalog: ranking, spelling, aliases, directions.


def test_a_ladder_ranks_its_tiers_lowest_first_and_spells_them_and_their_aliases():
    catalog = Catalog([CISCO, AWS])
    assert catalog.ladder("cisco", "Cisco PTP") == ("Select", "Premier", "Gold")
    assert [catalog.rank("Cisco", None, t) for t in ("select", "PREMIER", "Gold")] == [0, 1, 2]
    assert catalog.spell("Cisco", "Cisco PTP", "gold partner") == "Gold"
    assert catalog.rank("Cisco", None, "Gold Partner") == 2
    assert catalog.spell("Cisco", None, "Goldd") == "Goldd"
    assert catalog.rank("Cisco", None, "Goldd") is None
    assert catalog.ladder("Fortinet", None) is None


def test_premier_is_the_top_at_aws_and_the_middle_at_cisco():
    catalog = Catalog([CISCO, AWS])
    assert catalog.direction("AWS", "APN", "Advanced", "Premier") == "up"
    assert catalog.direction("Cisco", "PTP", "Gold", "Premier") == "down"
    assert catalog.direction("AWS", "APN", "Select", "Advanced") == "up"


def test_a_programs_own_ladder_comes_before_the_oems_default():
    catalog = Catalog([CISCO, CISCO_360])
    assert catalog.ladder("Cisco", "cisco 360") == ("Partner", "Preferred Partner")
    assert catalog.direction("Cisco", "Cisco 360", "Preferred Partner", "Partner") == "down"
    assert catalog.ladder("Cisco", "Cisco PTP") == ("Select", "Premier", "Gold")


def test_without_a_ladder_ranking_both_the_global_ranking_decides():
    catalog = Catalog([CISCO])
    assert catalog.direction("Nutanix", None, "Gold", "Platinum") == "up"
    assert catalog.direction("Fortinet", None, "Expert", "Advocate") == "changed"
    assert catalog.direction("Cisco", None, "Goldd", "Premier") == "changed"


@given(
    st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=12).filter(
            lambda t: t.strip()
        ),
        min_size=2,
        max_size=8,
        unique_by=lambda t: " ".join(t.split()),
    ),
    st.data(),
)
def test_for_any_ladder_and_two_of_its_tiers_the_direction_is_the_ladders_order(tiers, data):
    ladder = tuple(" ".join(t.split()) for t in tiers)
    catalog = Catalog([Entry("Acme", None, ladder)])
    low, high = sorted(
        data.draw(
            st.lists(st.sampled_from(range(len(ladder))), min_size=2, max_size=2, unique=True)
        )
    )
    assert catalog.direction("Acme", "Any", ladder[low], ladder[high]) == "up"
    assert catalog.direction("acme", None, ladder[high].upper(), ladder[low]) == "down"


# The file and the commands.


def test_the_shipped_catalog_loads_into_an_empty_database():
    out, err, code = run("programs", "load")
    assert (code, err) == (0, "")
    assert out == f"Programs: created {len(shipped_ladders())}, refreshed 0.\n"
    loaded = {(e.oem, e.program): list(e.tiers) for e in read_entries()[0]}
    assert loaded == shipped_ladders()
    assert loaded[("Cisco", None)] == ["Select", "Premier", "Gold"]
    assert loaded[("Dell", None)] == [
        "Authorized",
        "Gold",
        "Platinum",
        "Titanium",
        "Titanium Black",
    ]


def test_loading_again_never_overwrites_a_ladder_a_person_changed():
    run("programs", "load")
    cisco = Program.objects.get(oem="Cisco", program=None)
    ProgramTier.objects.create(program=cisco, position=3, name="Gold Plus")  # a person's edit
    aws = Program.objects.get(oem="AWS")
    aws.tiers.all().delete()  # a person emptied AWS's ladder

    out, err, code = run("programs", "load")

    assert (out, code) == ("Programs: created 0, refreshed 0; kept 2 a person changed.\n", 0)
    assert load_catalog().ladder("Cisco", None) == ("Select", "Premier", "Gold", "Gold Plus")
    assert load_catalog().ladder("AWS", None) is None


def test_a_program_nobody_changed_is_refreshed_when_the_shipped_catalog_changes(tmp_path, settings):
    first = "programs:\n  - {oem: Acme, program: null, tiers: [Bronze, Silver], aliases: {}}\n"
    settings.PARTNERS_PROGRAMS_PATH = catalog_file(tmp_path, first)
    run("programs", "load")
    settings.PARTNERS_PROGRAMS_PATH.write_text(first.replace("Silver]", "Silver, Gold]"))

    out, _, code = run("programs", "load")

    assert (out, code) == ("Programs: created 0, refreshed 1.\n", 0)
    assert load_catalog().ladder("Acme", None) == ("Bronze", "Silver", "Gold")


def test_export_then_import_is_a_byte_identical_round_trip(tmp_path):
    run("programs", "load")
    load(Entry("Café Systèmes", "Programme: Élite", ("Yes", "No", "Gold #1")))
    exported, _, code = run("programs", "export")
    assert code == 0 and exported.startswith("programs:\n  - oem: AWS\n")
    assert "    tiers: [Select, Premier, Gold]\n" in exported
    assert '    aliases: {"gold partner": Gold, "gold certified": Gold}\n' in exported
    Program.objects.all().delete()

    out, err, code = run("programs", "import", str(catalog_file(tmp_path, exported)))

    assert (err, code) == ("", 0)
    assert (
        out
        == f"Imported {len(shipped_ladders()) + 1} programs from {tmp_path / 'programs.yaml'}.\n"
    )
    assert run("programs", "export")[0] == exported


def test_import_replaces_by_oem_and_program_and_leaves_the_others(tmp_path):
    run("programs", "load")
    path = catalog_file(
        tmp_path,
        "programs:\n  - oem: cisco\n    program: null\n"
        "    tiers: [Select, Premier, Gold, Diamond]\n",
    )
    assert run("programs", "import", str(path))[2] == 0
    catalog = load_catalog()
    assert catalog.ladder("Cisco", None) == ("Select", "Premier", "Gold", "Diamond")
    assert catalog.ladder("AWS", None) == ("Select", "Advanced", "Premier")
    assert Program.objects.filter(oem_key="cisco", program_key="").count() == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "programs:\n  - {oem: Acme, program: null, tiers: [Gold]}\n"
            "  - {oem: Beta, program: P, tiers: Gold}\n",
            "programs[1] (Beta P): tiers: expected a list of tiers, lowest first",
        ),
        (
            "programs:\n  - {oem: Acme, program: null, tiers: [Gold]}\n"
            "  - {oem: Beta, program: null, tiers: [Gold, gold]}\n",
            "programs[1] (Beta): tiers: 'gold' is listed twice",
        ),
        (
            "programs:\n  - {oem: Acme, program: null, tiers: [Gold], aliases: {gp: Goldd}}\n",
            "programs[0] (Acme): aliases: 'gp' names 'Goldd', not on the ladder",
        ),
        ("programs:\n  - {program: X, tiers: [Gold]}\n", "programs[0]: oem: missing"),
        (
            "programs:\n  - {oem: Acme, tiers: [Gold], rank: 1}\n",
            "programs[0] (Acme): rank: unknown key",
        ),
        (
            "programs:\n  - {oem: Acme, tiers: [Gold]}\n"
            "  - {oem: ACME, program: null, tiers: [A]}\n",
            "programs[1] (ACME): program: also at programs[0]",
        ),
        ("partners: []\n", "expected a mapping with a 'programs' list"),
        ("programs: [\n", "not valid YAML"),
    ],
)
def test_a_bad_catalog_file_names_the_entry_and_key_and_imports_nothing(tmp_path, text, message):
    path = catalog_file(tmp_path, text)
    out, err, code = run("programs", "import", str(path))
    assert (out, code) == ("", 2)
    assert err.startswith(f"CommandError: {path}: ")
    assert message in err
    assert err.endswith("; nothing was imported\n")
    assert not Program.objects.exists()


def test_importing_a_missing_file_is_exit_2(tmp_path):
    out, err, code = run("programs", "import", str(tmp_path / "nope.yaml"))
    assert (out, code) == ("", 2)
    assert (
        err == f"CommandError: Failed to read {tmp_path / 'nope.yaml'}: No such file or directory\n"
    )


# The sync: spelling, directions, warnings, strict mode, fingerprint.

ROWS = [
    ["Presidio", "Gold", "Cisco Partner Program", "Cisco", "", ""],
    ["Effectual", "Advanced", "AWS Partner Network", "AWS", "", ""],
    ["SHI International", "Gold", "Dell Technologies Partner Program", "Dell", "", ""],
]


@pytest.fixture
def ladders():
    load(CISCO, AWS, DELL)


@pytest.fixture
def synced(ladders, input_dir):
    assert run_sync([write_csv(input_dir / "base.csv", ROWS)], apply=True).applied


def sync_json(*args: str) -> tuple[dict, str, int]:
    out, err, code = run("sync_partners", *args, "--format", "json")
    return json.loads(out), err, code


def test_a_tier_is_spelled_as_its_ladder_spells_it(ladders, input_dir):
    path = write_csv(input_dir / "a.csv", [["ePlus", "gold partner", "Cisco PTP", "cisco", "", ""]])
    data, _, code = sync_json(str(path), "--apply")
    assert code == 0 and data["warnings"] == []
    assert PartnerTier.objects.get(name="ePlus").tier == "Gold"


def test_directions_follow_each_oems_ladder_in_the_sync_result(synced, input_dir):
    rows = [
        ["Presidio", "Premier", "Cisco Partner Program", "Cisco", "", ""],  # Gold → Premier: down
        ["Effectual", "premier", "AWS Partner Network", "AWS", "", ""],  # up at AWS
        ["SHI International", "Platinum", "Dell Technologies Partner Program", "Dell", "", ""],
    ]
    data, _, code = sync_json(str(write_csv(input_dir / "b.csv", rows)), "--apply")
    assert code == 0
    tiers = {u["name"]: u["changes"]["tier"] for u in data["updated"]}
    assert tiers == {
        "Presidio": {"old": "Gold", "new": "Premier", "direction": "down"},
        "Effectual": {"old": "Advanced", "new": "Premier", "direction": "up"},
        "SHI International": {"old": "Gold", "new": "Platinum", "direction": "up"},
    }
    changes = report(period(None, None), run_id=data["run_id"])
    assert {c["name"]: c["direction"] for c in changes["changes"]} == {
        "Presidio": "down",
        "Effectual": "up",
        "SHI International": "up",
    }


def test_a_tier_off_its_ladder_is_kept_as_written_and_warned_about_once_per_file(
    ladders, input_dir
):
    rows = [
        ["A", "Goldd", "Cisco PTP", "Cisco", "", ""],
        ["B", "goldd", "Cisco PTP", "Cisco", "", ""],
        ["C", "Unobtanium", "Dell Technologies Partner Program", "Dell", "", ""],
        ["D", "Expert", "Fortinet Engage", "Fortinet", "", ""],  # no ladder: no warning
    ]
    data, _, code = sync_json(str(write_csv(input_dir / "c.csv", rows)), "--apply")
    assert code == 0
    assert data["warnings"] == [
        "c.csv: Line 2: 'Goldd' is not a Cisco tier: Select, Premier, Gold (2 records)",
        "c.csv: Line 4: 'Unobtanium' is not a Dell tier: Authorized, Gold, Platinum, Titanium, "
        "Titanium Black",
    ]
    assert PartnerTier.objects.get(name="A").tier == "Goldd"


def test_strict_tiers_make_an_off_ladder_tier_an_error_and_nothing_is_written(
    ladders, input_dir, settings
):
    settings.PARTNERS_STRICT_TIERS = True
    rows = [
        ["A", "Gold", "Cisco PTP", "Cisco", "", ""],
        ["B", "Goldd", "Cisco PTP", "Cisco", "", ""],
    ]
    data, err, code = sync_json(str(write_csv(input_dir / "d.csv", rows)), "--apply")
    assert code == 1
    assert data["errors"] == [
        {
            "file": "d.csv",
            "line": 3,
            "field": "tier",
            "message": "d.csv: Line 3: 'Goldd' is not a Cisco tier: Select, Premier, Gold",
        }
    ]
    assert not PartnerTier.objects.exists()


def test_a_new_oem_spelling_close_to_a_known_one_is_a_warning(synced, input_dir):
    rows = [
        ["Acme", "Gold", "Cisco PTP", "Cisco Systems", "", ""],
        ["Beta", "Gold", "Partner Program", "Fortinet", "", ""],  # new, like nothing known
    ]
    data, _, code = sync_json(str(write_csv(input_dir / "e.csv", rows)))
    assert code == 0
    assert data["warnings"] == ["'Cisco Systems' looks like 'Cisco' — add it as an alias?"]


def test_a_new_oem_like_one_only_in_the_database_is_a_warning(input_dir):
    rows = [["A", "Elite", "NextWave", "Palo Alto Networks", "", ""]]
    run_sync([write_csv(input_dir / "a.csv", rows)], apply=True)
    rows = [["B", "Elite", "NextWave", "Palo Alto Network", "", ""]]
    data, _, _ = sync_json(str(write_csv(input_dir / "b.csv", rows)))
    assert data["warnings"] == [
        "'Palo Alto Network' looks like 'Palo Alto Networks' — add it as an alias?"
    ]


def test_a_program_spelling_close_to_a_catalog_program_is_a_warning(input_dir):
    load(CISCO, CISCO_360)
    rows = [
        ["A", "Partner", "Cisco 360 Program", "Cisco", "", ""],
        ["B", "Gold", "Cisco Partner Program", "Cisco", "", ""],  # not like "Cisco 360"
    ]
    data, _, _ = sync_json(str(write_csv(input_dir / "a.csv", rows)))
    assert data["warnings"] == [
        "a.csv: Line 2: 'Partner' is not a Cisco tier: Select, Premier, Gold",
        "'Cisco 360 Program' looks like 'Cisco 360' — add it as an alias?",
    ]


def test_an_oem_alias_in_the_catalog_spells_the_oem(ladders, input_dir):
    from partners.programs import save_oem_aliases

    save_oem_aliases({"Cisco Systems": "Cisco"})
    rows = [["Acme", "gold partner", "Cisco PTP", "Cisco Systems", "", ""]]
    data, _, code = sync_json(str(write_csv(input_dir / "a.csv", rows)), "--apply")
    assert (code, data["warnings"]) == (0, [])
    assert PartnerTier.objects.get(name="Acme").oem == "Cisco"
    assert PartnerTier.objects.get(name="Acme").tier == "Gold"


def test_warnings_are_bounded(ladders, input_dir):
    rows = [[f"P{i}", f"Tier {i}", "Cisco PTP", "Cisco", "", ""] for i in range(30)]
    data, _, _ = sync_json(str(write_csv(input_dir / "a.csv", rows)))
    assert len(data["warnings"]) == 11
    assert data["warnings"][-1] == "… and 20 more like this"


def test_a_confirm_computed_under_another_catalog_is_refused(synced, input_dir):
    rows = [["Presidio", "Premier", "Cisco Partner Program", "Cisco", "", ""]]
    path = write_csv(input_dir / "b.csv", rows)
    preview = run_sync([path])
    load(Entry("Cisco", None, ("Premier", "Select", "Gold")))  # the ladder changed since
    with pytest.raises(StaleState):
        run_sync([path], apply=True, expected_fingerprint=preview.fingerprint)
    assert PartnerTier.objects.get(name="Presidio").tier == "Gold"
    assert run_sync([path], apply=True, expected_fingerprint=run_sync([path]).fingerprint).applied


def test_renaming_a_tier_keeps_records_and_history_readable(synced, input_dir):
    rows = [["Presidio", "Select", "Cisco Partner Program", "Cisco", "", ""]]
    result = run_sync([write_csv(input_dir / "b.csv", rows)], apply=True)
    rename_tier(Program.objects.get(oem="Cisco", program=None), "Select", "Select Integrator")

    catalog = load_catalog()
    assert catalog.ladder("Cisco", None) == ("Select Integrator", "Premier", "Gold")
    assert catalog.rank("Cisco", None, "Select") == 0  # the record and the ledger say "Select"
    changes = report(period(None, None), run_id=result.run_id)["changes"]
    assert [(c["from"], c["to"], c["direction"]) for c in changes] == [("Gold", "Select", "down")]
    entry = LedgerEntry.objects.get(run_id=result.run_id)
    from partners.ledger import field_rows

    assert field_rows(entry, catalog)[0]["direction"] == "down"
    # The next sync of the old spelling writes the new one; neither up nor down.
    again = run_sync([input_dir / "b.csv"], apply=True)
    assert [u.changes["tier"] for u in again.plan.updated] == [
        {"old": "Select", "new": "Select Integrator", "direction": "changed"}
    ]


# The API and the admin.


def user_with(django_user_model, name: str, *codenames: str):
    user = django_user_model.objects.create_user(name, password="pw")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def token_client(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {create_token(user)[1]}")


def test_the_api_lists_programs_with_their_ladders_lowest_first(django_user_model):
    load(CISCO_360, CISCO, AWS)
    client = token_client(user_with(django_user_model, "viewer", "view_program"))
    response = client.get("/v1/partners/programs")
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {"oem": "AWS", "program": None, "tiers": ["Select", "Advanced", "Premier"]},
            {"oem": "Cisco", "program": None, "tiers": ["Select", "Premier", "Gold"]},
            {"oem": "Cisco", "program": "Cisco 360", "tiers": ["Partner", "Preferred Partner"]},
        ],
        "count": 3,
    }


def test_the_programs_list_needs_the_view_permission(django_user_model):
    client = token_client(user_with(django_user_model, "nobody", "view_partnertier"))
    response = client.get("/v1/partners/programs")
    assert response.status_code == 403
    assert response.json()["detail"] == "Permission denied: this needs the view permission"
    assert Client().get("/v1/partners/programs").status_code == 401


def test_an_api_sync_lists_the_flags_as_warnings(ladders, input_dir, django_user_model):
    write_csv(
        input_dir / "partners_a.csv",
        [["A", "Goldd", "PTP", "Cisco Systems", "", ""], ["B", "Goldd", "PTP", "Cisco", "", ""]],
    )
    client = token_client(
        user_with(django_user_model, "syncer", "sync_partnertier", "view_partnertier")
    )
    response = client.post("/v1/partners/sync", {}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["warnings"] == [
        "partners_a.csv: Line 3: 'Goldd' is not a Cisco tier: Select, Premier, Gold",
        "'Cisco Systems' looks like 'Cisco' — add it as an alias?",
    ]


def test_the_admin_upload_preview_shows_the_flags_and_the_ladders_arrows(synced, admin_client):
    from tests.test_admin_import import csv_bytes, upload

    rows = [
        ["Presidio", "Premier", "Cisco Partner Program", "Cisco", "", ""],
        ["Effectual", "Premier", "AWS Partner Network", "AWS", "", ""],
        ["New", "Goldd", "PTP", "Cisco Systems", "", ""],
    ]
    response = upload(admin_client, csv_bytes(rows))
    assert response.context["warnings"] == [
        "'Cisco Systems' looks like 'Cisco' — add it as an alias?"
    ]
    page = response.content.decode()
    assert "Cisco Systems" in page and "looks like" in page
    arrows = {u["record"].name: u["changes"][0]["arrow"] for u in response.context["updated"]}
    assert arrows == {"Presidio": "↓", "Effectual": "↑"}


# The sample data.


def test_the_sample_update_previews_ups_and_downs_at_aws_cisco_dell_and_google(settings):
    repo = Path(django_settings.BASE_DIR)
    settings.PARTNERS_INPUT_DIR = repo / "data" / "partners"
    assert run("programs", "load")[2] == 0
    assert run("load_samples")[2] == 0
    preview = run_sync([repo / "data" / "updates" / "partners_update.csv"])
    directions: dict[str, set[str | None]] = {}
    for update in preview.plan.updated:
        change = update.changes.get("tier")
        if change:
            directions.setdefault(update.record.oem, set()).add(change["direction"])
    assert directions == {
        "AWS": {"up", "down"},
        "Cisco": {"up", "down"},
        "Dell": {"up", "down"},
        "Google Cloud": {"up"},
    }
    assert preview.warnings == [
        "data/updates/partners_update.csv: Line 11: 'Goldd' is not a Cisco tier: Select, "
        "Premier, Gold",
        "'Cisco Systems' looks like 'Cisco' — add it as an alias?",
    ]
    assert SyncRun.objects.filter(applied=True).count() == 1


RENAME_COUNTER = iter(range(1_000_000))


@given(
    st.integers(min_value=2, max_value=6),
    st.data(),
)
def test_for_any_ladder_a_renamed_tier_keeps_its_rank_under_both_names(size, data):
    ladder = tuple(f"Tier {i}" for i in range(size))
    oem = f"Acme {next(RENAME_COUNTER)}"
    load(Entry(oem, None, ladder))
    position = data.draw(st.sampled_from(range(size)))
    rename_tier(Program.objects.get(oem=oem), ladder[position], f"Renamed {position}")
    catalog = load_catalog()
    assert catalog.rank(oem, None, ladder[position]) == position
    assert catalog.rank(oem, None, f"Renamed {position}") == position
    assert catalog.spell(oem, None, ladder[position].lower()) == f"Renamed {position}"
    for other in range(size):
        if other != position:
            expected = "up" if other > position else "down"
            assert catalog.direction(oem, None, ladder[position], ladder[other]) == expected


def test_the_admin_form_spells_the_tier_by_its_ladder_and_strict_refuses_one_off_it(
    ladders, settings
):
    from partners.sync import check_record

    values = {"name": "Acme", "tier": "gold partner", "program": "PTP", "oem": "cisco"}
    cleaned, errors = check_record(values)
    assert (cleaned["tier"], cleaned["oem"], errors) == ("Gold", "Cisco", [])
    settings.PARTNERS_STRICT_TIERS = True
    _, errors = check_record({**values, "tier": "Goldd"})
    assert errors == [("tier", "'Goldd' is not a Cisco tier: Select, Premier, Gold")]


def test_a_mixed_file_is_spelled_and_flagged_row_by_row_where_its_ladders_differ(
    ladders, input_dir
):
    load(CISCO_360)
    rows = [
        ["A", "gold partner", "PTP", "Cisco", "", ""],  # an alias at Cisco
        ["B", "gold partner", "Engage", "Fortinet", "", ""],  # no ladder: kept as written
        ["C", "Advanced", "APN", "AWS", "", ""],
        ["D", "Gold", "PTP", "Cisco", "", ""],  # Gold is Cisco's, not AWS's: no warning
        ["E", "Advanced", "PTP", "Cisco", "", ""],  # AWS's, not Cisco's
        ["F", "Partner", "Cisco 360", "Cisco", "", ""],  # the program's own ladder
    ]
    data, _, code = sync_json(str(write_csv(input_dir / "a.csv", rows)), "--apply")
    assert code == 0
    assert data["warnings"] == [
        "a.csv: Line 6: 'Advanced' is not a Cisco tier: Select, Premier, Gold"
    ]
    tiers = dict(PartnerTier.objects.values_list("name", "tier"))
    assert tiers == {
        "A": "Gold",
        "B": "Gold Partner",
        "C": "Advanced",
        "D": "Gold",
        "E": "Advanced",
        "F": "Partner",
    }


def test_among_equally_near_known_oems_every_process_names_the_same_one():
    # Each as near to "Oem7" as the others; a set of them is ordered by string hashes, which
    # differ from one process to the next (PYTHONHASHSEED).
    code = (
        "import django; django.setup(); from partners.programs import EMPTY; "
        "print(EMPTY.near_oem('Oem7', ['Oem75', 'Oem78', 'Oem97', 'Oem57', 'Oem17']))"
    )
    named = set()
    for seed in ("1", "2", "3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        named.add(done.stdout.strip())
    assert named == {"Oem17"}
