"""Tier ladders benchmark: what the catalog costs a sync, as a user runs the commands.

100,000 records across 1,000 OEMs (bench_sync's realistic data), synced as whole processes
twice in the same run: into a database without ladders, and into one where every OEM has a
ladder (its four tiers in an order of its own, with an alias each, so every tier is re-spelled
and ranked by its ladder). Timed: the dry run and the apply into the empty table, and the dry
run and apply of the file with 10% of the tiers changed (every one of those a direction on the
ladder). Each is the best of `--repeat` runs, the two databases taking turns, so the machine's
noise falls on both alike. Target: with ladders within 1.1× of without.

    .venv/bin/python benchmarks/bench_ladders.py [--size 100000] [--repeat 3]
        [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import PYTHON, ROOT, environment, fresh_db, generate, run_process  # noqa: E402

TARGET = 1.1
LADDER = ["Bronze", "Silver", "Gold", "Platinum"]


def catalog_yaml(path: Path, oems: int) -> None:
    """A ladder for every OEM of the generated data, each ordered its own way."""
    lines = ["programs:"]
    for i in range(oems):
        shift = i % len(LADDER)
        tiers = LADDER[shift:] + LADDER[:shift]
        lines += [
            f"  - oem: Vendor {i:04d} Systems",
            "    program: null",
            f"    tiers: [{', '.join(tiers)}]",
            f'    aliases: {{"{tiers[-1].lower()} partner": {tiers[-1]}}}',
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def prepare(folder: Path, env: dict[str, str], catalog: Path | None) -> None:
    fresh_db(folder, env)
    if catalog is not None:
        command = [PYTHON, "manage.py", "programs", "import", str(catalog)]
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)


def steps(folder: Path, data: Path, changed: Path) -> list[tuple[str, list[str]]]:
    sync = [PYTHON, "manage.py", "sync_partners"]
    return [
        ("dry run (empty db)", [*sync, str(data)]),
        ("apply (empty db)", [*sync, str(data), "--apply"]),
        ("10% changed dry run", [*sync, str(changed)]),
        ("10% changed apply", [*sync, str(changed), "--apply"]),
    ]


def bench(database: str, size: int, oems: int, repeat: int) -> dict[str, dict[str, float]]:
    best: dict[str, dict[str, float]] = {"without": {}, "with": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data, changed = root / "records.csv", root / "changed.csv"
        generate(data, size, oems)
        generate(changed, size, oems, change=0.1)
        catalog = root / "programs.yaml"
        catalog_yaml(catalog, oems)
        for _ in range(repeat):
            for label, ladders in (("without", None), ("with", catalog)):
                folder = root / label
                folder.mkdir(exist_ok=True)
                env = environment(folder, database)
                prepare(folder, env, ladders)
                for name, args in steps(folder, data, changed):
                    seconds, _, code = run_process(args, env)
                    if code != 0:
                        raise SystemExit(f"{label} ladders: {name} failed (exit {code})")
                    kept = best[label].get(name)
                    best[label][name] = seconds if kept is None else min(kept, seconds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--oems", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--databases", default="sqlite")
    args = parser.parse_args()
    failed = False
    for database in args.databases.split(","):
        print(f"\n{args.size:,} records, {args.oems:,} OEMs, {database}, best of {args.repeat}:")
        print(f"  {'step':<22} {'no ladders':>11} {'ladders':>9} {'ratio':>7}")
        best = bench(database, args.size, args.oems, args.repeat)
        for name, without in best["without"].items():
            with_ = best["with"][name]
            ratio = with_ / without
            mark = "ok" if ratio <= TARGET else f"over {TARGET}×"
            failed |= ratio > TARGET
            print(f"  {name:<22} {without:>10.2f}s {with_:>8.2f}s {ratio:>6.2f}× {mark}")
    if failed:
        print(f"\nSome runs with ladders took more than {TARGET}× the runs without.")


if __name__ == "__main__":
    main()
