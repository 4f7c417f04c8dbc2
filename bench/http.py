"""Benchmark: the service under load (issue 8), side by side with a bare baseline.

For SQLite and PostgreSQL: a bare FastAPI endpoint that only decodes an ES256 JWT with
pyjwt, and elicense's ``POST /v1/verify`` (an online resident code, the hotel scenario,
every check, an access record written), each under uvicorn with 2 workers, loaded by wrk
with 2 threads and 50 connections on loopback. Every run sends a fixed number of
requests and waits for all their answers. Each endpoint gets a warm-up run (whose rate
sizes the next run to last about ``--seconds``), then:

* saturation: the 50 connections send as fast as the server answers. Gives throughput
  (and ours as a ratio to the bare endpoint's), p50 and p99. In a closed loop at
  saturation, Little's law fixes the mean latency at 50 / throughput (50 connections at
  700 req/s wait 71 ms on average whatever the code does), so this p99 measures the
  queue, not the endpoint;
* paced: the same 50 connections offer a fixed rate, half the bare endpoint's
  saturation throughput (the rate our verify must sustain to meet its ≥ 50 % goal), on
  a fixed schedule (send times at equal intervals, taken by whichever connection is
  free). Gives p50 and p99 at that rate: the latency a client sees at the load the goal
  is about. If the server cannot keep up, the achieved rate is lower and says so.

Access records are counted exactly: the wrk script counts every request it sends and
every answer (wrk's own total misses requests in flight when a timed run stops; these
runs stop only when everything sent is answered), and the bench compares the records
written during each run with the requests sent. Every code is used once.
Run: .venv/bin/python bench/http.py [--seconds 10] [--pg URL] [--only sqlite|postgresql]
(needs wrk)
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named http.py (as the issue asks): keep its folder off the import path, or
# it would shadow the standard library's http package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from sqlalchemy import create_engine

from elicense import demo
from elicense.home import init_home, open_platform
from elicense.jose.keyfile import generate_signer
from elicense.storage import upgrade
from elicense.storage.db import parse_url

HERE = Path(__file__).resolve().parent
PASS = "bench-http-passphrase"
PYTHON = sys.executable
CONNECTIONS = 50
MAX_RATE = 5000
"""Bare tokens made per second of a run: more than the bare endpoint answers here."""
WARM_UP = 4000
"""Requests of the warm-up run, whose rate sizes the measured run (about ``seconds``)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(app: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The app under uvicorn; what it writes (the service's JSON log lines: one per
    request, as in production) goes to ``log``, a file, as a deployment's would."""
    with log.open("ab") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                app,
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env={**os.environ, **env},
            cwd=tempfile.gettempdir(),
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"{app} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def wrk(port: int, codes: Path, key: str, rate: float = 0, limit: int = 60) -> dict[str, float]:
    """Send exactly one request per code in ``codes`` (as fast as answered, or at
    ``rate`` per second) and wait for every answer, or ``limit`` seconds at most (a
    lost answer ends the run at the limit; the throughput is measured from the first
    request to the last answer either way)."""
    env = {"CODES_DIR": str(codes), "API_KEY": key, "RATE": f"{rate:.3f}", "THREADS": "2"}
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(CONNECTIONS),
            "-d",
            f"{limit}s",  # an upper bound: the script stops once everything is answered
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(HERE / "http_support" / "verify.lua"),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    ).stdout
    m = re.search(r"RESULT (.*)", out)
    if m is None:
        raise RuntimeError(out)
    r = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    r["rate"] = r["answered"] / r["seconds"]
    for bad in re.findall(r"NON2XX (.*)", out):
        print(f"  (a non-2xx answer: {bad})", file=sys.stderr)
    return r


def write_codes(directory: Path, codes: list[str], threads: int = 2) -> Path:
    directory.mkdir()
    for t in range(threads):
        (directory / f"codes_{t}.txt").write_text("\n".join(codes[t::threads]) + "\n")
    return directory


def drain(log_head: Callable[[], int], sent: int, before: int) -> int:
    """Wait until the server has written a record for every request sent (or the log
    stops growing for 3 s): the records written since ``before``."""
    last, still_since = -1, time.time()
    while True:
        n = log_head() - before
        if n >= sent:
            time.sleep(0.5)  # one more look: more than sent would be a bug to show
            return log_head() - before
        if n != last:
            last, still_since = n, time.time()
        elif time.time() - still_since > 3:
            return n
        time.sleep(0.1)


