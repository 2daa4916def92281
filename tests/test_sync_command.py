from __future__ import annotations

import json
import os
import pty
import sqlite3
import subprocess
import sys

import openpyxl
import pytest
from django.conf import settings

from partners.models import PartnerTier
from tests.helpers import lock_held_elsewhere, run, write_csv

pytestmark = pytest.mark.django_db

ROWS = [
    ["Red River Technology", "Gold", "Cisco PTP", "Cisco", "John Doe", ""],
    ["Tech Solutions", "platinum", "Nutanix Elevate", "nutanix", "", ""],
]


def test_a_dry_run_says_what_would_change_and_exits_0(input_dir, store):
    path = write_csv(input_dir / "partners_a.csv", ROWS)
    out, err, code = run("sync_partners")
    assert code == 0
    assert err == ""
    assert out == (
        "Dry run: nothing was written (use --apply to write).\n"
        f"Read {path.name}\n"
        "Would add 2 records:\n"
        "  + Cisco / Red River Technology: Gold (Cisco PTP)\n"
        "  + Nutanix / Tech Solutions: Platinum (Nutanix Elevate)\n"
        "Would update 0 records\n"
        "Unchanged: 0 records\n"
    )
    assert not store.exists()
    assert PartnerTier.objects.count() == 0


def test_apply_says_what_changed_with_tier_arrows(input_dir, store):
    path = write_csv(input_dir / "partners_a.csv", ROWS)
    run("sync_partners", "--apply")
    write_csv(path, [["Red River Technology", "Platinum", "Cisco PTP", "Cisco", "", ""]])
    out, err, code = run("sync_partners", str(path), "--apply")
    assert code == 0, err
    assert out == (
        f"Read {path.name}\n"
        "Added 0 records\n"
        "Updated 1 record:\n"
        "  ~ Cisco / Red River Technology: tier Gold → Platinum ↑; poc John Doe → (empty)\n"
        "Unchanged: 0 records\n"
        "Missing from the input (kept; --prune removes) 1 record:\n"
        "  - Nutanix / Tech Solutions: Platinum (Nutanix Elevate)\n"
        f"Wrote {store}\n"
    )


def test_json_format_prints_only_the_result(input_dir):
    write_csv(input_dir / "partners_a.csv", ROWS)
    out, err, code = run("sync_partners", "--format", "json")
    data = json.loads(out)
    assert code == 0 and err == ""
    assert data["dry_run"] is True and data["applied"] is False
    assert data["summary"]["added"] == 2


def test_validation_failure_lists_every_error_and_exits_1(input_dir, store):
    path = write_csv(
        input_dir / "partners_a.csv",
        [["", "Gold", "P", "Cisco", "", ""], ["B", "", "P", "Cisco", "", ""]],
    )
    out, err, code = run("sync_partners", "--apply")
    assert code == 1
    assert out == ""
    assert err == (
        f"{path.name}: Line 2: missing name\n"
        f"{path.name}: Line 3: missing tier\n"
        f"CommandError: Validation failed: {path.name}: Line 2: missing name (and 1 more); "
        "nothing was written\n"
    )
    assert PartnerTier.objects.count() == 0
    assert not store.exists()


def test_json_format_reports_validation_errors_in_the_result(input_dir):
    write_csv(input_dir / "partners_a.csv", [["", "Gold", "P", "Cisco", "", ""]])
    out, _, code = run("sync_partners", "--format", "json")
    assert code == 1
    assert json.loads(out)["errors"][0]["field"] == "name"


def test_warnings_go_to_stderr(input_dir):
    path = input_dir / "partners_a.csv"
    path.write_text("name,tier,program,oem,region\nA,Gold,P,Cisco,West\n")
    out, err, code = run("sync_partners")
    assert code == 0
    assert err.startswith(f"Warning: {path.name}: ignored unknown columns 'region'")


