"""Import profiles: what a valid profile is, and their YAML round trip through the command."""

from __future__ import annotations

import pytest

from partners.profiles import (
    Profile,
    ProfileError,
    check,
    import_yaml,
    match_profile,
    suggest_mapping,
)
from tests.helpers import run

COLUMNS = '{"Partner Name": name, "Partner Level": tier, "Primary Contact": poc, "Country": ignore}'
CISCO_YAML = """\
profiles:
  - name: cisco-portal
    pattern: "cisco_*.xlsx"
    sheet: null
    header_row: auto
    delimiter: auto
    columns: COLUMNS
    constants: {oem: Cisco, program: Cisco Partner Program}
    values: {tier: {"Gold Certified": Gold}}
""".replace("COLUMNS", COLUMNS)
SECOND_YAML = """\
  - name: dell-csv
    pattern: null
    sheet: 2
    header_row: 3
    delimiter: ";"
    columns: {"Company": name, "Level": tier, "Program": program}
    constants: {oem: Dell}
    values: {}
"""

pytestmark = pytest.mark.django_db


def test_the_issues_yaml_imports_and_exports_byte_identically(tmp_path):
    path = tmp_path / "profiles.yaml"
    path.write_text(CISCO_YAML + SECOND_YAML)
    assert run("profiles", "import", str(path)) == (
        "Saved 2 profiles: cisco-portal, dell-csv\n",
        "",
        0,
    )
    exported, err, code = run("profiles", "export")
    assert (exported, err, code) == (CISCO_YAML + SECOND_YAML, "", 0)
    path.write_text(exported)
    run("profiles", "import", str(path))
    assert run("profiles", "export")[0] == exported


def test_export_of_one_profile_and_of_an_unknown_name(tmp_path):
    path = tmp_path / "profiles.yaml"
    path.write_text(CISCO_YAML + SECOND_YAML)
    run("profiles", "import", str(path))
    assert run("profiles", "export", "cisco-portal")[0] == CISCO_YAML
    out, err, code = run("profiles", "export", "nope")
    assert (out, code) == ("", 2)
    assert err == "CommandError: No profile named 'nope'\n"


def test_import_replaces_a_profile_of_the_same_name(tmp_path):
    path = tmp_path / "profiles.yaml"
    path.write_text(CISCO_YAML)
    run("profiles", "import", str(path))
    path.write_text(CISCO_YAML.replace("oem: Cisco,", "oem: Cisco Systems,"))
    run("profiles", "import", str(path))
    exported = run("profiles", "export")[0]
    assert exported.count("- name: cisco-portal") == 1
    assert "oem: Cisco Systems," in exported


def test_import_is_all_or_nothing_and_names_each_profile_and_key(tmp_path):
    bad = SECOND_YAML.replace("Level", "Level").replace("constants: {oem: Dell}", "constants: {}")
    bad += "    colour: blue\n"
    path = tmp_path / "profiles.yaml"
    path.write_text(CISCO_YAML + bad)
    out, err, code = run("profiles", "import", str(path))
    assert (out, code) == ("", 2)
    assert err.splitlines() == [
        "profile 'dell-csv': colour: unknown key; a profile has name, pattern, sheet, "
        "header_row, delimiter, columns, constants, values",
        f"CommandError: {path}: 1 problem; no profile was saved",
    ]
    assert run("profiles", "export")[0] == "profiles: []\n"


def test_a_required_field_neither_mapped_nor_constant_is_refused_naming_it():
    profile = Profile(name="p", columns=(("Company", "name"), ("Level", "tier")))
    with pytest.raises(ProfileError) as caught:
        check(profile)
    assert caught.value.messages == [
        "profile 'p': columns: required field 'program' is neither mapped from a column "
        "nor a constant",
        "profile 'p': columns: required field 'oem' is neither mapped from a column nor a constant",
    ]


def test_unknown_field_names_are_refused_in_columns_constants_and_values():
    text = (
        CISCO_YAML.replace('Country": ignore', 'Country": country')
        .replace("values: {tier:", "values: {level:")
        .replace("program: Cisco", "programme: Cisco")
    )
    with pytest.raises(ProfileError) as caught:
        import_yaml(text)
    fields = "fields are name, tier, program, oem, poc, notes, updated_at, created_at"
    assert caught.value.messages == [
        f"profile 'cisco-portal': columns: column 'Country' maps to unknown field 'country'; "
        f"{fields}, or ignore",
        f"profile 'cisco-portal': constants: unknown field 'programme'; {fields}",
        f"profile 'cisco-portal': values: unknown field 'level'; {fields}",
        "profile 'cisco-portal': columns: required field 'program' is neither mapped from a "
        "column nor a constant",
    ]


def test_the_saved_model_refuses_an_incomplete_profile_on_clean():
    from django.core.exceptions import ValidationError

    from partners.models import ImportProfile

    row = ImportProfile(name="p", columns=[["Company", "name"]], constants=[["oem", "Dell"]])
    with pytest.raises(ValidationError, match="required field 'tier'"):
        row.full_clean()


def test_synonyms_suggest_fields_and_unknown_columns_suggest_nothing():
    headers = ["Partner Name", "Partner Level", "Program", "Primary Contact", "Country", "Company"]
    assert suggest_mapping(headers) == {
        "Partner Name": "name",
        "Partner Level": "tier",
        "Program": "program",
        "Primary Contact": "poc",
        "Country": None,
        "Company": None,  # name is already suggested for the first column that names it
    }


def test_a_profile_matches_by_file_name_pattern_or_by_the_same_headers():
    cisco = import_yaml(CISCO_YAML)[0]
    other = Profile(name="other", columns=(("Firm", "name"),), constants=(("tier", "x"),))
    profiles = [cisco, other]
    assert match_profile(["anything"], "CISCO_2026_11.xlsx", profiles) is cisco
    headers = ["Partner Name", "Partner Level", "Primary Contact", "Country", "Notes"]
    assert match_profile(headers, "portal.xlsx", profiles) is cisco
    assert match_profile([*headers, "Region"], "portal.xlsx", profiles) is None
    assert match_profile(headers[:2], "portal.xlsx", profiles) is None
