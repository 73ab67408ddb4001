"""Shared fixtures for the simulated cluster's tests: real dumps, served for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sim_helpers import CLUSTER_JSON, PODS_JSON

from netsight.sim.loading import load_objects
from netsight.sim.server import SimServer


@pytest.fixture(scope="session")
def real_objects() -> list[dict]:
    return load_objects([PODS_JSON, CLUSTER_JSON])


@pytest.fixture(scope="module")
def real_sim(
    real_objects: list[dict], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SimServer]:
    """The real OpenShift dump, served; tests using it must not change it."""
    sim = SimServer(real_objects, bookmark_interval_s=0.3).start()
    sim.write_kubeconfig(tmp_path_factory.mktemp("kc") / "config")
    yield sim
    sim.stop()


@pytest.fixture()
def make_sim(tmp_path: Path) -> Iterator:
    """Factory: a started SimServer over given objects, and its kubeconfig path."""
    started: list[SimServer] = []

    def make(objects: list[dict], **kwargs: object) -> tuple[SimServer, Path]:
        sim = SimServer(objects, **kwargs).start()  # type: ignore[arg-type]
        started.append(sim)
        path = sim.write_kubeconfig(tmp_path / f"kubeconfig-{len(started)}")
        return sim, path

    yield make
    for sim in started:
        sim.stop()
