"""The partner list sorted by rank: the admin's change list (first page, whole request through
Django's test client) at 100,000 records across 1,000 OEMs, without a catalog, with the shipped
catalog, and with a ladder for every OEM; beside the same page ordered by OEM and name only.

    .venv/bin/python benchmarks/bench_admin_rank.py [--size 100000] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ladders import catalog_yaml  # noqa: E402
from bench_sync import PYTHON, ROOT, environment, fresh_db, generate  # noqa: E402

REPEAT = 5


def child() -> None:
    """In a fresh process: the change list's first page, timed (median of REPEAT), and the
    same page with the rank left out of the ordering."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnersite.settings")
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from partners.admin import PartnerTierAdmin

    user = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )[0]
    client = Client()
    client.force_login(user)
    url = reverse("admin:partners_partnertier_changelist")

    def timed() -> float:
        times = []
        for _ in range(REPEAT):
            start = time.perf_counter()
            assert client.get(url).status_code == 200
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    ranked = timed()
    PartnerTierAdmin.get_ordering = lambda self, request: ["oem", "name"]  # type: ignore[method-assign]
    plain = timed()
    print(json.dumps({"ranked": ranked, "plain": plain}))


def page(env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [PYTHON, __file__, "--child"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        child()
        return
    with tempfile.TemporaryDirectory(prefix="bench-rank-") as tmp:
        folder = Path(tmp)
        data, catalog = folder / "partners.csv", folder / "programs.yaml"
        generate(data, args.size)
        catalog_yaml(catalog, 1000)
        env = environment(folder, args.database)
        fresh_db(folder, env)
        manage = [PYTHON, "manage.py"]
        sync = [*manage, "sync_partners", str(data), "--apply"]
        subprocess.run(sync, cwd=ROOT, env=env, check=True, capture_output=True)
        print(f"\nChange list, first page, {args.size:,} records / 1,000 OEMs ({args.database})")
        print(f"  {'catalog':<28} {'by rank':>9} {'by name':>9}  ratio")
        states: list[tuple[str, list[str] | None]] = [
            ("none", None),
            ("shipped (data/programs.yaml)", ["programs", "load"]),
            ("a ladder for every OEM", ["programs", "import", str(catalog)]),
        ]
        for label, command in states:
            if command:
                subprocess.run(
                    [*manage, *command], cwd=ROOT, env=env, check=True, capture_output=True
                )
            got = page(env)
            print(
                f"  {label:<28} {got['ranked']:8.3f}s {got['plain']:8.3f}s  "
                f"{got['ranked'] / got['plain']:.2f}×"
            )


if __name__ == "__main__":
    main()
