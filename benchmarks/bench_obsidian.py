"""Obsidian export benchmark: 100,000 partners across 1,000 OEMs, whole process.

A full export into an empty vault, then a no-op export (nothing changed: 0 files written),
then an export after 1% of the partners changed. `--ladders`: with a tier ladder for every
OEM in the catalog (notes ranked by it, the index a table per ladder).

    .venv/bin/python benchmarks/bench_obsidian.py [--sizes 100000] [--ladders]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import PYTHON, ROOT, environment, fresh_db, generate  # noqa: E402

TARGETS_100K = {"full export": 3.0, "no-op export": 1.0}


def export(env: dict[str, str], vault: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run(
        [PYTHON, "manage.py", "export_obsidian", "--vault", str(vault), "--format", "json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(f"    ! exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return elapsed, json.loads(proc.stdout)


def bench_size(count: int, folder: Path, ladders: bool = False) -> None:
    data = folder / f"partners_{count}.csv"
    changed = folder / f"changed_{count}.csv"
    generate(data, count)
    generate(changed, count, change=0.01)
    env = environment(folder)
    fresh_db(folder, env)
    if ladders:
        from bench_ladders import catalog_yaml

        catalog_yaml(folder / "programs.yaml", 1000)
        command = [PYTHON, "manage.py", "programs", "import", str(folder / "programs.yaml")]
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    sync = [PYTHON, "manage.py", "sync_partners", "--apply"]
    subprocess.run([*sync, str(data)], cwd=ROOT, env=env, check=True, capture_output=True)
    vault = folder / "vault"
    vault.mkdir(exist_ok=True)
    with_ladders = ", a ladder for every OEM" if ladders else ""
    print(f"\n{count:,} partners across 1,000 OEMs (SQLite, whole process{with_ladders})")

    def line(label: str, seconds: float, result: dict) -> None:
        target = TARGETS_100K.get(label) if count == 100_000 else None
        verdict = ""
        if target:
            verdict = "  ok" if seconds <= target else f"  OVER target {target} s"
        print(
            f"  {label:<22} {seconds:6.2f} s  written {len(result['files_written']):>5}  "
            f"unchanged {len(result['files_unchanged']):>5}{verdict}"
        )

    line("full export", *export(env, vault))
    seconds, result = export(env, vault)
    line("no-op export", seconds, result)
    if result["files_written"]:
        print("  ! the no-op export wrote files")
    subprocess.run([*sync, str(changed)], cwd=ROOT, env=env, check=True, capture_output=True)
    line("1% changed export", *export(env, vault))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--ladders", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-obsidian-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            bench_size(size, Path(tmp), args.ladders)


if __name__ == "__main__":
    main()
