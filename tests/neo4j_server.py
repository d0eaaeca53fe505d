"""Build and run a throwaway Neo4j 5.26 Community server (embedded, Bolt only) for tests.

The server is the small Java program in ``tests/neo4j`` (see its README). It needs
``java`` (17+) at run time and ``mvn`` once, to build the launcher jar.

Usage::

    with Neo4jServer(password="secret") as server:
        driver = neo4j.GraphDatabase.driver(server.uri, auth=server.auth)

``kill()`` followed by ``start()`` simulates a crash: the data directory and the
Bolt port are kept, so the same URI works again after the restart.

Run ``python tests/neo4j_server.py --help`` to start one by hand.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

LAUNCHER_DIR = Path(__file__).resolve().parent / "neo4j"
LAUNCHER_JAR = LAUNCHER_DIR / "target" / "neo4j-launcher.jar"
BUILD_LOCK = LAUNCHER_DIR / ".build.lock"
JVM_OPTIONS = ("-Xmx1g", "-XX:+ExitOnOutOfMemoryError")
READY_PREFIX = "BOLT "
LOG_NAME = "launcher.log"


class Neo4jLauncherError(RuntimeError):
    """The launcher could not be built, or the server did not come up."""


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Neo4jLauncherError(
            f"`{name}` not found on PATH; the Neo4j test server needs a JDK 17+ and Maven"
        )
    return path


def _sources() -> list[Path]:
    return [LAUNCHER_DIR / "pom.xml", *(LAUNCHER_DIR / "src").rglob("*")]


def _needs_build() -> bool:
    if not LAUNCHER_JAR.exists():
        return True
    built_at = LAUNCHER_JAR.stat().st_mtime
    return any(path.stat().st_mtime > built_at for path in _sources())


def build_launcher() -> Path:
    """Build the launcher jar with Maven if it is missing or older than its sources.

    Maven is needed only when a build is; ``java`` always. Safe to call from several
    processes at once (a file lock serialises builds). Returns the path of the jar; its
    dependencies sit in ``target/lib``. ``clean`` runs first so that a version bump leaves
    no stale jars; running servers keep their already-open (unlinked) jars.
    """
    _require_tool("java")
    with BUILD_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _needs_build():
            _run_maven(_require_tool("mvn"))
    return LAUNCHER_JAR


def _run_maven(mvn: str) -> None:
    command = [mvn, "-q", "-B", "-Dstyle.color=never", "clean", "package"]
    result = subprocess.run(
        command, cwd=LAUNCHER_DIR, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        raise Neo4jLauncherError(f"`{' '.join(command)}` failed in {LAUNCHER_DIR}:\n{output}")


def _log_tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except FileNotFoundError:
        return "(no log)"


class Neo4jServer:
    """A Neo4j DBMS in a child JVM, reachable over Bolt on 127.0.0.1 with auth enabled.

    ``data_dir`` is kept as is when given; otherwise a temporary one is created on the
    first ``start()`` and deleted by ``stop()``. Launcher output goes to
    ``<data_dir>/launcher.log``, Neo4j's own logs to ``<data_dir>/logs``.
    """

    user = "neo4j"

    def __init__(
        self,
        password: str = "test-password",
        data_dir: str | os.PathLike[str] | None = None,
        port: int = 0,
        startup_timeout: float = 180.0,
    ) -> None:
        self.password = password
        self.port = port
        self.startup_timeout = startup_timeout
        self._given_data_dir = Path(data_dir) if data_dir is not None else None
        self._temp_dir: Path | None = None
        self._process: subprocess.Popen[str] | None = None
        self.uri: str | None = None

    @property
    def auth(self) -> tuple[str, str]:
        """``(user, password)``, as the neo4j driver's ``auth`` argument expects."""
        return (self.user, self.password)

    @property
    def data_dir(self) -> Path:
        if self._given_data_dir is not None:
            return self._given_data_dir
        if self._temp_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="neo4j-test-"))
        return self._temp_dir

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_NAME

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Neo4jServer:
        """Launch the server and wait until it accepts Bolt connections.

        After the first start the bound port is remembered, so a restart keeps the URI.
        """
        if self.running:
            raise Neo4jLauncherError("server is already running")
        jar = build_launcher()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process = self._spawn(jar)
        try:
            self.uri = self._await_ready()
        except BaseException:
            self.kill()
            raise
        self.port = int(self.uri.rsplit(":", 1)[1])
        return self

    def stop(self, grace: float = 60.0) -> None:
        """Shut down cleanly (EOF on the launcher's stdin), SIGKILL after ``grace`` seconds.

        Also deletes the data directory if it is a temporary one.
        """
        if self._process is not None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
            self._forget_process()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), leaving the data directory as a crash would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._forget_process()

    def __enter__(self) -> Neo4jServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, jar: Path) -> subprocess.Popen[str]:
        command = [
            _require_tool("java"),
            *JVM_OPTIONS,
            "-jar", str(jar),
            "--data-dir", str(self.data_dir),
            "--port", str(self.port),
        ]
        environment = {**os.environ, "NEO4J_PASSWORD": self.password}
        with self.log_path.open("a") as log:
            return subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=environment,
                text=True,
            )

    def _await_ready(self) -> str:
        """Read the launcher's stdout until its ``BOLT <uri>`` line; return the URI."""
        process = self._process
        deadline = time.monotonic() + self.startup_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while (remaining := deadline - time.monotonic()) > 0:
                if not selector.select(remaining):
                    break
                line = process.stdout.readline()
                if not line:
                    raise Neo4jLauncherError(
                        f"Neo4j exited with code {process.wait()} before it was ready;"
                        f" {self.log_path}:\n{_log_tail(self.log_path)}"
                    )
                if line.startswith(READY_PREFIX):
                    return line[len(READY_PREFIX):].strip()
        raise Neo4jLauncherError(
            f"Neo4j not ready after {self.startup_timeout:.0f} s;"
            f" {self.log_path}:\n{_log_tail(self.log_path)}"
        )

    def _forget_process(self) -> None:
        self._process.stdout.close()
        if not self._process.stdin.closed:
            self._process.stdin.close()
        self._process = None
        self.uri = None


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a Neo4j test server until Ctrl-C.")
    parser.add_argument("--password", default="test-password")
    parser.add_argument("--data-dir", default=None, help="kept; default: a temporary dir")
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    args = parser.parse_args()
    with Neo4jServer(password=args.password, data_dir=args.data_dir, port=args.port) as server:
        print(f"{server.uri}  user={server.user} password={server.password}", flush=True)
        print(f"logs: {server.data_dir}; Ctrl-C to stop", flush=True)
        try:
            while server.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
