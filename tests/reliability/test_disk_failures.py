"""A full disk, a refused permission, a failing fsync: the old files stay byte-identical, the
error is clear, the exit code non-zero, and the sync run records the failure."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from partners.models import PartnerTier, SyncRun
from partners.sync import run_sync
from tests.helpers import run, write_csv

pytestmark = pytest.mark.django_db


def mount_tmpfs(folder: Path, size: str) -> bool:
    """A small tmpfs where the machine allows mounting (root in CI); False elsewhere."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
    )
    return done.returncode == 0


@pytest.fixture
def small_disk(store):
    """The store's folder on a 256 KB tmpfs, or None where mounting is not allowed."""
    mounted = mount_tmpfs(store.parent, "256k")
    yield mounted
    if mounted:
        subprocess.run(["umount", str(store.parent)], check=False)


def rows(count: int, tier: str) -> list[list[str]]:
    return [[f"Partner {i:05}", tier, "Program", f"OEM {i % 20}", "", ""] for i in range(count)]


def fill(folder: Path, leave: int) -> None:
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    (folder / "filler").write_bytes(b"\0" * max(free - leave, 0))


def test_a_full_disk_keeps_the_old_store_and_the_run_says_so(
    small_disk, input_dir, store, monkeypatch
):
    write_csv(input_dir / "partners_a.csv", rows(300, "Gold"))
    assert run_sync(apply=True).applied
    before = store.read_bytes()
    write_csv(input_dir / "partners_a.csv", rows(300, "Platinum") + rows(900, "Silver")[300:])
    if small_disk:
        fill(store.parent, leave=len(before) // 2)
    else:  # no mounting here: the same error, injected

        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr("partners.atomic.os.fsync", full)

    out, err, code = run("sync_partners", "--apply")

    assert code == 3
    assert "Failed to write" in err and "No space left on device" in err
    assert "Traceback" not in err
    assert store.read_bytes() == before
    assert [p.name for p in store.parent.iterdir() if p.name.endswith(".tmp")] == []
    failed = SyncRun.objects.latest("started_at")
    assert any("No space left on device" in str(e) for e in failed.errors)

    if small_disk:
        (store.parent / "filler").unlink()
    else:
        monkeypatch.undo()
    out, err, code = run("sync_partners", "--apply")
    assert code == 0
    assert store.read_bytes() != before and b"Platinum" in store.read_bytes()


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("partners.atomic.tempfile.mkstemp", OSError(errno.EACCES, "Permission denied")),
        ("partners.atomic.os.fsync", OSError(errno.EIO, "Input/output error")),
        ("partners.atomic.os.replace", OSError(errno.EROFS, "Read-only file system")),
    ],
)
def test_a_refused_write_keeps_the_old_store(target, error, input_dir, store, monkeypatch):
    write_csv(input_dir / "partners_a.csv", rows(50, "Gold"))
    assert run_sync(apply=True).applied
    before = store.read_bytes()
    write_csv(input_dir / "partners_a.csv", rows(50, "Silver"))

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(target, fail)
    out, err, code = run("sync_partners", "--apply")

    assert code == 3 and error.strerror in err and "Traceback" not in err
    assert store.read_bytes() == before
    assert [p.name for p in store.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert SyncRun.objects.latest("started_at").errors
    assert PartnerTier.objects.filter(tier="Silver").count() == 50  # the database moved on
    monkeypatch.undo()
    assert run("sync_partners", "--apply")[2] == 0  # and the next run writes the store
    assert b"Silver" in store.read_bytes()


def test_a_full_vault_keeps_every_note_whole(input_dir, tmp_path, monkeypatch):
    vault = tmp_path / "vault"
    mounted = mount_tmpfs(vault, "1m")
    try:
        write_csv(input_dir / "partners_a.csv", rows(200, "Gold"))
        run_sync(apply=True)
        assert run("export_obsidian", "--vault", str(vault))[2] == 0
        notes = vault / "30 Hubs" / "OEMs"
        before = {p.name: p.read_bytes() for p in notes.iterdir()}
        write_csv(input_dir / "partners_a.csv", rows(200, "Platinum"))
        run_sync(apply=True)
        if mounted:
            fill(vault, leave=2000)
        else:

            def full(*args, **kwargs):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr("partners.atomic.os.fsync", full)

        out, err, code = run("export_obsidian", "--vault", str(vault))

        assert code == 3 and "No space left on device" in err and "Traceback" not in err
        for path in notes.iterdir():
            assert not path.name.endswith(".tmp")
            assert path.read_bytes() == before[path.name] or b"Platinum" in path.read_bytes()
    finally:
        if mounted:
            subprocess.run(["umount", str(vault)], check=False)