def test_a_missing_file_exits_2(tmp_path):
    out, err, code = run("sync_partners", str(tmp_path / "nope.csv"))
    assert code == 2
    assert err == f"CommandError: Failed to load {tmp_path / 'nope.csv'}: no such file\n"


def test_no_input_files_at_all_exits_2(input_dir):
    out, err, code = run("sync_partners", "--apply")
    assert code == 2
    assert "No input files" in err


def test_an_unsupported_format_exits_2(input_dir):
    path = input_dir / "partners.txt"
    path.write_text("hello")
    _, err, code = run("sync_partners", str(path))
    assert code == 2
    assert "unsupported format" in err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--format", "xml"], 2, "invalid choice: 'xml'"),
        (["/nonexistent/partners.csv"], 2, "Failed to load /nonexistent/partners.csv"),
    ],
)
def test_the_real_command_line_never_shows_a_traceback(tmp_path, args, code, message):
    env = {
        **os.environ,
        "PARTNERS_STORE_PATH": str(tmp_path / "oems.json"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    proc = subprocess.run(
        [sys.executable, "manage.py", "sync_partners", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == code
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["sync_partners", "export_obsidian"])
def test_a_bad_argument_on_the_real_command_line_is_reported_as_json_too(tmp_path, command):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    proc = subprocess.run(
        [sys.executable, "manage.py", command, "--format", "json", "--bogus"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    detail = "unrecognized arguments: --bogus"
    assert proc.returncode == 2
    assert json.loads(proc.stdout) == failure(detail)
    assert proc.stderr.endswith(f"manage.py {command}: error: {detail}\n")
    assert "Traceback" not in proc.stderr


def test_a_large_input_on_a_terminal_shows_a_progress_bar_on_stderr_only(tmp_path):
    rows = [[f"Partner {i:06}", "Gold", "Program", f"OEM {i % 100}", "", ""] for i in range(30000)]
    path = write_csv(tmp_path / "big.csv", rows)
    assert path.stat().st_size > 1_000_000
    env = {
        **os.environ,
        "PARTNERS_STORE_PATH": str(tmp_path / "oems.json"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "COLUMNS": "100",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=settings.BASE_DIR, env=env, check=True
    )
    primary, secondary = pty.openpty()
    out_file = (tmp_path / "out.json").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "sync_partners", str(path), "--format", "json"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=out_file,
        stderr=secondary,
    )
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the command ended and closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    assert proc.wait(timeout=60) == 0
    out_file.close()
    os.close(primary)
    out = (tmp_path / "out.json").read_bytes()
    assert b"Comparing" in shown and "━".encode() in shown
    assert json.loads(out)["summary"]["added"] == 30000  # stdout is only the JSON


def test_ensure_superuser_creates_one_login_once(client):
    out, _, code = run("ensure_superuser")
    password = out.split("password ")[1].split()[0]
    assert code == 0 and client.login(username="admin", password=password)
    again, _, _ = run("ensure_superuser")
    assert "password" not in again.split("(")[0] and "Log in at" in again


def test_ensure_superuser_shows_the_address_it_is_given(client):
    url = "http://0.0.0.0:9123/admin/"
    out, _, code = run("ensure_superuser", "--url", url)
    assert code == 0 and out.endswith(f"Log in at {url} (this password is shown once).\n")
    again, _, _ = run("ensure_superuser", "--url", url)
    assert again == (
        f"Log in at {url} with your superuser "
        "(forgotten the password? manage.py changepassword NAME).\n"
    )


def test_make_run_passes_its_host_and_port_and_loads_samples_only_into_an_empty_database():
    proc = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", "HOST=0.0.0.0", "PORT=9123"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stderr
    assert ".venv/bin/python manage.py load_samples" in lines
    assert not [line for line in lines if "sync_partners" in line]
    assert ".venv/bin/python manage.py ensure_superuser --url http://0.0.0.0:9123/admin/" in lines
    assert lines[-1].endswith("manage.py runserver 0.0.0.0:9123")


def test_commands_collect_garbage_again_once_started(tmp_path):
    """manage.py pauses the collector for Django's start-up only (see PartnersConfig.ready)."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    proc = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "import gc; print(gc.isenabled())", "-v", "0"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.strip().splitlines()[-1] == "True", proc.stderr


# --format json on every failing exit: one JSON object on stdout, the same text on stderr.


def failure(detail: str, file: str | None = None) -> dict:
    return {
        "detail": detail,
        "errors": [{"file": file, "line": None, "field": None, "message": detail}],
    }


def test_json_format_prints_the_error_as_json_when_a_file_is_missing(tmp_path):
    missing = str(tmp_path / "nope.csv")
    out, err, code = run("sync_partners", missing, "--format", "json")
    assert code == 2
    assert json.loads(out) == failure(f"Failed to load {missing}: no such file", file=missing)
    assert err == f"CommandError: Failed to load {missing}: no such file\n"


def test_json_format_prints_the_error_as_json_for_an_unsupported_format(input_dir):
    path = input_dir / "partners.txt"
    path.write_text("hello")
    out, err, code = run("sync_partners", str(path), "--format", "json")
    detail = (
        f"Failed to load {path.name}: "
        "unsupported format (use one of .csv, .json, .xlsx, .yaml, .yml)"
    )
    assert code == 2
    assert json.loads(out) == failure(detail, file=path.name)
    assert err == f"CommandError: {detail}\n"


def test_json_format_prints_the_error_as_json_when_the_sheet_read_has_no_records(input_dir):
    path = input_dir / "partners_a.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["name", "tier", "program", "oem"])  # a header, no records
    book.save(path)
    out, err, code = run("sync_partners", str(path), "--apply", "--format", "json")
    data = json.loads(out)
    assert code == 2
    assert data["detail"].startswith(f"Failed to load {path.name}: ")
    assert "no records" in data["detail"]
    assert data == failure(data["detail"], file=path.name)
    assert err == f"CommandError: {data['detail']}\n"
    assert PartnerTier.objects.count() == 0


def test_json_format_prints_the_error_as_json_when_there_are_no_input_files(input_dir):
    out, err, code = run("sync_partners", "--apply", "--format", "json")
    detail = "No input files: no partners_*{.csv/.json/.xlsx/.yaml/.yml} in the input folder"
    assert code == 2
    assert json.loads(out) == failure(detail)
    assert err == f"CommandError: {detail}\n"


def test_json_format_prints_the_error_as_json_when_another_sync_holds_the_lock(
    input_dir, store, settings
):
    settings.PARTNERS_LOCK_TIMEOUT = 0.2
    write_csv(input_dir / "partners_a.csv", ROWS)
    with lock_held_elsewhere():
        out, err, code = run("sync_partners", "--apply", "--format", "json")
    detail = "another sync is running; gave up after 0.2 s"
    assert code == 3
    assert json.loads(out) == failure(detail)
    assert err == f"CommandError: {detail}\n"
    assert PartnerTier.objects.count() == 0 and not store.exists()


def test_json_format_prints_the_error_as_json_when_the_store_cannot_be_written(
    input_dir, tmp_path, settings
):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the store's folder should be")
    store = blocker / "oems.json"
    settings.PARTNERS_STORE_PATH = store
    write_csv(input_dir / "partners_a.csv", ROWS)
    out, err, code = run("sync_partners", "--apply", "--format", "json")
    data = json.loads(out)
    assert code == 3
    assert data["detail"].startswith(f"Failed to write {store}: ")
    assert "File exists" in data["detail"]  # mkdir of the store's folder
    assert data == failure(data["detail"], file=str(store))
    assert err == f"CommandError: {data['detail']}\n"


@pytest.mark.parametrize(
    ("dropped", "table"),
    [
        (None, "partners_importprofile"),  # never migrated: the import profiles are read first
        ("partners_partnertier", "partners_partnertier"),  # migrated, the records' table gone
    ],
)
def test_json_format_prints_the_error_as_json_on_a_database_error(tmp_path, dropped, table):
    """A real database error: the table the sync reads is not there."""
    path = write_csv(tmp_path / "partners_a.csv", ROWS)
    database = tmp_path / "broken.sqlite3"
    env = {
        **os.environ,
        "PARTNERS_STORE_PATH": str(tmp_path / "oems.json"),
        "DATABASE_URL": f"sqlite:///{database}",
    }
    if dropped:
        command = [sys.executable, "manage.py", "migrate", "-v0"]
        subprocess.run(command, cwd=settings.BASE_DIR, env=env, check=True, timeout=120)
        with sqlite3.connect(database) as connection:
            connection.execute(f"DROP TABLE {dropped}")
    proc = subprocess.run(
        [sys.executable, "manage.py", "sync_partners", str(path), "--format", "json"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    detail = f"Database error: no such table: {table}"
    assert proc.returncode == 3
    assert json.loads(proc.stdout) == failure(detail)
    assert proc.stderr == f"CommandError: {detail}\n"


def test_json_format_adds_the_detail_to_the_result_when_validation_fails(input_dir, store):
    path = write_csv(
        input_dir / "partners_a.csv",
        [["", "Gold", "P", "Cisco", "", ""], ["B", "", "P", "Cisco", "", ""]],
    )
    out, err, code = run("sync_partners", "--apply", "--format", "json")
    data = json.loads(out)
    detail = (
        f"Validation failed: {path.name}: Line 2: missing name (and 1 more); nothing was written"
    )
    assert code == 1
    assert data["detail"] == detail
    assert data["errors"] == [
        {
            "file": path.name,
            "line": 2,
            "field": "name",
            "message": f"{path.name}: Line 2: missing name",
        },
        {
            "file": path.name,
            "line": 3,
            "field": "tier",
            "message": f"{path.name}: Line 3: missing tier",
        },
    ]
    assert data["dry_run"] is False and data["applied"] is False and data["added"] == []
    assert err == f"CommandError: {detail}\n"
    assert not store.exists()


# A symlink in the input folder could lead anywhere on the server.


def secret_outside(tmp_path):
    secret = tmp_path / "outside" / "passwd.csv"
    secret.parent.mkdir()
    write_csv(secret, [["Leaked", "Gold", "P", "Cisco", "", ""]])
    return secret


def test_it_refuses_a_symlinked_input_in_the_default_folder_and_writes_nothing(
    input_dir, store, tmp_path
):
    write_csv(input_dir / "partners_a.csv", ROWS)
    (input_dir / "partners_x.csv").symlink_to(secret_outside(tmp_path))
    out, err, code = run("sync_partners", "--apply")
    assert code == 2
    assert err == "CommandError: Refusing partners_x.csv: it is a symbolic link\n"
    assert PartnerTier.objects.count() == 0 and not store.exists()


def test_it_refuses_a_symlink_given_as_a_path_the_same_way(input_dir, tmp_path):
    link = input_dir / "partners_x.csv"
    link.symlink_to(secret_outside(tmp_path))
    _, err, code = run("sync_partners", str(link))
    assert code == 2
    assert err == "CommandError: Refusing partners_x.csv: it is a symbolic link\n"


def test_errors_name_files_in_an_outside_input_folder_relative_to_it(input_dir, settings):
    # The input folder (tmp) is outside the project: no absolute server path is shown.
    write_csv(input_dir / "partners_a.csv", [["", "Gold", "P", "Cisco", "", ""]])
    (input_dir / "partners_b.json").write_text("{not json")
    _, err, code = run("sync_partners")
    assert code == 2
    assert err.startswith("CommandError: Failed to load partners_b.json: not valid JSON")
    assert str(input_dir) not in err
