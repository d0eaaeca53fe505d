"""Neo4j stopped in the middle of a load: the re-run converges to the uninterrupted result."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time

import neo4j

from conftest import require
from scenegraph.load import load_corpus
from scenegraph.graph.ladybug import LadybugStore


def write_corpus(path, scenes: int) -> None:
    rng = random.Random(7)
    words = ["тишина", "море", "город", "шаг", "вдох", "жар", "тревога", "ночь", "рука", "голос"]
    with path.open("w", encoding="utf-8") as out:
        for i in range(scenes):
            record = {"id": f"S{i}", "components": {kind: rng.choice(words) + str(rng.randrange(50))
                                                    for kind in ("agent", "field", "act", "tone")},
                      "archetypes": [f"a{rng.randrange(20)}"],
                      "parts": [{"id": f"S{i}.1", "components": {"act": "шаг"}}],
                      "expressions": [{"text": f"выражение {i}", "style": "поэт"}]}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def scene_count(uri: str, auth) -> int:
    with neo4j.GraphDatabase.driver(uri, auth=auth) as driver:
        records, _, _ = driver.execute_query("MATCH (s:Scene) RETURN count(s) AS n")
        return records[0]["n"]


def test_load_interrupted_by_a_neo4j_crash_converges_on_rerun(tmp_path):
    require(shutil.which("java") and shutil.which("mvn"),
            "needs a Neo4j it can kill and restart: the Java launcher (Java 17 and Maven)")
    from neo4j_server import Neo4jServer

    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, 4_000)
    reference = LadybugStore(tmp_path / "reference")
    expected = load_corpus(reference, [corpus]).counts
    reference.close()

    server = Neo4jServer(password="crash-test-pw", data_dir=tmp_path / "neo4j").start()
    env = {**os.environ, "NEO4J_USER": server.user, "NEO4J_PASSWORD": server.password,
           "SCENEGRAPH_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "scenegraph.cli", "--store", server.uri, "load", str(corpus)]
    try:
        loading = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while scene_count(server.uri, server.auth) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()
        _, err = loading.communicate(timeout=120)
        assert loading.returncode != 0, "the load finished before the crash: make the corpus larger"
        assert b"Error: cannot reach Neo4j" in err or b"Error:" in err

        server.start()
        rerun = subprocess.run(command, env=env, capture_output=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr.decode()
        from scenegraph.graph.neo4j import Neo4jStore

        with Neo4jStore(server.uri, user=server.user, password=server.password) as store:
            assert store.counts() == expected
    finally:
        server.stop()
