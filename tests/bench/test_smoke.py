"""CI runs the benchmarks' smoke form: every benchmark runs at a tiny size and reports sane figures (not targets)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import ledger
from bench.run import BENCHMARKS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(150)
def test_bench_smoke_runs_every_benchmark_and_writes_its_report(tmp_path: Path) -> None:
    report = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--output", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    first, *others = BENCHMARKS
    assert f"== {first} ..." in done.stdout
    for name in others:  # a smoke run starts every benchmark at once, each in its own process
        assert f"== {name} (beside {first}) ..." in done.stdout
    assert "bot/floor ratio" in done.stdout
    assert "FAILED" not in done.stdout
    text = report.read_text(encoding="utf-8")
    assert "- Command: `python -m bench --smoke --output" in text
    assert "CPUs" in text
    assert text.count("\n## ") == len(BENCHMARKS)
    assert "(all at once)." in text
    # The SQLite ledger figure is the median of rounds that are all shown, as PostgreSQL's is (one round read
    # 5,366-7,338 pairs/s over seven runs of the same code).
    sqlite = next(line for line in text.splitlines() if line.startswith("- SQLite store (create_job + finish_job)"))
    assert sqlite.partition("(rounds: ")[2].count(", ") == ledger.ROUNDS - 1, sqlite