def run_backend(
    name: str, database_url: str | None, seconds: int, work: Path, paced: float | None = None
) -> list[str]:
    home = work / f"home-{name}"
    now = int(time.time())
    cfg = init_home(
        home,
        region=demo.REGION,
        region_name=demo.REGION_NAME,
        issuers=demo.demo_issuers(),
        passphrase=PASS.encode(),
        now=now,
        database_url=database_url,
    )
    upgrade(cfg.database_url)
    platform = open_platform(home, passphrase=PASS.encode(), now=now)
    result = demo.populate(platform, now=now)
    holder = result.residents[0]
    rp_key = result.rp_keys["hotel-qidu"]

    def codes(n: int, label: str) -> Path:
        # Fresh single-use codes, made just before the phase that spends them (they
        # live 300 s); wrk never cycles them, so none is replayed.
        made = [
            platform.code_for(
                holder,
                scenarios=["hotel_checkin"],
                now=int(time.time()),
                rand=os.urandom,
                lifetime=300,
            )
            for _ in range(n)
        ]
        return write_codes(work / f"codes-{name}-{label}", made)

    # Baseline: validly signed, distinct JWTs for the bare endpoint.
    signer = generate_signer()
    private = signer.private_key  # type: ignore[attr-defined]
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    all_tokens = [
        jwt.encode(
            {"sub": "bench", "jti": os.urandom(16).hex(), "scn": [1]}, private, algorithm="ES256"
        )
        for _ in range(MAX_RATE * seconds)
    ]
    n_dirs = iter(range(1_000_000))

    def tokens(n: int) -> Path:
        return write_codes(work / f"tokens-{name}-{next(n_dirs)}", all_tokens[:n])

    port = free_port()
    proc = start(
        "bare_app:create_app",
        port,
        {"BARE_PUBLIC_PEM": public_pem, "PYTHONPATH": str(HERE / "http_support")},
        work / f"bare-{name}.log",
    )
    try:
        limit = seconds * 3 + 10
        warm = wrk(port, tokens(WARM_UP), "x", limit=limit)
        bare = wrk(
            port, tokens(min(int(warm["rate"] * seconds), len(all_tokens))), "x", limit=limit
        )
        paced_rate = paced or bare["rate"] / 2
        bare_paced = wrk(port, tokens(int(paced_rate * seconds)), "x", rate=paced_rate, limit=limit)
    finally:
        stop(proc)

    port = free_port()
    # One relying party sends all the load: lift its per-minute limit for the run.
    env = {
        "ELICENSE_HOME": str(home),
        "ELICENSE_KEY_PASSPHRASE": PASS,
        "ELICENSE_RATE_LIMIT_PER_MINUTE": "100000000",
    }
    if database_url:
        env["ELICENSE_DATABASE_URL"] = database_url
    head = lambda: platform.storage.access_log.head()[0]  # noqa: E731

    def counted(codes_dir: Path, rate: float = 0) -> dict[str, float]:
        before = head()
        r = wrk(port, codes_dir, rp_key, rate=rate, limit=seconds * 3 + 10)
        r["records"] = drain(head, int(r["sent"]), before)
        return r

    proc = start("elicense_service.app:create_app", port, env, work / f"service-{name}.log")
    try:
        warm = counted(codes(WARM_UP // 2, "warm"))
        ours = counted(codes(int(warm["rate"] * seconds), "sat"))
        paced = counted(codes(int(paced_rate * seconds), "paced"), rate=paced_rate)
    finally:
        stop(proc)
    platform.storage.close()
    ratio = ours["rate"] / bare["rate"]
    ok = (
        ratio >= 0.5
        and paced["p99_ms"] <= 50
        and paced["rate"] >= 0.9 * paced_rate
        and all(
            r["records"] == r["sent"] == r["answered"] and not r["non2xx"] for r in (ours, paced)
        )
    )

    def row(endpoint: str, r: dict[str, float], vs: str, recorded: bool) -> str:
        counts = (
            f"{int(r['records']):>8} {int(r['sent']):>8} {int(r['answered']):>8} "
            f"{int(r['non2xx']):>6}"
            if recorded
            else f"{'':>8} {int(r['sent']):>8} {int(r['answered']):>8} {int(r['non2xx']):>6}"
        )
        return (
            f"{name:10} {endpoint:22} {r['rate']:7.0f} {vs:>7} "
            f"{r['p50_ms']:7.1f} {r['p99_ms']:7.1f} {counts}"
        )

    return [
        row("bare pyjwt saturated", bare, "", False),
        row("verify saturated", ours, f"{ratio:.0%}", True),
        row(f"bare pyjwt @{paced_rate:.0f}/s", bare_paced, "", False),
        row(f"verify @{paced_rate:.0f}/s", paced, "", True),
        f"{name:10} {'OK' if ok else 'NOT MET'}: verify >= 50 % of bare ({ratio:.0%}), "
        f"p99 <= 50 ms at {paced_rate:.0f}/s ({paced['p99_ms']:.1f} ms), "
        f"records = requests sent ({int(ours['records'])}/{int(ours['sent'])}, "
        f"{int(paced['records'])}/{int(paced['sent'])})",
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--pg", default=os.environ.get("ELICENSE_TEST_POSTGRES_URL"))
    ap.add_argument("--only", choices=("sqlite", "postgresql"), help="run one database only")
    ap.add_argument(
        "--paced-rate", type=float, help="offer this rate in the paced runs (for A/B comparisons)"
    )
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print(
            "bench/http.py needs wrk, the HTTP load generator, which is not installed.\n"
            "Install it with: sudo apt-get install -y wrk   (or see https://github.com/wg/wrk)",
            file=sys.stderr,
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="elicense-http-"))
    print(
        f"bench/http.py  2 uvicorn workers, wrk 2 threads x {CONNECTIONS} connections, "
        f"about {args.seconds}s per run after a warm-up; saturated = as fast as answered, "
        "@N/s = offered at a fixed rate, half the bare endpoint's saturated rate"
    )
    print(
        f"{'database':10} {'endpoint':22} {'req/s':>7} {'vs bare':>7} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'records':>8} {'sent':>8} {'answered':>8} {'non2xx':>6}"
    )
    lines = (
        []
        if args.only == "postgresql"
        else run_backend("sqlite", None, args.seconds, work, args.paced_rate)
    )
    if args.only != "sqlite" and args.pg:
        schema = f"bench_{os.getpid()}"
        sep = "&" if "?" in args.pg else "?"  # a URL may carry ?host=/path (a Unix socket)
        url = f"{args.pg}{sep}schema={schema}"
        try:
            lines += run_backend("postgresql", url, args.seconds, work, args.paced_rate)
        finally:  # the run's tables and records go with it, as the SQLite file does
            engine = create_engine(parse_url(args.pg).url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            engine.dispose()
    elif args.only != "sqlite":
        lines.append("postgresql skipped: pass --pg URL or set ELICENSE_TEST_POSTGRES_URL")
    for line in lines:
        print(line)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
