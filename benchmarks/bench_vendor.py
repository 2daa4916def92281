"""Vendor files, timed: what reading a file as it comes costs over reading it as we write it.

    python benchmarks/bench_vendor.py [--records 100000] [--repeat 3]

1. A vendor-style XLSX (a title row, `Partner Name, Partner Level, Primary Contact, Notes,
   Country`, no OEM or program column, the portal's tier names) read through an import
   profile (mapping, constants for OEM and program, a value map for tiers), against the same
   records in an XLSX with our own headers and values, read without a profile. Target: ≤ 1.5×.
2. The same records as a `;`-separated CSV (as Excel saves it in a European locale) against
   the comma CSV. Target: ≤ 1.1×.

Each figure is a whole `sync_partners` dry run into an empty SQLite database (start-up,
loading, validation and the comparison included), the best of `--repeat`, with its peak
memory; both sides of a ratio are measured in the same run, alternately, since the machine is
shared and noisy.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import COMPANY, FIRST, LAST, PYTHON, environment, fresh_db, run_process

PORTAL_TIERS = {"Gold Certified": "Gold", "Premier Integrator": "Platinum", "Select": "Silver"}
PROFILE = """\
profiles:
  - name: bench-portal
    pattern: null
    sheet: null
    header_row: auto
    delimiter: auto
    columns: {"Partner Name": name, "Partner Level": tier, "Primary Contact": poc, "Notes": notes, "Country": ignore}
    constants: {oem: Cisco, program: Cisco Partner Program}
    values: {tier: {"Gold Certified": Gold, "Premier Integrator": Platinum, "Select": Silver}}
"""  # noqa: E501
TARGETS = {"xlsx": 1.5, "csv": 1.1}


def records(count: int, seed: int = 11) -> list[tuple[str, str, str, str]]:
    """(name, portal tier, poc, notes) of `count` partners of one OEM."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        poc = f"{rng.choice(FIRST)} {rng.choice(LAST)}" if rng.random() < 0.8 else ""
        notes = "Renewal due next quarter" if rng.random() < 0.3 else ""
        out.append(
            (f"{rng.choice(COMPANY)} Partner {i:06d}", rng.choice(list(PORTAL_TIERS)), poc, notes)
        )
    return out


def write_xlsx(path: Path, header: list[str], rows: list[list[str]], title: str = "") -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Report")
    if title:
        sheet.append([title])
        sheet.append([])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)


def write_files(folder: Path, count: int) -> dict[str, Path]:
    found = records(count)
    plain_rows = [
        [name, PORTAL_TIERS[tier], "Cisco Partner Program", "Cisco", poc, notes]
        for name, tier, poc, notes in found
    ]
    standard = ["name", "tier", "program", "oem", "poc", "notes"]
    files = {
        "vendor.xlsx": folder / "vendor.xlsx",
        "plain.xlsx": folder / "plain.xlsx",
        "comma.csv": folder / "comma.csv",
        "semicolon.csv": folder / "semicolon.csv",
    }
    write_xlsx(
        files["vendor.xlsx"],
        ["Partner Name", "Partner Level", "Primary Contact", "Notes", "Country"],
        [[name, tier, poc, notes, "United States"] for name, tier, poc, notes in found],
        title="Cisco Partner Report — exported 2026-11-30",
    )
    write_xlsx(files["plain.xlsx"], standard, plain_rows)
    for key, delimiter in (("comma.csv", ","), ("semicolon.csv", ";")):
        with files[key].open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            writer.writerow(standard)
            writer.writerows(plain_rows)
    (folder / "profiles.yaml").write_text(PROFILE, encoding="utf-8")
    return files


def dry_run(env: dict[str, str], path: Path, *extra: str) -> tuple[float, float]:
    seconds, rss, code = run_process([PYTHON, "manage.py", "sync_partners", str(path), *extra], env)
    if code != 0:
        raise SystemExit(f"sync_partners {path.name} failed with exit {code}")
    return seconds, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-vendor-") as tmp:
        folder = Path(tmp)
        print(f"Writing {args.records:,} records as XLSX (vendor and plain) and CSV (, and ;)")
        files = write_files(folder, args.records)
        env = environment(folder)
        fresh_db(folder, env)
        run_process([PYTHON, "manage.py", "profiles", "import", str(folder / "profiles.yaml")], env)
        runs = {
            "vendor.xlsx": ("--profile", "bench-portal"),
            "plain.xlsx": (),
            "semicolon.csv": (),
            "comma.csv": (),
        }
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.repeat):
            for name, extra in runs.items():
                seconds, rss = dry_run(env, files[name], *extra)
                if name not in best or seconds < best[name][0]:
                    best[name] = (seconds, max(rss, best.get(name, (0, 0))[1]))
        print(f"\n{'file':<16}{'size':>10}{'dry run':>10}{'peak':>10}")
        for name, (seconds, rss) in best.items():
            size = files[name].stat().st_size / 1e6
            print(f"{name:<16}{size:>8.1f}MB{seconds:>9.2f}s{rss:>8.0f}MB")
        xlsx = best["vendor.xlsx"][0] / best["plain.xlsx"][0]
        semicolon = best["semicolon.csv"][0] / best["comma.csv"][0]
        print()
        for label, value, key in (
            ("vendor XLSX through its profile / plain XLSX", xlsx, "xlsx"),
            ("semicolon CSV / comma CSV", semicolon, "csv"),
        ):
            verdict = "ok" if value <= TARGETS[key] else "OVER TARGET"
            print(f"{label:<48}{value:>6.2f}×  (target ≤ {TARGETS[key]}×: {verdict})")


if __name__ == "__main__":
    main()
