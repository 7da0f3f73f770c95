"""Shared fixtures: a local Ray cluster on 127.0.0.1 for the tests that need more than one worker."""
import os

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    """A 2-CPU Ray cluster started in this process for the whole session, stopped at its end.

    Its workers import this checkout's code and these tests' modules (loss callables defined here run in them).
    """
    ray = pytest.importorskip("ray")
    pytest.importorskip("pyarrow")
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(os.path.dirname(here), "src")
    path = os.pathsep.join(p for p in (here, src, os.environ.get("PYTHONPATH")) if p)
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()
