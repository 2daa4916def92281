"""The upload flow as a person sees it: a real Chromium, driven by Playwright, against a live
server. Runs wherever Debian's `chromium` is installed (CI installs it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.db import connections

from partners.models import PartnerTier
from partners.sync import run_sync
from tests.helpers import write_csv

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DOCS = Path(__file__).resolve().parent.parent / "docs"
# CI sets this: there the test must run, never skip.
REQUIRED = os.environ.get("PARTNERS_REQUIRE_BROWSER") == "1"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None and not REQUIRED,
        reason="no chromium on this machine (apt-get install -y chromium)",
    ),
]

UPLOAD = (
    "name,tier,program,oem,poc,notes\n"
    "Brand New Co,Silver,Cisco PTP,Cisco,,\n"
    "Red River Technology,Platinum,Cisco PTP,Cisco,John Doe,Premier partner\n"
    "Tech Solutions,Platinum,Nutanix Elevate,Nutanix,Jane Smith,Top tier\n"
    '"<script>alert(1)</script>",Gold,Cisco PTP,Cisco,"<img src=x onerror=alert(2)>",\n'
)


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test
    # itself are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()
        # ORM calls made while Playwright runs get their own connection (another context);
        # left open, PostgreSQL could not drop the test database.
        connections.close_all()


def test_a_partner_manager_uploads_previews_and_confirms_in_a_browser(
    browser_page, live_server, input_dir, tmp_path, django_user_model
):
    django_user_model.objects.create_superuser("manager", "m@example.com", "s3cret-pass")
    base = [
        ["Red River Technology", "Gold", "Cisco PTP", "Cisco", "John Doe", "Premier partner"],
        ["Tech Solutions", "Platinum", "Nutanix Elevate", "Nutanix", "Jane Smith", "Top tier"],
    ]
    assert run_sync([write_csv(input_dir / "base.csv", base)], apply=True).applied
    upload = tmp_path / "portal.csv"
    upload.write_text(UPLOAD, encoding="utf-8")
    page = browser_page
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", "s3cret-pass")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/partners/partnertier/")
    page.click("a.import_link")
    page.set_input_files("#id_import_file", str(upload))
    page.select_option("#id_format", label="csv")
    page.click("#upload-form input[type=submit]")

    counts = page.locator("#counts")
    assert counts.locator(".count-added strong").inner_text() == "2"
    assert counts.locator(".count-updated strong").inner_text() == "1"
    assert counts.locator(".count-unchanged strong").inner_text() == "1"
    change = page.locator("#updated .change").first
    assert change.locator(".change-old").inner_text() == "Gold"
    assert change.locator(".change-new").inner_text() == "Platinum"
    assert change.locator(".arrow-up").inner_text() == "↑"
    assert "<script>alert(1)</script>" in page.locator("#added").inner_text()
    # `PARTNERS_SCREENSHOTS=1 make pytest` refreshes the README's picture.
    shots = DOCS if os.environ.get("PARTNERS_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(shots / "admin-preview.png"), full_page=True)
    assert PartnerTier.objects.count() == 2  # the preview wrote nothing

    page.click("#confirm-form input[type=submit]")

    assert page.url.endswith("/admin/partners/partnertier/")
    assert "Added 2, updated 1" in page.locator(".messagelist").inner_text()
    listing = page.locator("#result_list").inner_text()
    assert "Brand New Co" in listing and "<script>alert(1)</script>" in listing
    assert PartnerTier.objects.get(name="Red River Technology").tier == "Platinum"
    assert dialogs == []


def vendor_workbook(path: Path, rows: list[list[str]]) -> Path:
    """A vendor portal's export: its own headers, a title row above them, no OEM column."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Cisco Partner Report"])
    sheet.append(["Partner Name", "Partner Level", "Program", "Primary Contact", "Country"])
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_a_vendor_file_is_mapped_saved_as_a_profile_and_next_months_file_reuses_it(
    browser_page, live_server, tmp_path, django_user_model
):
    django_user_model.objects.create_superuser("manager", "m@example.com", "s3cret-pass")
    november = vendor_workbook(
        tmp_path / "cisco_2026_11.xlsx",
        [
            ["Red River Technology", "Gold", "Cisco PTP", "John Doe", "US"],
            ["Brand New Co", "Silver", "Cisco PTP", "", "DE"],
        ],
    )
    december = vendor_workbook(
        tmp_path / "cisco_2026_12.xlsx",
        [
            ["Red River Technology", "Premier", "Cisco PTP", "John Doe", "US"],
            ["Brand New Co", "Silver", "Cisco PTP", "", "DE"],
        ],
    )
    page = browser_page
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", "s3cret-pass")
    page.click("input[type=submit]")

    def upload(path: Path) -> None:
        page.goto(f"{live_server.url}/admin/partners/partnertier/import/")
        page.set_input_files("#id_import_file", str(path))
        page.select_option("#id_format", label="xlsx")
        page.click("#upload-form input[type=submit]")

    upload(november)

    page.locator("#mapping-form").wait_for()
    rows = page.locator("#mapping-columns tbody tr")
    assert rows.count() == 5
    country = rows.nth(4)
    assert country.locator("td").first.inner_text() == "Country"
    assert country.locator(".samples").inner_text().split() == ["US", "DE"]
    assert country.locator("select").input_value() == "ignore"
    assert rows.nth(1).locator("select").input_value() == "tier"
    page.fill("#id_constant_oem", "Cisco")
    page.fill("#id_profile_name", "cisco-portal")
    shots = DOCS if os.environ.get("PARTNERS_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(shots / "admin-mapping.png"), full_page=True)
    page.click("#mapping-form input[name=save]")

    assert "Read with the profile cisco-portal" in page.locator("#profile-used").inner_text()
    assert page.locator("#counts .count-added strong").inner_text() == "2"
    page.click("#confirm-form input[type=submit]")
    assert "Added 2, updated 0" in page.locator(".messagelist").inner_text()

    upload(december)

    page.locator("#counts").wait_for()
    assert page.locator("#mapping-form").count() == 0
    assert "Read with the profile cisco-portal" in page.locator("#profile-used").inner_text()
    assert page.locator("#counts .count-updated strong").inner_text() == "1"
    change = page.locator("#updated .change").first
    assert change.locator(".change-new").inner_text() == "Premier"
    page.click("#confirm-form input[type=submit]")
    assert "updated 1" in page.locator(".messagelist").inner_text()
    assert PartnerTier.objects.get(name="Red River Technology").tier == "Premier"
    assert PartnerTier.objects.get(name="Brand New Co").oem == "Cisco"


def test_a_partner_manager_picks_a_tier_from_the_ladder_on_the_change_form(
    browser_page, live_server, input_dir, django_user_model
):
    from partners.programs import Entry, import_catalog

    django_user_model.objects.create_superuser("manager", "m@example.com", "s3cret-pass")
    import_catalog(
        [
            Entry("Cisco", None, ("Select", "Premier", "Gold")),
            Entry("AWS", None, ("Select", "Advanced", "Premier")),
        ],
        {},
    )
    base = [["Red River Technology", "Select", "Cisco PTP", "Cisco", "", ""]]
    assert run_sync([write_csv(input_dir / "base.csv", base)], apply=True).applied
    record = PartnerTier.objects.get()
    page = browser_page
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", "s3cret-pass")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/partners/partnertier/{record.pk}/change/")

    choices = page.locator(".ladder-choices .ladder-choice")
    choices.first.wait_for()
    assert choices.all_inner_texts() == ["Select", "Premier", "Gold"]
    page.fill("#id_tier", "Goldd")
    warning = page.locator(".ladder-warning")
    warning.wait_for(state="visible")
    assert warning.inner_text() == "'Goldd' is not a Cisco tier: Select, Premier, Gold"

    page.click(".ladder-choice[data-tier='Gold']")
    warning.wait_for(state="hidden")
    assert page.input_value("#id_tier") == "Gold"
    page.fill("#id_oem", "AWS")
    page.locator(".ladder-choice[data-tier='Advanced']").wait_for()
    assert choices.all_inner_texts() == ["Select", "Advanced", "Premier"]
    page.fill("#id_oem", "Cisco")
    page.locator(".ladder-choice[data-tier='Gold']").wait_for()
    page.click("input[name=_save]")

    assert page.url.endswith("/admin/partners/partnertier/")
    assert PartnerTier.objects.get().tier == "Gold"
