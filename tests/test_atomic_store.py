from __future__ import annotations

import os

import pytest

from partners import atomic
from partners.atomic import replacing_many, write_atomic, write_if_changed
from partners.models import PartnerTier, SyncRun
from partners.sync import StoreError, run_sync
from tests.helpers import write_csv


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "out"
    path.mkdir()
    return path


def test_a_write_replaces_the_file_and_leaves_no_temp_file(folder):
    target = folder / "oems.json"
    target.write_bytes(b"old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(folder) == ["oems.json"]


def test_unchanged_bytes_are_not_written(folder):
    target = folder / "oems.json"
    target.write_bytes(b"same")
    stamp = target.stat().st_mtime_ns
    assert write_if_changed(target, b"same") is False
    assert target.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_failing_replace_or_fsync_keeps_the_old_file_and_no_temp(folder, monkeypatch, failing):
    target = folder / "oems.json"
    target.write_bytes(b"old")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, failing, fail)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert os.listdir(folder) == ["oems.json"]


def test_many_files_are_replaced_together_and_no_temp_file_stays(folder):
    (folder / "a.md").write_bytes(b"old a")
    with replacing_many(workers=4) as replace:
        for name in ("a.md", "b.md", "c.md"):
            replace(folder / name, f"new {name}".encode())
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {
        "a.md": b"new a.md",
        "b.md": b"new b.md",
        "c.md": b"new c.md",
    }


def test_a_failing_fsync_among_many_keeps_the_old_file_and_no_temp(folder, monkeypatch):
    (folder / "a.md").write_bytes(b"old a")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", fail)
    with pytest.raises(OSError, match="No space left"), replacing_many() as replace:
        replace(folder / "a.md", b"new a")
        replace(folder / "b.md", b"new b")
    monkeypatch.undo()
    assert os.listdir(folder) == ["a.md"]
    assert (folder / "a.md").read_bytes() == b"old a"


@pytest.mark.django_db
def test_a_store_that_cannot_be_written_fails_the_sync_and_records_why(
    input_dir, store, monkeypatch
):
    store.parent.mkdir(parents=True)
    store.write_bytes(b"previous")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", fail)
    path = write_csv(input_dir / "p.csv", [["A", "Gold", "P", "Cisco", "", ""]])
    with pytest.raises(StoreError, match="No space left on device"):
        run_sync([path], apply=True)
    assert store.read_bytes() == b"previous"
    run = SyncRun.objects.get()
    assert "No space left on device" in run.errors[0]
    assert PartnerTier.objects.count() == 1  # the data is applied; the next run writes the store


@pytest.mark.django_db
@pytest.mark.parametrize("damage", ["deleted", "edited", "edited, times kept"])
def test_a_no_op_sync_restores_a_store_that_was_changed_behind_its_back(input_dir, store, damage):
    from partners.sync import run_sync
    from tests.helpers import write_csv

    write_csv(input_dir / "partners_a.csv", [["Acme", "Gold", "P", "Cisco", "", ""]])
    assert run_sync(apply=True).store_written
    good = store.read_bytes()
    times = store.stat()
    if damage == "deleted":
        store.unlink()
    else:
        store.write_bytes(good.replace(b"Gold", b"Gxld"))
        if damage == "edited, times kept":
            os.utime(store, ns=(times.st_atime_ns, times.st_mtime_ns))
    result = run_sync(apply=True)
    assert result.summary["added"] == result.summary["updated"] == 0
    assert result.store_written and store.read_bytes() == good


@pytest.mark.django_db
def test_a_no_op_sync_leaves_an_intact_store_alone(input_dir, store):
    from partners.sync import run_sync
    from tests.helpers import write_csv

    write_csv(input_dir / "partners_a.csv", [["Acme", "Gold", "P", "Cisco", "", ""]])
    run_sync(apply=True)
    before = store.stat().st_mtime_ns
    assert run_sync(apply=True).store_written is False
    assert store.stat().st_mtime_ns == before


@pytest.mark.django_db
@pytest.mark.parametrize("empty_before", [True, False])
def test_a_write_that_rolls_back_leaves_the_store_and_no_temp_file(
    input_dir, store, monkeypatch, empty_before
):
    """The new store is written on a thread while the write's transaction goes on; when the
    transaction fails it is never put in place."""
    from django.db import DatabaseError

    from partners import ledger

    if not empty_before:
        write_csv(input_dir / "partners_a.csv", [["Acme", "Gold", "P", "Cisco", "", ""]])
        assert run_sync(apply=True).store_written
    before = store.read_bytes() if store.exists() else None
    write_csv(input_dir / "partners_a.csv", [["Acme", "Silver", "P", "Cisco", "", ""]] * 1)
    write_csv(input_dir / "partners_b.csv", [["Beta", "Gold", "P", "Dell", "", ""]])

    def fail(*args, **kwargs):  # after the store was started
        raise DatabaseError("the disk went away")

    monkeypatch.setattr(ledger, "record_recent", fail)
    with pytest.raises(DatabaseError):
        run_sync(apply=True)
    assert (store.read_bytes() if store.exists() else None) == before
    assert [p.name for p in store.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert not PartnerTier.objects.filter(name="Beta").exists()
    monkeypatch.undo()
    assert run_sync(apply=True).store_written
    assert b"Beta" in store.read_bytes()


@pytest.mark.django_db
def test_a_revert_that_rolls_back_leaves_the_store_and_no_temp_file(input_dir, store, monkeypatch):
    """A removal's store is started before the removed records' entries are copied; when
    the transaction fails after that, the file stays as it was."""
    from django.db import DatabaseError

    from partners import db, sync
    from partners.revert import revert_run

    write_csv(input_dir / "partners_a.csv", [["Acme", "Gold", "P", "Cisco", "", ""]])
    run_id = run_sync(apply=True).run_id
    assert run_id is not None
    before = store.read_bytes()

    prepared: list[object] = []
    prepare = sync.prepare_changes

    def spied(*args, **kwargs):
        prepared.append(prepare(*args, **kwargs))
        return prepared[-1]

    monkeypatch.setattr(sync, "prepare_changes", spied)

    def fail(*args, **kwargs):  # after the entries were copied
        assert prepared and prepared[0] is not None  # the new store was on its way
        raise DatabaseError("the disk went away")

    monkeypatch.setattr(db, "delete", fail)
    with pytest.raises(DatabaseError):
        revert_run(run_id, apply=True)
    assert store.read_bytes() == before
    assert [p.name for p in store.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert PartnerTier.objects.filter(name="Acme").exists()
    monkeypatch.undo()
    assert revert_run(run_id, apply=True).store_written
    assert b"Acme" not in store.read_bytes()
