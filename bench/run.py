"""The benchmark runner: each benchmark in a fresh event loop, bounded in time; a report; an exit code.

Full runs exit 1 when any target is missed and write ``bench/RESULTS.md``. ``--smoke`` runs tiny sizes, checks
only that every benchmark ran and reported sane figures (never the targets), and writes nothing unless
``--output`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from bench import ack, delivery, ledger, queue, ratelimit, scale, soak, startup, traffic
from bench.harness import Check, Result, quiet_logs

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["BENCHMARKS", "groups", "main"]

BENCHMARKS: dict[str, Callable[..., Awaitable[Result]]] = {
    "ack": ack.run,
    "traffic": traffic.run,
    "queue": queue.run,
    "ledger": ledger.run,
    "ratelimit": ratelimit.run,
    "delivery": delivery.run,
    "scale": scale.run,
    "soak": soak.run,
    "startup": startup.run,
}
# Per benchmark; the whole full suite stays under 10 minutes on 2 cores.
_FULL_TIMEOUT = 240.0
_FULL_TIMEOUTS = {"scale": 330.0, "soak": 300.0}  # scale: 10,000 jobs offered over 100 s, each taking 130 s
_SMOKE_TIMEOUT = 30.0
# The key runs beside its value, each in its own process: both mostly wait (ratelimit on the channel's
# write limit, ~5 % of a core over its two minutes; delivery on 8 s tasks), and one after the other they were a
# third of the whole run's 10 minutes.
_BESIDE = {"delivery": "ratelimit"}
RESULTS = Path(__file__).with_name("RESULTS.md")
FIXES = Path(__file__).with_name("fixes.md")


def groups(names: list[str], *, smoke: bool) -> list[list[str]]:
    """The benchmarks that run at once, group after group, in ``names``' order.

    A full run measures each alone but for the ``_BESIDE`` pairs. A smoke run starts them all at once: it checks
    only that each runs and reports sane figures, and one after the other they took ~40 s of CI's suite, mostly
    waiting (~20 s of CPU between them).
    """
    if smoke:
        return [list(names)] if names else []
    out: list[list[str]] = []
    for name in names:
        if name in _BESIDE.values() and any(k in names for k, v in _BESIDE.items() if v == name):
            continue  # started with its partner, reported after it
        partner = _BESIDE.get(name)
        out.append([name, partner] if partner is not None and partner in names else [name])
    return out


def _run_here(name: str, *, smoke: bool) -> Result:
    limit = _SMOKE_TIMEOUT if smoke else _FULL_TIMEOUTS.get(name, _FULL_TIMEOUT)

    async def bounded() -> Result:
        async with asyncio.timeout(limit):
            return await BENCHMARKS[name](smoke=smoke)

    try:
        return asyncio.run(bounded())
    except Exception as exc:
        traceback.print_exc()
        return Result(name, notes=[f"crashed: {exc!r}"])


class _Running:
    """One benchmark in a process of its own: what one leaves behind (heap, threads, RSS that Python never gives
    back) must not count against the next, and the scale and soak figures are of one bot process."""

    def __init__(self, name: str, *, smoke: bool) -> None:
        self.name = name
        self.limit = (_SMOKE_TIMEOUT if smoke else _FULL_TIMEOUTS.get(name, _FULL_TIMEOUT)) + 60
        command = [sys.executable, "-m", "bench", "--child", name, *(["--smoke"] if smoke else [])]
        # A file, not a pipe: nobody reads a benchmark running beside another until it ends. Closed in result().
        self._output = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self.started = time.perf_counter()
        self._process = subprocess.Popen(command, stdout=self._output, text=True)

    def result(self) -> Result:
        """Wait for the process (bounded) and read its result."""
        try:
            self._process.wait(timeout=max(1.0, self.started + self.limit - time.perf_counter()))
            self._output.seek(0)
            result = _decode(self.name, self._output.read())
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            result = Result(self.name, notes=[f"crashed: no answer within {self.limit:.0f} s"])
        finally:
            self._output.close()
        result.seconds = time.perf_counter() - self.started
        return result


_MARK = "bench-result: "


def _encode(result: Result) -> str:
    return _MARK + json.dumps(dataclasses.asdict(result))


def _decode(name: str, output: str) -> Result:
    """The child's result from its last marked line (a crash without one reads as a crashed benchmark)."""
    lines = [line for line in output.splitlines() if line.startswith(_MARK)]
    if not lines:
        return Result(name, notes=["crashed: the benchmark's process gave no result (see its output above)"])
    data = json.loads(lines[-1][len(_MARK) :])
    data["checks"] = [Check(**check) for check in data["checks"]]
    return Result(**data)


