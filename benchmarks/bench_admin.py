"""Admin upload benchmark: preview and confirm of a CSV through Django's test client, beside
the engine's dry run and apply of the same file through the command (whole process each).

For 10,000 and 100,000 rows on a fresh SQLite database (an empty one, so every row is new,
the heaviest preview): preview time, preview page size, confirm time, peak memory.

    .venv/bin/python benchmarks/bench_admin.py [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import PYTHON, ROOT, environment, fresh_db, generate, run_process  # noqa: E402

TARGETS = {  # rows: (preview s, confirm s, page bytes, peak MB); None = no target
    10_000: (5.0, None, None, None),
    100_000: (15.0, 15.0, 2_000_000, 500),
}


def child(path: Path) -> None:
    """In a fresh process: log in, upload `path`, confirm; print the figures as JSON."""
    import resource

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnersite.settings")
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's host and its response.context
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse

    from partners.models import PartnerTier

    user = get_user_model().objects.create_superuser("bench", "b@example.com", "pw")
    client = Client()
    client.force_login(user)
    data = path.read_bytes()
    start = time.perf_counter()
    preview = client.post(
        reverse("admin:partners_partnertier_import"),
        {"import_file": SimpleUploadedFile(path.name, data), "format": "0"},
    )
    preview_s = time.perf_counter() - start
    assert preview.status_code == 200, preview.status_code
    confirm_data = preview.context["confirm_form"].initial
    start = time.perf_counter()
    done = client.post(reverse("admin:partners_partnertier_process_import"), confirm_data)
    confirm_s = time.perf_counter() - start
    assert done.status_code == 302, done.status_code
    figures = {
        "preview_s": preview_s,
        "confirm_s": confirm_s,
        "page_bytes": len(preview.content),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows": PartnerTier.objects.count(),
    }
    print(json.dumps(figures))


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return "  ok" if value <= target else f"  OVER target {target:g}"


def bench_size(count: int, folder: Path) -> None:
    data = folder / f"upload_{count}.csv"
    generate(data, count)
    env = environment(folder)
    print(f"\n{count:,} rows across 1,000 OEMs (SQLite)")

    fresh_db(folder, env)
    engine_dry, _, _ = run_process([PYTHON, "manage.py", "sync_partners", str(data)], env)
    engine_apply, _, _ = run_process(
        [PYTHON, "manage.py", "sync_partners", str(data), "--apply"], env
    )
    fresh_db(folder, env)
    out = subprocess.run(
        [PYTHON, __file__, "--child", str(data)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["rows"] == count, figures
    preview_t, confirm_t, page_t, peak_t = TARGETS.get(count, (None, None, None, None))
    print(
        f"  admin preview   {figures['preview_s']:7.2f} s{verdict(figures['preview_s'], preview_t)}"
    )
    print(
        f"  admin confirm   {figures['confirm_s']:7.2f} s{verdict(figures['confirm_s'], confirm_t)}"
    )
    print(
        f"  preview page    {figures['page_bytes'] / 1024:7.0f} KB"
        f"{verdict(figures['page_bytes'], page_t)}"
    )
    print(f"  peak memory     {figures['peak_mb']:7.0f} MB{verdict(figures['peak_mb'], peak_t)}")
    print(f"  engine dry run  {engine_dry:7.2f} s (whole process, the command)")
    print(f"  engine apply    {engine_apply:7.2f} s (whole process, the command)")
    print(
        f"  admin preview + confirm = {figures['preview_s'] + figures['confirm_s']:.2f} s, "
        f"{(figures['preview_s'] + figures['confirm_s']) / (engine_dry + engine_apply):.1f}× "
        "the command's dry run + apply"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--child", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-admin-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            bench_size(size, Path(tmp))


if __name__ == "__main__":
    main()
