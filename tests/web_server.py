"""`scenegraph serve` in its own process on a free loopback port, and headless Chromium to look
at it: shared by the explorer's tests and its benchmark.

    with ExplorerServer(store_dir) as server:
        httpx.get(server.url("/api/status"))

Chromium is Debian's (``scripts/install-browser.sh``), driven by Playwright for Python; the
launch flags keep it off the network entirely.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from scenegraph.graph.batch import GraphBatch
from scenegraph.load import load_corpus
from scenegraph.models import Component, Expression, Scene
from scenegraph.graph.ladybug import LadybugStore

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions",
]
ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "scenegraph" / "web" / "static" / "dist" / "app.js"
SEEDS = ROOT / "seeds" / "corpus"
XSS_ID = "Δxss"
XSS_TITLE = "<img src=x onerror=window.__pwned=1>"
XSS_TEXT = "<script>window.__pwned=2</script> stands at the door"
XSS_EXPRESSION = '<script>window.__pwned=3</script> and <img src=x onerror="window.__pwned=4">'


def build_store(folder: Path) -> None:
    """The seeds plus one scene whose every text is markup, closed again (no lock held)."""
    store = LadybugStore(folder)
    load_corpus(store, [SEEDS])
    scene = Scene(id=XSS_ID, title=XSS_TITLE, text=XSS_TEXT, lang="en", archetypes=["порог"],
                  components=[Component(kind="agent", name="<b>guest</b>")])
    expression = Expression(scene_ids=[XSS_ID], text=XSS_EXPRESSION, style="<i>poet</i>",
                            register="poetry", lang="en")
    store.upsert(GraphBatch.of([scene], [expression]))
    store.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_chromium(playwright):
    """Headless Debian Chromium through Playwright."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                      headless=True)


class ExplorerServer:
    """The real explorer (uvicorn) over a store folder, in a child process."""

    def __init__(self, store: Path | str, token: str | None = None, start_timeout: float = 60,
                 env: dict[str, str] | None = None):
        self.store = str(store)
        self.token = token
        self.env = env
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self.output = None

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def start(self) -> "ExplorerServer":
        command = [sys.executable, "-m", "scenegraph.cli", "--store", self.store, "serve",
                   "--port", str(self.port)] + (["--token", self.token] if self.token else [])
        self.output = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self.output,
                                        stderr=subprocess.STDOUT, text=True,
                                        env={**os.environ, **(self.env or {})})
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"scenegraph serve exited: {self.printed()}")
            try:
                if httpx.get(self.url("/api/status"), headers=self.headers(), timeout=2).is_success:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"scenegraph serve did not answer within {self.start_timeout} s")

    def printed(self) -> str:
        """What the server has printed so far."""
        self.output.seek(0)
        return self.output.read()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "ExplorerServer":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


class WriterHolder:
    """Another process holding a read-write connection (the write lock) to a store folder."""

    SCRIPT = ("import sys\nfrom scenegraph.graph.ladybug import LadybugStore\n"
              "store = LadybugStore(sys.argv[1]); store.counts()\n"
              "print('holding', flush=True); sys.stdin.read(); store.close()\n")

    def __init__(self, store: Path | str):
        self.process = subprocess.Popen([sys.executable, "-c", self.SCRIPT, str(store)],
                                        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        line = self.process.stdout.readline().strip()
        if line != "holding":
            self.release()
            raise RuntimeError(f"the writer process did not open the store: {line!r}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def release(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)


def ok(response):
    """The JSON of a 200 answer; anything else fails the test with the server's words."""
    assert response.status_code == 200, response.text
    return response.json()
