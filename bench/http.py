"""Benchmark: the service under load (issue 8), side by side with a bare baseline.

For SQLite and PostgreSQL: a bare FastAPI endpoint that only decodes an ES256 JWT with
pyjwt, and elicense's ``POST /v1/verify`` (an online resident code, the hotel scenario,
every check, an access record written), each under uvicorn with 2 workers and loaded by
wrk with 50 connections on loopback. Prints throughput (and its ratio to the bare
endpoint), p50 and p99, and the access records written against the requests answered.
Run: .venv/bin/python bench/http.py [--seconds 10] [--pg URL]
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

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

from elicense import demo
from elicense.home import init_home, open_platform
from elicense.jose.keyfile import generate_signer
from elicense.storage import upgrade

HERE = Path(__file__).resolve().parent
PASS = "bench-http-passphrase"
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
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


def wrk(port: int, seconds: int, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            "50",
            "-d",
            f"{seconds}s",
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
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def write_codes(directory: Path, codes: list[str], threads: int = 2) -> None:
    for t in range(threads):
        (directory / f"codes_{t}.txt").write_text("\n".join(codes[t::threads]) + "\n")


def run_backend(name: str, database_url: str | None, seconds: int, work: Path) -> list[str]:
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
    # Enough fresh codes that none is used twice during the run (single use!).
    n_codes = 1200 * seconds
    codes = [
        platform.code_for(
            holder, scenarios=["hotel_checkin"], now=int(time.time()), rand=os.urandom, lifetime=300
        )
        for _ in range(n_codes)
    ]
    codes_dir = work / f"codes-{name}"
    codes_dir.mkdir()
    write_codes(codes_dir, codes)
    before = platform.storage.access_log.head()[0]

    # Baseline: the same number of distinct, validly signed JWTs for the bare endpoint.
    signer = generate_signer()
    pem = signer.public_key()
    private = signer.private_key  # type: ignore[attr-defined]
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    tokens = [
        jwt.encode(
            {"sub": "bench", "jti": os.urandom(16).hex(), "scn": [1]}, private, algorithm="ES256"
        )
        for _ in range(n_codes)
    ]
    bare_dir = work / f"tokens-{name}"
    bare_dir.mkdir()
    write_codes(bare_dir, tokens)
    del pem

    port = free_port()
    proc = start(
        "bare_app:create_app",
        port,
        {"BARE_PUBLIC_PEM": public_pem, "PYTHONPATH": str(HERE / "http_support")},
    )
    try:
        wrk(port, 2, {"CODES_DIR": str(bare_dir), "API_KEY": "x"})  # warm-up
        bare = wrk(port, seconds, {"CODES_DIR": str(bare_dir), "API_KEY": "x"})
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
    proc = start("elicense_service.app:create_app", port, env)
    try:
        ours = wrk(
            port, seconds, {"CODES_DIR": str(codes_dir), "API_KEY": result.rp_keys["hotel-qidu"]}
        )
    finally:
        stop(proc)
    records = platform.storage.access_log.head()[0] - before
    platform.storage.close()
    ratio = (ours["requests"] / ours["seconds"]) / (bare["requests"] / bare["seconds"])
    answered = int(ours["requests"])
    return [
        f"{name:10} {'bare pyjwt':16} {bare['requests'] / bare['seconds']:9.0f} {'':>7} "
        f"{bare['p50_ms']:7.1f} {bare['p99_ms']:7.1f}",
        f"{name:10} {'elicense verify':16} {ours['requests'] / ours['seconds']:9.0f} {ratio:7.0%} "
        f"{ours['p50_ms']:7.1f} {ours['p99_ms']:7.1f}   records {records} / requests {answered}"
        f" (non-2xx {int(ours['non2xx'])})"
        f"  {'OK' if ratio >= 0.5 and ours['p99_ms'] <= 50 and records == answered else 'NO'}",
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--pg", default=os.environ.get("ELICENSE_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed (apt-get install wrk)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="elicense-http-"))
    print(f"bench/http.py  2 uvicorn workers, wrk 2 threads × 50 connections, {args.seconds}s each")
    print(
        f"{'database':10} {'endpoint':16} {'req/s':>9} {'vs bare':>7} {'p50 ms':>7} {'p99 ms':>7}"
    )
    lines = run_backend("sqlite", None, args.seconds, work)
    if args.pg:
        schema = f"bench_{os.getpid()}"
        lines += run_backend("postgresql", f"{args.pg}?schema={schema}", args.seconds, work)
    else:
        lines.append("postgresql skipped: pass --pg URL or set ELICENSE_TEST_POSTGRES_URL")
    for line in lines:
        print(line)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
