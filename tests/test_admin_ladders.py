"""The catalog in the admin: programs and their ladders, the partner list sorted by rank, the
tier choices of the change form, the program filter narrowed by the OEM, and the upload
preview's arrows, warnings and "add as alias"."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from partners.models import OemAlias, PartnerTier, Program
from partners.programs import Entry, import_catalog, load_catalog
from partners.sync import run_sync
from tests.helpers import run, write_csv
from tests.test_admin_import import csv_bytes, messages_of, upload

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:partners_partnertier_changelist")
LADDER = reverse("admin:partners_partnertier_ladder")
ADD_ALIAS = reverse("admin:partners_partnertier_add_oem_alias")
PROGRAM_ADD = reverse("admin:partners_program_add")

CISCO = Entry("Cisco", None, ("Select", "Premier", "Gold"), (("gold partner", "Gold"),))
CISCO_360 = Entry("Cisco", "Cisco 360", ("Partner", "Preferred Partner"))
AWS = Entry("AWS", None, ("Select", "Advanced", "Premier"))

ROWS = [
    ["Zeta", "Select", "Cisco Partner Program", "Cisco", "", ""],
    ["Alpha", "Premier", "Cisco Partner Program", "Cisco", "", ""],
    ["Mid", "Gold", "Cisco Partner Program", "Cisco", "", ""],
    ["Typo", "Goldd", "Cisco Partner Program", "Cisco", "", ""],
    ["Bravo", "Advanced", "AWS Partner Network", "AWS", "", ""],
    ["Acme", "Premier", "AWS Partner Network", "AWS", "", ""],
    ["Omega", "Select", "AWS Partner Network", "AWS", "", ""],
    ["Kilo", "Bronze", "Fortinet Engage", "Fortinet", "", ""],
    ["Lima", "Platinum", "Fortinet Engage", "Fortinet", "", ""],
    ["Echo", "Expert", "Fortinet Engage", "Fortinet", "", ""],
]


@pytest.fixture
def ladders():
    import_catalog([CISCO, CISCO_360, AWS], {})


@pytest.fixture
def synced(ladders, input_dir):
    assert run_sync([write_csv(input_dir / "base.csv", ROWS)], apply=True).applied


def staff(django_user_model, *codenames: str) -> Client:
    user = django_user_model.objects.create_user("someone", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def ladder_post(oem: str, program: str, rows: list[tuple[object, str, str]], **extra) -> dict:
    """The program form with its ladder inline: rows of (position, name, aliases)."""
    data = {
        "oem": oem,
        "program": program,
        "tiers-TOTAL_FORMS": str(len(rows)),
        "tiers-INITIAL_FORMS": "0",
        "tiers-MIN_NUM_FORMS": "0",
        "tiers-MAX_NUM_FORMS": "1000",
    }
    for i, (position, name, aliases) in enumerate(rows):
        data.update(
            {f"tiers-{i}-position": str(position), f"tiers-{i}-name": name},
        )
        data[f"tiers-{i}-spellings"] = aliases
    data.update(extra)
    return data


def existing_ladder_post(program: Program, changes: dict[str, tuple[int, str, str]]) -> dict:
    """The change form of `program` as loaded, with some rows (by tier name) changed."""
    tiers = list(program.tiers.order_by("position"))
    data = ladder_post(program.oem, program.program or "", [])
    data["tiers-TOTAL_FORMS"] = data["tiers-INITIAL_FORMS"] = str(len(tiers))
    for i, tier in enumerate(tiers):
        aliases = ", ".join(tier.aliases.values_list("alias", flat=True))
        position, name, aliases = changes.get(tier.name, (tier.position, tier.name, aliases))
        data.update(
            {
                f"tiers-{i}-id": str(tier.pk),
                f"tiers-{i}-program": str(program.pk),
                f"tiers-{i}-position": str(position),
                f"tiers-{i}-name": name,
                f"tiers-{i}-spellings": aliases,
            }
        )
    return data


# Programs and their ladders.


def test_a_program_added_in_the_admin_is_a_ladder_of_the_catalog_in_position_order(admin_client):
    data = ladder_post(
        "Juniper", "", [(2, "Elite", "elite partner"), (0, "Reseller", ""), (1, "Select", "")]
    )

    response = admin_client.post(PROGRAM_ADD, data)

    assert response.status_code == 302
    catalog = load_catalog()
    assert catalog.ladder("Juniper", "Any program") == ("Reseller", "Select", "Elite")
    assert catalog.spell("Juniper", None, "ELITE PARTNER") == "Elite"


def test_a_ladder_a_person_changed_in_the_admin_is_never_overwritten_by_the_loader(admin_client):
    assert run("programs", "load")[2] == 0
    cisco = Program.objects.get(oem="Cisco", program=None)
    data = existing_ladder_post(cisco, {"Gold": (2, "Gold", "gold partner")})  # aliases cut

    assert admin_client.post(reverse("admin:partners_program_change", args=[cisco.pk]), data)[
        "Location"
    ] == reverse("admin:partners_program_changelist")

    out, _, code = run("programs", "load")
    assert (out, code) == ("Programs: created 0, refreshed 0; kept 1 a person changed.\n", 0)
    assert load_catalog().spell("Cisco", None, "gold certified") == "gold certified"


def test_reordering_a_ladder_in_the_admin_swaps_the_ranks(admin_client, ladders):
    aws = Program.objects.get(oem="AWS")
    data = existing_ladder_post(
        aws, {"Advanced": (2, "Advanced", ""), "Premier": (1, "Premier", "")}
    )

    admin_client.post(reverse("admin:partners_program_change", args=[aws.pk]), data)

    assert load_catalog().ladder("AWS", None) == ("Select", "Premier", "Advanced")


def test_a_tier_renamed_in_the_admin_keeps_its_old_name_as_an_alias(admin_client, synced):
    cisco = Program.objects.get(oem="Cisco", program=None)
    data = existing_ladder_post(cisco, {"Gold": (2, "Gold Plus", "gold partner")})

    admin_client.post(reverse("admin:partners_program_change", args=[cisco.pk]), data)

    catalog = load_catalog()
    assert catalog.ladder("Cisco", None) == ("Select", "Premier", "Gold Plus")
    assert catalog.direction("Cisco", None, "Premier", "Gold") == "up"  # records still say Gold
    assert PartnerTier.objects.get(name="Mid").tier == "Gold"


def test_a_tier_deleted_from_the_ladder_leaves_it(admin_client, ladders):
    aws = Program.objects.get(oem="AWS")
    data = existing_ladder_post(aws, {})
    data["tiers-1-DELETE"] = "on"  # Advanced

    admin_client.post(reverse("admin:partners_program_change", args=[aws.pk]), data)

    assert load_catalog().ladder("AWS", None) == ("Select", "Premier")


def test_a_tier_listed_twice_is_refused_with_the_catalogs_words(admin_client):
    data = ladder_post("Juniper", "", [(0, "Select", ""), (1, "select", "")])

    response = admin_client.post(PROGRAM_ADD, data)

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors() == [
        "The ladder (Juniper): tiers: 'select' is listed twice"
    ]
    assert not Program.objects.exists()


def test_a_second_default_ladder_for_an_oem_is_refused(admin_client, ladders):
    response = admin_client.post(PROGRAM_ADD, ladder_post("cisco", "", [(0, "Bronze", "")]))

    assert response.context["adminform"].form.non_field_errors() == [
        "cisco's default ladder is already in the catalog."
    ]


def test_changing_a_ladder_needs_the_change_permission_on_programs(django_user_model, ladders):
    client = staff(django_user_model, "view_program")
    aws = Program.objects.get(oem="AWS")
    data = existing_ladder_post(aws, {"Premier": (2, "Premier Plus", "")})

    response = client.post(reverse("admin:partners_program_change", args=[aws.pk]), data)

    assert response.status_code == 403
    assert load_catalog().ladder("AWS", None) == ("Select", "Advanced", "Premier")


def test_a_viewer_sees_the_ladder_in_order_without_changing_it(django_user_model, ladders):
    client = staff(django_user_model, "view_program")
    cisco = Program.objects.get(oem="Cisco", program=None)

    page = client.get(reverse("admin:partners_program_change", args=[cisco.pk]))
    listing = client.get(reverse("admin:partners_program_changelist")).content.decode()

    html = page.content.decode()
    assert page.status_code == 200
    assert html.index("Select") < html.index("Premier") < html.index("Gold")
    assert "Select &lt; Premier &lt; Gold" in listing


# The partner list sorted by rank.


def test_the_list_sorts_by_rank_within_each_oem_highest_first(admin_client, synced):
    response = admin_client.get(CHANGELIST)

    names = [row.name for row in response.context["cl"].result_list]
    # AWS: Premier > Advanced > Select; Cisco: Gold > Premier > Select, the off-ladder Goldd
    # last; Fortinet has no ladder: Platinum > Bronze by the global ranking, Expert unranked.
    assert names == [
        "Acme", "Bravo", "Omega",
        "Mid", "Alpha", "Zeta", "Typo",
        "Lima", "Kilo", "Echo",
    ]  # fmt: skip


def test_the_list_follows_a_ladder_reordered_since(admin_client, synced):
    import_catalog([Entry("AWS", None, ("Premier", "Advanced", "Select"))], {})

    response = admin_client.get(CHANGELIST, {"oem": "AWS"})

    assert [row.name for row in response.context["cl"].result_list] == ["Omega", "Bravo", "Acme"]


def test_a_programs_own_ladder_ranks_its_records(admin_client, ladders, input_dir):
    rows = [
        ["One", "Partner", "Cisco 360", "Cisco", "", ""],
        ["Two", "Preferred Partner", "Cisco 360", "Cisco", "", ""],
    ]
    run_sync([write_csv(input_dir / "c.csv", rows)], apply=True)

    response = admin_client.get(CHANGELIST)

    assert [row.name for row in response.context["cl"].result_list] == ["Two", "One"]


# The change form's tier choices.


def test_the_ladder_view_offers_the_oems_ladder_lowest_first(admin_client, ladders):
    response = admin_client.get(LADDER, {"oem": "cisco", "program": "Cisco PTP"})

    assert response.json() == {
        "oem": "Cisco",
        "program": "Cisco PTP",
        "tiers": ["Select", "Premier", "Gold"],
        "tier": "",
        "warning": None,
    }


def test_the_ladder_view_offers_a_programs_own_ladder(admin_client, ladders):
    response = admin_client.get(LADDER, {"oem": "Cisco", "program": "cisco 360"})

    assert response.json()["tiers"] == ["Partner", "Preferred Partner"]


def test_the_ladder_view_flags_an_off_ladder_tier_and_spells_an_alias(admin_client, ladders):
    off = admin_client.get(LADDER, {"oem": "Cisco", "program": "", "tier": "Goldd"}).json()
    alias = admin_client.get(LADDER, {"oem": "Cisco", "program": "", "tier": "gold partner"})

    assert off["warning"] == "'Goldd' is not a Cisco tier: Select, Premier, Gold"
    assert (alias.json()["tier"], alias.json()["warning"]) == ("Gold", None)


def test_an_oem_without_a_ladder_offers_no_tiers(admin_client, ladders):
    response = admin_client.get(LADDER, {"oem": "Fortinet", "tier": "Expert"})

    assert (response.json()["tiers"], response.json()["warning"]) == ([], None)


def test_the_ladder_view_needs_a_permission_on_partner_tiers(django_user_model, ladders):
    assert staff(django_user_model).get(LADDER, {"oem": "Cisco"}).status_code == 403


def test_the_change_form_carries_the_ladder_view_and_its_script(admin_client, synced):
    record = PartnerTier.objects.get(name="Mid")

    page = admin_client.get(reverse("admin:partners_partnertier_change", args=[record.pk]))

    html = page.content.decode()
    assert f'data-ladder-url="{LADDER}"' in html
    assert "partners/ladder.js" in html


def test_saving_an_off_ladder_tier_keeps_it_and_warns_with_the_engines_text(admin_client, synced):
    record = PartnerTier.objects.get(name="Mid")
    data = {"name": "Mid", "tier": "Unobtanium", "program": "Cisco Partner Program"}

    response = admin_client.post(
        reverse("admin:partners_partnertier_change", args=[record.pk]),
        {**data, "oem": "Cisco", "poc": "", "notes": ""},
        follow=True,
    )

    assert PartnerTier.objects.get(name="Mid").tier == "Unobtanium"
    assert "'Unobtanium' is not a Cisco tier: Select, Premier, Gold" in messages_of(response)


# Filters.


def program_choices(response) -> list[str]:
    (spec,) = [f for f in response.context["cl"].filter_specs if f.title == "program"]
    return [value for value, _ in spec.lookup_choices]


def test_choosing_an_oem_narrows_the_program_filter(admin_client, synced):
    every = program_choices(admin_client.get(CHANGELIST))
    cisco = program_choices(admin_client.get(CHANGELIST, {"oem": "Cisco"}))

    assert every == ["AWS Partner Network", "Cisco Partner Program", "Fortinet Engage"]
    assert cisco == ["Cisco Partner Program"]


def test_the_program_filter_filters(admin_client, synced):
    response = admin_client.get(CHANGELIST, {"program": "Fortinet Engage"})

    assert {row.oem for row in response.context["cl"].result_list} == {"Fortinet"}


# The upload preview: arrows, warnings, add as alias.

UPDATE = [
    ["Zeta", "Gold", "Cisco Partner Program", "Cisco", "", ""],
    ["Acme", "Advanced", "AWS Partner Network", "AWS", "", ""],
    ["Newco", "Goldd", "Cisco Partner Program", "Cisco Systems", "", ""],
]


def test_the_preview_shows_the_ladders_arrows_and_lists_the_warnings(admin_client, synced):
    response = upload(admin_client, csv_bytes(UPDATE))

    page = response.content.decode()
    assert '<span class="arrow-up">↑</span>' in page  # Cisco Select → Gold
    assert '<span class="arrow-down">↓</span>' in page  # AWS Premier → Advanced
    assert "&#x27;Cisco Systems&#x27; looks like &#x27;Cisco&#x27; — add it as an alias?" in page
    assert "Add “Cisco Systems” as an alias of Cisco" in page


def test_add_as_alias_makes_the_next_preview_read_the_spelling_as_the_oem(admin_client, synced):
    response = admin_client.post(ADD_ALIAS, {"alias": "Cisco Systems", "oem": "Cisco"})

    assert response["Location"] == reverse("admin:partners_partnertier_import")
    assert OemAlias.objects.get().oem == "Cisco"
    again = upload(admin_client, csv_bytes(UPDATE)).context
    assert [r.oem for r in again["added"]] == ["Cisco"]
    assert again["warnings"] == [
        "portal.csv: Line 4: 'Goldd' is not a Cisco tier: Select, Premier, Gold"
    ]


def test_the_folder_sync_preview_offers_add_as_alias_too(admin_client, synced, input_dir):
    write_csv(input_dir / "partners_update.csv", UPDATE)
    (input_dir / "base.csv").unlink()

    response = admin_client.get(reverse("admin:partners_partnertier_sync_folder"))

    assert response.context["near_oems"] == [
        {"kind": "oem", "oem": "Cisco", "spelling": "Cisco Systems", "known": "Cisco"}
    ]
    assert "Add “Cisco Systems” as an alias of Cisco" in response.content.decode()


def test_add_as_alias_needs_the_permission_to_add_oem_aliases(django_user_model, synced):
    client = staff(django_user_model, "view_partnertier", "sync_partnertier")
    preview = upload(client, csv_bytes(UPDATE))

    response = client.post(ADD_ALIAS, {"alias": "Cisco Systems", "oem": "Cisco"})

    assert "as an alias of" not in preview.content.decode()
    assert response.status_code == 403
    assert not OemAlias.objects.exists()


def test_a_user_allowed_to_add_oem_aliases_may_add_one(django_user_model, synced):
    client = staff(django_user_model, "view_partnertier", "add_oemalias")

    client.post(ADD_ALIAS, {"alias": "Cisco Systems", "oem": "Cisco"})

    assert OemAlias.objects.get().alias == "Cisco Systems"


def test_add_as_alias_by_get_writes_nothing(admin_client, synced):
    response = admin_client.get(ADD_ALIAS, {"alias": "Cisco Systems", "oem": "Cisco"})

    assert response.status_code == 405
    assert not OemAlias.objects.exists()


def test_the_ladder_view_writes_nothing(admin_client, ladders):
    before = (Program.objects.count(), OemAlias.objects.count())

    admin_client.get(LADDER, {"oem": "Cisco Systems", "program": "New", "tier": "Goldd"})

    assert (Program.objects.count(), OemAlias.objects.count()) == before