def _machine() -> str:
    try:
        uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    except OSError:
        uname = platform.platform()
    return f"`{uname}`, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def _report(results: list[Result], *, command: str, when: str, smoke: bool, wall: float) -> str:
    met = all(r.passed and r.checks for r in results)  # a crashed benchmark has no checks: not met
    lines = [
        "# Benchmark results" + (" (smoke sizes: not the targets)" if smoke else ""),
        "",
        "Written by the benchmark runner; see `bench/NOTES.md` for how each benchmark measures and why.",
        "",
        f"- Command: `{command}`",
        f"- Machine: {_machine()}",
        f"- Date: {when}",
        f"- Verdict: {'all targets met' if met else 'targets missed (exit code 1)'}",
        "",
        "The benchmarks run the fake Discord, the reAPI simulator and the bot on loopback (in one process, or for"
        " scale and soak the fakes in a child process), so absolute times depend on the machine and its neighbours;"
        " the bot/floor ratios are the figures to compare.",
        "",
    ]
    for result in results:
        verdict = "PASS" if result.passed and result.checks else "MISS"
        lines += [f"## {result.name}: {verdict} ({result.seconds:.0f} s)", ""]
        lines += [f"- {line}" for line in result.lines()]
        lines.append("")
    ran = [r.name for r in results]
    together = (
        "all at once"
        if smoke and len(ran) > 1
        else ", ".join(f"{b} beside {a}" for a, b in _BESIDE.items() if {a, b} <= set(ran))
    )
    lines.append(f"Whole run: {wall / 60:.1f} minutes" + (f" ({together})." if together else "."))
    lines.append("")
    if not smoke and FIXES.exists():
        lines.append(FIXES.read_text(encoding="utf-8"))  # what each fix changed, kept by hand beside the runner
    return "\n".join(lines)


def _print(result: Result, *, smoke: bool) -> None:
    for line in result.lines():
        print(f"   {line}", flush=True)
    ok = result.sane() if smoke else result.passed and bool(result.checks)
    verdict = "OK" if smoke and ok else "PASS" if ok else "FAILED" if smoke else "MISS"
    print(f"   {verdict} ({result.seconds:.1f} s)", flush=True)


def main(argv: list[str]) -> int:
    """Run the chosen benchmarks; return the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; check that each runs, not the targets")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only this (repeatable)")
    parser.add_argument("--output", type=Path, help=f"write the report here (default {RESULTS} for full runs)")
    parser.add_argument("--child", choices=sorted(BENCHMARKS), help=argparse.SUPPRESS)  # one benchmark, as JSON
    args = parser.parse_args(argv)
    quiet_logs()
    if args.child:
        print(_encode(_run_here(args.child, smoke=args.smoke)), flush=True)
        return 0
    names = args.only or list(BENCHMARKS)
    command = shlex.join(["python", "-m", "bench", *argv])
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    started = time.perf_counter()
    results: list[Result] = []
    for group in groups(names, smoke=args.smoke):
        running = [_Running(name, smoke=args.smoke) for name in group]
        for n, each in enumerate(running):
            print(f"== {each.name} (beside {group[0]}) ..." if n else f"== {each.name} ...", flush=True)
            results.append(each.result())
            _print(results[-1], smoke=args.smoke)
    wall = time.perf_counter() - started
    output = args.output or (None if args.smoke else RESULTS)
    if output is not None:
        output.write_text(_report(results, command=command, when=when, smoke=args.smoke, wall=wall), encoding="utf-8")
        print(f"wrote {output}")
    if args.smoke:
        return 0 if all(r.sane() for r in results) else 1
    return 0 if all(r.passed and r.checks for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
