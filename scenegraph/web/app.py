"""The explorer's HTTP side: a JSON API over one read-only store, and the page that uses it.

Every ``/api/`` route answers JSON; errors are ``{"error": "..."}`` with a status that says whose
fault it was. With a token, every API call must carry ``Authorization: Bearer <token>``; the
page and its assets need none (they hold no data). Served on loopback, requests must name
127.0.0.1 or localhost as their host, which keeps other web sites from reaching the API through
DNS rebinding.
"""

from __future__ import annotations

import hmac
import io
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..errors import (
    ConfigError,
    ReadOnlyViolation,
    SceneGraphError,
    StoreError,
    StoreUnavailable,
    VectorIndexError,
)
from ..export import ExportOptions, export_dataset
from ..graph.base import Store
from ..graph.explorer import Facets, facets, matching_scenes, relationship_types_with_edges
from ..hyperlexeme import store_lexicon
from ..text import nfc
from . import console, detail, find, graph
from .session import StoreSession, StoreStatus

STATIC = Path(__file__).resolve().parent / "static"
BUNDLE = STATIC / "dist" / "app.js"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
MAX_LIMIT = 5_000
FACET_LIMIT = 1_000
# Defence in depth behind rendering every text with textContent: no inline script at all. The
# one inline style allowed is the rule Cytoscape.js adds to <head> (`position: relative`).
CYTOSCAPE_STYLE_HASH = "'sha256-pgvDUBa4IjFA2yuSJ2cqcyxmNYJMborsd0ORcRv9vw8='"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    f"style-src 'self' {CYTOSCAPE_STYLE_HASH}; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STATUS_OF = [
    (ReadOnlyViolation, 403),
    (StoreUnavailable, 503),
    (StoreError, 400),
    (ConfigError, 400),
    (VectorIndexError, 409),
    (SceneGraphError, 400),
]
NOT_BUILT = (
    "<!doctype html><meta charset=utf-8><title>scenegraph explorer</title>"
    "<p>The explorer page is not built. Run <code>scripts/build-web.sh</code> "
    "(or <code>make test</code>) in the scenegraph checkout, then reload.</p>"
)


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
ExpandBy = Literal["graph", "semantic", "structural", "both"]


class Stats(BaseModel):
    counts: dict[str, int]
    facets: Facets


class Selection(BaseModel):
    scene_ids: list[str]
    archetype: str | None = None
    style: str | None = None


class FilterAnswer(BaseModel):
    ids: list[str]


class ExportRequest(BaseModel):
    scene_ids: list[str]
    archetypes: list[str] = []
    styles: list[str] = []
    subtree: bool = True


def create_app(
    store_uri: str | None, token: str | None = None, loopback_only: bool = True
) -> FastAPI:
    """The explorer for the store at ``store_uri`` (opened read-only on first use)."""
    session = StoreSession(store_uri)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        session.close()

    app = FastAPI(
        title="scenegraph explorer",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.session = session
    if loopback_only:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(LOOPBACK_HOSTS))
    _add_guards(app, token)
    _add_pages(app)
    _add_api(app, session)
    return app


def _add_guards(app: FastAPI, token: str | None) -> None:
    @app.middleware("http")
    async def guard(request: Request, call_next: Callable) -> Response:
        if token and request.url.path.startswith("/api/") and not _token_ok(request, token):
            response: Response = JSONResponse(
                {
                    "error": "this explorer needs its token: open the address `scenegraph serve` "
                    "printed (it ends in #token=…)"
                },
                status_code=401,
            )
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(SceneGraphError)
    async def scenegraph_error(_: Request, exc: SceneGraphError) -> JSONResponse:
        status = next(code for kind, code in STATUS_OF if isinstance(exc, kind))
        return JSONResponse({"error": str(exc)}, status_code=status)


def _token_ok(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def _add_pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def index() -> Response:
        if not BUNDLE.exists():
            return HTMLResponse(NOT_BUILT, status_code=503)
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": f"no {what} in this store"}, status_code=404)


def _add_api(app: FastAPI, session: StoreSession) -> None:
    @app.get("/api/status")
    def status() -> StoreStatus:
        return session.status()

    @app.post("/api/reload")
    def reload() -> StoreStatus:
        session.reload()
        return session.status()

    @app.get("/api/stats")
    def stats() -> Stats:
        with session.use() as store:
            counts = store.counts()
        return Stats(
            counts=counts,
            facets=session.derived("facets", lambda store: facets(store, FACET_LIMIT)),
        )

    @app.get("/api/search")
    def search(q: Annotated[str, Query(max_length=2_000)], k: Limit = 20) -> find.SearchResult:
        lexicon = session.derived("lexicon", store_lexicon) if " " not in nfc(q) else None
        with session.use() as store:
            return find.search(store, q, k, lexicon)

    def rel_types() -> set[str]:
        return session.derived("rel_types", relationship_types_with_edges)

    @app.get("/api/scene", response_model=None)
    def scene(id: str) -> detail.SceneDetail | JSONResponse:
        present = rel_types()
        with session.use() as store:
            found = detail.scene_detail(store, nfc(id), present)
        return found or _not_found(f"scene {id!r}")

    @app.get("/api/node", response_model=None)
    def node(label: str, key: str) -> detail.NodeDetail | JSONResponse:
        present = rel_types()
        with session.use() as store:
            found = detail.node_detail(store, label, nfc(key), present)
        return found or _not_found(f"{label} {key!r}")

    @app.get("/api/expand")
    def expand(label: str, key: str, limit: Limit = 100, by: ExpandBy = "graph") -> graph.Graph:
        present = rel_types()
        with session.use() as store:
            if by == "graph":
                return graph.expand(store, label, nfc(key), limit, rel_types=present)
            if label != "Scene":
                raise ConfigError("similar scenes are found for scenes only")
            return find.similar(store, nfc(key), limit, by)

    @app.post("/api/cypher")
    def cypher(request: console.CypherRequest) -> console.CypherAnswer:
        with session.use() as store:
            return console.run_read_only(store, request)

    @app.post("/api/filter")
    def filter_scenes(selection: Selection) -> FilterAnswer:
        with session.use() as store:
            return FilterAnswer(
                ids=matching_scenes(
                    store, selection.scene_ids, selection.archetype, selection.style
                )
            )

    @app.post("/api/export", response_model=None)
    def export(request: Annotated[ExportRequest, Body()]) -> Response:
        with session.use() as store:
            data = _export_zip(store, request)
        return Response(
            data,
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="scenegraph-export.zip"'},
        )


def _export_zip(store: Store, request: ExportRequest) -> bytes:
    """The files `scenegraph export` writes for these scenes, in one zip."""
    if not request.scene_ids:
        raise ConfigError("select at least one scene to export")
    options = ExportOptions(
        scene_ids=request.scene_ids,
        archetypes=request.archetypes,
        styles=request.styles,
        subtree=request.subtree,
    )
    with tempfile.TemporaryDirectory(prefix="scenegraph-export-") as tmp:
        out_dir = Path(tmp) / "export"
        export_dataset(store, out_dir, options)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
                archive.write(path, path.relative_to(out_dir).as_posix())
    return buffer.getvalue()
