"""scripts/bench-attest runs end to end and reports the numbers it
promises (no timing is asserted, only that they are there and sane)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench-attest"


def test_bench_attest_json_report():
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "-n",
            "3",
            "--warmup",
            "0",
            "--json",
            "--algo",
            "ECDSA_P256",
            "--hash",
            "SHA_256",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["count"] == 3 and report["signing_algorithm"] == "ECDSA_P256"
    for key in ("wall", "requester_cpu"):
        assert set(report[key]) == {"mean_ms", "median_ms", "p95_ms", "min_ms"}
        assert report[key]["min_ms"] > 0
    profile = report["profile"]
    assert 0 < profile["crypto_share"] < 1
    assert profile["crypto_ms_per_attestation"]["signature verification"] > 0


def test_bench_attest_rejects_unknown_algorithm():
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--algo", "DSA_1024"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "unknown algorithm 'DSA_1024'" in proc.stderr
