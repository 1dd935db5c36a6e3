"""``onematter serve`` picks its worker count: one per usable core in production, 1 in a demo."""

from __future__ import annotations

import os

import pytest

from gateway.config import Settings
from gateway.serve import MAX_DEFAULT_WORKERS, default_workers


def test_production_runs_one_worker_per_usable_core() -> None:
    settings = Settings.model_validate({"hub": {"mode": "production"}})
    cores = len(os.sched_getaffinity(0))
    assert default_workers(settings) == max(1, min(cores, MAX_DEFAULT_WORKERS))


def test_a_demo_runs_one_worker() -> None:
    assert default_workers(Settings()) == 1


def test_the_affinity_limits_it(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.model_validate({"hub": {"mode": "production"}})
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(32)))
    assert default_workers(settings) == MAX_DEFAULT_WORKERS
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert default_workers(settings) == 1


def test_the_setting_is_unset_by_default_and_an_explicit_count_stays() -> None:
    assert Settings().hub.workers is None
    assert Settings.model_validate({"hub": {"workers": 3}}).hub.workers == 3
