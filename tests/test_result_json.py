"""A sync result written as JSON while it is encoded: the command's `--format json` and the
API's sync response say exactly what the result holds, a list entry per line, and a large API
result is streamed rather than built as one body."""

from __future__ import annotations

import io
import json
from functools import partial
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from partners import db
from partners.diff import Plan
from partners.models import PartnerTier
from partners.result_json import result_dict
from partners.sync import SyncResult, run_sync
from tests.helpers import run, write_csv
from tests.test_api import api, post, syncer  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

MANY = 2_600  # more than one chunk of the encoder and of the API streaming threshold


def rows(count: int, tier: str = "Gold") -> list[list[str]]:
    return [[f"Partner {i:05}", tier, "P", f"OEM {i % 7}", "", "Café ☕"] for i in range(count)]


def test_the_json_of_a_large_no_op_lists_every_record_once_as_unchanged(input_dir):
    path = write_csv(input_dir / "partners_a.csv", rows(MANY))
    run_sync([path], apply=True)
    out, err, code = run("sync_partners", str(path), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    names = [entry["name"] for entry in data["unchanged"]]
    assert sorted(names) == [f"Partner {i:05}" for i in range(MANY)]
    assert data["summary"] == {
        "added": 0,
        "updated": 0,
        "unchanged": MANY,
        "missing": 0,
        "removed": 0,
        "kept": 0,
        "conflicts": 0,
    }
    assert data["unchanged"][0]["notes"] == "Café ☕"  # UTF-8 as it is, not \\u escapes
    assert "Café ☕" in out


def test_the_json_is_one_key_per_line_and_one_list_entry_per_line(input_dir):
    path = write_csv(input_dir / "partners_a.csv", rows(3))
    out, _, _ = run("sync_partners", str(path), "--format", "json")
    lines = out.splitlines()
    added = [line for line in lines if line.startswith("    {")]
    assert len(added) == 3 and all(json.loads(line.rstrip(",")) for line in added)
    assert lines[0] == "{" and lines[-1] == "}"
    assert sum(line.startswith('  "') for line in lines) == len(json.loads(out))


def test_a_refused_sync_prints_the_result_with_detail_and_errors(input_dir, settings):
    settings.PARTNERS_MAX_REMOVE = 1
    path = write_csv(input_dir / "partners_a.csv", rows(5))
    run_sync([path], apply=True)
    write_csv(path, rows(2))
    out, _, code = run("sync_partners", str(path), "--prune", "--apply", "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert data["detail"].startswith("Refusing to remove 3 records")
    assert data["errors"][0]["message"] == data["detail"]
    assert data["summary"]["removed"] == 3 and len(data["removed"]) == 3
    assert PartnerTier.objects.count() == 5


def buffered(path: Path) -> io.TextIOWrapper:
    return path.open("w", encoding="utf-8")


def unbuffered(path: Path) -> io.TextIOWrapper:  # as stdout under `python -u`
    return io.TextIOWrapper(path.open("wb", buffering=0), encoding="utf-8", write_through=True)


@pytest.mark.parametrize("opened", [buffered, unbuffered])
def test_the_json_written_to_a_file_is_what_a_string_gets_after_what_was_there(
    input_dir, tmp_path, opened
):
    path = write_csv(input_dir / "partners_a.csv", rows(MANY))
    run_sync([path], apply=True)
    out, _, _ = run("sync_partners", str(path), "--format", "json")
    with opened(tmp_path / "out.json") as handle:
        handle.write("before\n")
        call_command(
            "sync_partners", str(path), "--format", "json", stdout=handle, stderr=StringIO()
        )
    assert (tmp_path / "out.json").read_text(encoding="utf-8") == "before\n" + out


def every(ids: list[int]) -> list[int]:
    return ids


def gapped(ids: list[int]) -> list[int]:
    return [i for i in ids if i % 3]


def sparse(ids: list[int]) -> list[int]:
    return ids[::5]


def unordered(ids: list[int]) -> list[int]:
    return ids[20:] + ids[:20]


@pytest.mark.parametrize("chosen", [every, gapped, sparse, unordered])
def test_rows_held_by_id_are_listed_as_their_rowset_reads_them(input_dir, monkeypatch, chosen):
    run_sync([write_csv(input_dir / "partners_a.csv", rows(60))], apply=True)
    ids = sorted(PartnerTier.objects.values_list("id", flat=True))
    PartnerTier.objects.filter(id__in=ids[7:9]).delete()  # gone since the plan
    monkeypatch.setattr(db, "stream", partial(db.stream, chunk=7))  # many parts
    unchanged = db.RowSet(chosen(ids))
    result = SyncResult(dry_run=True, prune=False, sources=[], plan=Plan(unchanged=unchanged))
    listed = result_dict(result)["unchanged"]
    assert listed == [row.to_dict() for row in unchanged]
    assert len(listed) == len(unchanged) - len({*chosen(ids)} & {*ids[7:9]})


def untimed(value: Any) -> Any:
    """`value` without its `created_at` / `updated_at` keys, at any depth."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in ("created_at", "updated_at")}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def test_a_large_api_sync_result_is_streamed_and_says_what_the_command_says(
    api,  # noqa: F811
    input_dir,
):
    path = write_csv(input_dir / "partners_a.csv", rows(MANY))
    run_sync([path], apply=True)
    write_csv(path, rows(MANY, tier="Platinum"))
    response = post(api, {})
    assert response.status_code == 200
    assert response.streaming
    data = json.loads(b"".join(response.streaming_content))
    command, _, _ = run("sync_partners", str(path), "--format", "json")
    # The two dry runs may straddle a second: their "now" times are not what is compared.
    assert untimed(data) == untimed(json.loads(command))
    assert data["summary"]["updated"] == MANY
    assert {entry["changes"]["tier"]["direction"] for entry in data["updated"]} == {"up"}


def test_a_small_api_sync_result_is_one_body(api, input_dir):  # noqa: F811
    write_csv(input_dir / "partners_a.csv", rows(3))
    response = post(api, {})
    assert not response.streaming
    assert json.loads(response.content)["summary"]["added"] == 3
