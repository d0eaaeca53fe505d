"""Shared fixtures: real stores on disk, the bundled seeds, and the rule for missing parts.

A test whose real part (Neo4j, Chromium, the packaged model…) is missing skips locally with the
reason, and fails under CI=true, where nothing the mission needs may skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scenegraph.load import load_corpus
from scenegraph.store.ladybug import LadybugStore

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds" / "corpus"
IN_CI = os.environ.get("CI") == "true"


def require(condition: object, reason: str) -> None:
    """Skip (locally) or fail (under CI=true) when a real part the test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"missing under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def ladybug_store(tmp_path):
    """An empty, initialised embedded store in a temporary folder."""
    store = LadybugStore(tmp_path / "store")
    store.init_schema()
    yield store
    store.close()


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory):
    """An embedded store with the bundled seeds loaded (shared by a module's tests: read only)."""
    store = LadybugStore(tmp_path_factory.mktemp("seeded") / "store")
    load_corpus(store, [SEEDS])
    yield store
    store.close()
