"""HTTP API benchmark under `make serve`'s set-up: gunicorn, 2 workers, DEBUG off, SQLite.

1,000 records: GET /v1/partners/tiers at concurrency 8 for 10 s (requests/s, p50, p99).
10,000 records in the input folder: a dry-run POST /v1/partners/sync (latency, best and median
of 5).

    .venv/bin/python benchmarks/bench_api.py [--seconds 10] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import PYTHON, ROOT, environment, fresh_db, generate  # noqa: E402

TARGET_P99_MS = 50
TARGET_DRY_RUN_S = 1.0
MAKE_TOKEN = """
import django; django.setup()
from django.contrib.auth import get_user_model
from partners.tokens import create_token
user = get_user_model().objects.create_superuser("bench", "b@example.com", "pw")
print(create_token(user)[1])
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port: int, method: str, path: str, token: str, body: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def load(
    port: int, token: str, seconds: float, concurrency: int
) -> tuple[list[float], list[float]]:
    latencies: list[float] = []
    server: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, theirs = [], []
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            conn.request("GET", "/v1/partners/tiers", headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - start) * 1000)
            theirs.append(float(response.headers["x-latency-ms"]))
            if response.status != 200:
                raise SystemExit(f"status {response.status}")
        with lock:
            latencies.extend(mine)
            server.extend(theirs)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        folder = Path(tmp)
        env = {**environment(folder), "DJANGO_DEBUG": "0", "DJANGO_STATIC_ROOT": str(folder)}
        fresh_db(folder, env)
        small = folder / "partners_small.csv"
        generate(small, 1000, oems=50)
        subprocess.run(
            [PYTHON, "manage.py", "sync_partners", str(small), "--apply"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        small.unlink()
        token = subprocess.run(
            [PYTHON, "-c", MAKE_TOKEN],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        port = free_port()
        server = subprocess.Popen(
            [
                str(Path(PYTHON).parent / "gunicorn"),
                "partnersite.wsgi",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    request(port, "GET", "/v1/openapi.json", token)
                    break
                except OSError:
                    time.sleep(0.1)
            status, body = request(port, "GET", "/v1/partners/tiers", token)
            assert status == 200 and len(json.loads(body)) == 1000, status
            print(
                f"\nGET /v1/partners/tiers, 1,000 records, concurrency {args.concurrency}, "
                f"{args.seconds:g} s (gunicorn, 2 workers, SQLite)"
            )
            latencies, server_ms = load(port, token, args.seconds, args.concurrency)
            latencies.sort()
            server_ms.sort()
            p50 = latencies[len(latencies) // 2]
            p99 = latencies[int(len(latencies) * 0.99) - 1]
            verdict = "ok" if p99 <= TARGET_P99_MS else f"OVER target {TARGET_P99_MS} ms"
            print(f"  {len(latencies) / args.seconds:8.0f} requests/s")
            print(f"  p50 {p50:6.1f} ms   p99 {p99:6.1f} ms  {verdict} (as the clients saw it)")
            s50, s99 = server_ms[len(server_ms) // 2], server_ms[int(len(server_ms) * 0.99) - 1]
            print(f"  p50 {s50:6.1f} ms   p99 {s99:6.1f} ms  (x-latency-ms, inside Django)")

            generate(folder / "partners_big.csv", 10_000)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                status, body = request(
                    port, "POST", "/v1/partners/sync", token, '{"dry_run": true}'
                )
                times.append(time.perf_counter() - start)
                assert status == 200, body[:300]
            added = json.loads(body)["summary"]["added"]
            best, median = min(times), statistics.median(times)
            verdict = "ok" if median <= TARGET_DRY_RUN_S else f"OVER target {TARGET_DRY_RUN_S} s"
            print(f"\nPOST /v1/partners/sync dry run, 10,000 records ({added:,} new)")
            print(f"  best {best:.2f} s   median {median:.2f} s  {verdict}")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
