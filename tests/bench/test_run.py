"""bench.run: which benchmarks share the machine, in a full run and in a smoke run."""

from __future__ import annotations

from bench.run import BENCHMARKS, groups


def test_a_full_run_measures_each_benchmark_alone_but_ratelimit_beside_delivery() -> None:
    names = list(BENCHMARKS)
    ran = groups(names, smoke=False)
    assert ["delivery", "ratelimit"] in ran
    assert all(len(group) == 1 for group in ran if group != ["delivery", "ratelimit"])
    assert sorted(name for group in ran for name in group) == sorted(names)  # each once


def test_a_full_run_of_ratelimit_without_delivery_runs_it_alone() -> None:
    assert groups(["ratelimit", "ack"], smoke=False) == [["ratelimit"], ["ack"]]
    assert groups(["ratelimit", "delivery"], smoke=False) == [["delivery", "ratelimit"]]


def test_a_smoke_run_starts_every_benchmark_at_once() -> None:
    names = list(BENCHMARKS)
    assert groups(names, smoke=True) == [names]
    assert groups([], smoke=True) == []
