"""The benchmark runner: each benchmark in a fresh event loop, bounded in time; a report; an exit code.

Full runs exit 1 when any target is missed and write ``bench/RESULTS.md``. ``--smoke`` runs tiny sizes, checks
only that every benchmark ran and reported sane figures (never the targets), and writes nothing unless
``--output`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from bench import ack, delivery, ledger, queue, ratelimit, traffic
from bench.harness import Result, quiet_logs

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["BENCHMARKS", "main"]

BENCHMARKS: dict[str, Callable[..., Awaitable[Result]]] = {
    "ack": ack.run,
    "traffic": traffic.run,
    "queue": queue.run,
    "ledger": ledger.run,
    "ratelimit": ratelimit.run,
    "delivery": delivery.run,
}
# Per benchmark; the whole full suite stays under 10 minutes on 2 cores.
_FULL_TIMEOUT = 240.0
_SMOKE_TIMEOUT = 30.0
RESULTS = Path(__file__).with_name("RESULTS.md")


def _run_one(name: str, *, smoke: bool) -> Result:
    async def bounded() -> Result:
        async with asyncio.timeout(_SMOKE_TIMEOUT if smoke else _FULL_TIMEOUT):
            return await BENCHMARKS[name](smoke=smoke)

    started = time.perf_counter()
    try:
        result = asyncio.run(bounded())
    except Exception as exc:
        result = Result(name, notes=[f"crashed: {exc!r}"])
        traceback.print_exc()
    result.seconds = time.perf_counter() - started
    return result


def _machine() -> str:
    try:
        uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    except OSError:
        uname = platform.platform()
    return f"`{uname}`, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def _report(results: list[Result], *, command: str, when: str, smoke: bool) -> str:
    lines = [
        "# Benchmark results" + (" (smoke sizes: not the targets)" if smoke else ""),
        "",
        "Written by the benchmark runner; see the README's Performance section for what each benchmark measures.",
        "",
        f"- Command: `{command}`",
        f"- Machine: {_machine()}",
        f"- Date: {when}",
        f"- Verdict: {'all targets met' if all(r.passed for r in results) else 'targets missed (exit code 1)'}",
        "",
        "Every benchmark runs the fake Discord, the reAPI simulator and the bot in one process on loopback, so"
        " absolute times depend on the machine and its neighbours; the bot/floor ratios are the figures to compare.",
        "",
    ]
    for result in results:
        verdict = "PASS" if result.passed and result.checks else "MISS"
        lines += [f"## {result.name}: {verdict} ({result.seconds:.0f} s)", ""]
        lines += [f"- {line}" for line in result.lines()]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the chosen benchmarks; return the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; check that each runs, not the targets")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only this (repeatable)")
    parser.add_argument("--output", type=Path, help=f"write the report here (default {RESULTS} for full runs)")
    args = parser.parse_args(argv)
    quiet_logs()
    names = args.only or list(BENCHMARKS)
    command = shlex.join(["python", "-m", "bench", *argv])
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results: list[Result] = []
    for name in names:
        print(f"== {name} ...", flush=True)
        result = _run_one(name, smoke=args.smoke)
        results.append(result)
        for line in result.lines():
            print(f"   {line}", flush=True)
        ok = result.sane() if args.smoke else result.passed and bool(result.checks)
        print(
            f"   {'OK' if args.smoke and ok else 'PASS' if ok else 'FAILED' if args.smoke else 'MISS'}"
            f" ({result.seconds:.1f} s)",
            flush=True,
        )
    output = args.output or (None if args.smoke else RESULTS)
    if output is not None:
        output.write_text(_report(results, command=command, when=when, smoke=args.smoke), encoding="utf-8")
        print(f"wrote {output}")
    if args.smoke:
        return 0 if all(r.sane() for r in results) else 1
    return 0 if all(r.passed and r.checks for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
