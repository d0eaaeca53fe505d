"""The explorer page in headless Chromium (Debian's), driven by Playwright, against a real
`scenegraph serve` on a seeded store: search, the side panel, expansion, the Cypher console,
escaping of corpus text, the lock banner, and a screenshot kept under artifacts/.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile

import pytest
import yaml

from conftest import ROOT, require
from scenegraph.graph.ladybug import LadybugStore
from web_server import (BUNDLE, CHROMIUM, XSS_EXPRESSION, XSS_ID, XSS_TEXT, XSS_TITLE,
                        ExplorerServer, WriterHolder, build_store, launch_chromium)

pytestmark = pytest.mark.browser

FACTS = yaml.safe_load((ROOT / "tests" / "data" / "seed_facts.yaml").read_text(encoding="utf-8"))
ARTIFACTS = ROOT / "artifacts"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser():
    require(CHROMIUM.exists(), "Chromium is missing: run scripts/install-browser.sh")
    require(importlib.util.find_spec("playwright"), "Playwright for Python is not installed")
    require(BUNDLE.exists(), "the page is not built: run scripts/build-web.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web-browser") / "store"
    build_store(folder)
    return folder


@pytest.fixture(scope="module")
def server(store_dir):
    with ExplorerServer(store_dir) as running:
        yield running


@pytest.fixture(scope="module")
def truth(store_dir):
    store = LadybugStore(store_dir, read_only=True)
    yield store
    store.close()


class Page:
    """A page of the explorer, and every script error or console error it reports."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport=VIEWPORT)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("console", self._console)
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready=true]")

    def _console(self, message) -> None:
        # A refused or failed request shows on the page; the browser's own note of it is noise.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console error: {message.text}")

    def search(self, text: str) -> None:
        self.page.fill("#search-input", text)
        self.page.press("#search-input", "Enter")
        self.page.wait_for_function(
            "q => document.querySelector('#panel h2')?.textContent === `Results for “${q}”`",
            arg=text)

    def node_count(self) -> int:
        return self.page.evaluate("explorer.count().nodes")

    def canvas_point(self, node_id: str) -> tuple[float, float]:
        point = self.page.evaluate("id => explorer.position(id)", node_id)
        assert point, f"{node_id} is not on the canvas"
        return point["x"], point["y"]

    def click_node(self, node_id: str, double: bool = False) -> None:
        x, y = self.canvas_point(node_id)
        (self.page.mouse.dblclick if double else self.page.mouse.click)(x, y)

    def open_scene(self, scene_id: str) -> None:
        self.click_node(f"Scene:{scene_id}")
        self.page.wait_for_function(
            "id => (document.querySelector('#panel .node-title') || {}).textContent?.startsWith(id)",
            arg=scene_id)

    def run_cypher(self, query: str) -> None:
        if self.page.is_hidden("#console"):
            self.page.click("#console-toggle")
        self.page.fill("#cypher-input", query)
        self.page.press("#cypher-input", "Control+Enter")
        self.page.wait_for_selector("#cypher-message.ok, #cypher-message.error")

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def page(browser, server):
    opened = Page(browser, server.url("/"))
    yield opened
    errors = opened.errors
    opened.close()
    assert not errors, errors


def panel_texts(page: Page, selector: str) -> list[str]:
    return page.page.locator(f"#panel {selector}").all_inner_texts()


def test_search_by_hyperlexeme_then_click_shows_components_and_expressions(page, truth):
    page.search("тишинашагтревога")
    assert page.page.locator("#panel .results li").count() >= 1
    page.open_scene("Δ31")  # a real click on the canvas
    scene = truth.scene("Δ31")
    chips = panel_texts(page, ".chip")
    for component in scene.components:
        assert any(component.name in chip for chip in chips), (component, chips)
    expressions = panel_texts(page, ".expr-text")
    assert sorted(expressions) == sorted(e.text for e in truth.expressions(["Δ31"]))


def test_search_by_id_opens_from_the_result_list(page, truth):
    page.search("Δ42")
    page.page.click("#panel .results button")
    page.page.wait_for_selector("#panel .node-title")
    assert page.page.inner_text("#panel .node-title").startswith("Δ42")
    archetypes = panel_texts(page, ".chip.archetype")
    assert archetypes == truth.scene("Δ42").archetypes


def test_search_by_paraphrase_finds_the_scene(page, server, truth):
    """Runs once the vector index can be built (scenegraph.neighbours and `scenegraph embed`)."""
    require(importlib.util.find_spec("scenegraph.neighbours"), "scenegraph.neighbours is missing")
    embedded = subprocess.run([sys.executable, "-m", "scenegraph.cli", "--store", server.store,
                               "embed", "--kind", "scene"], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert embedded.returncode == 0, embedded.stderr
    query = FACTS["queries"][0]
    page.search(query["text"])
    found = page.page.locator("#panel .results button").all_inner_texts()
    assert any(text.startswith(query["scene"]) for text in found[:3]), found
    page.open_scene(query["scene"])
    scene = truth.scene(query["scene"])
    chips = panel_texts(page, ".chip")
    assert all(any(c.name in chip for chip in chips) for c in scene.components)
    assert len(panel_texts(page, ".expr-text")) == len(truth.expressions([query["scene"]]))
    page.page.click("text=Similar scenes (S)")  # drawn as dashed SIMILAR edges
    page.page.wait_for_function("() => explorer.count().similar > 0")


def test_double_click_expands_neighbours(page, truth):
    page.search("Δ31")
    before = page.node_count()
    page.click_node("Scene:Δ31", double=True)
    neighbours = len(truth.scene("Δ31").components) + len(truth.scene("Δ31").parts)
    page.page.wait_for_function("n => explorer.count().nodes >= n", arg=before + neighbours)
    assert page.page.evaluate("explorer.has('Component:field:тишина')")
    assert "nodes" in page.page.inner_text("#graph-status")


def test_keyboard_expands_the_selected_node(page):
    page.search("Δ31.1")
    page.open_scene("Δ31.1")
    before = page.node_count()
    page.page.focus("#panel")
    page.page.keyboard.press("e")
    page.page.wait_for_function("n => explorer.count().nodes > n", arg=before)
    assert page.page.evaluate("explorer.has('Scene:Δ31')")  # its parent came along


def test_cypher_query_renders_a_table(page, truth):
    query = ("MATCH (s:Scene)-[:EVOKES]->(a:Archetype {name: 'порог'}) "
             "RETURN s.id AS id, a.name AS archetype ORDER BY id")
    page.run_cypher(query)
    expected = truth.run(query).rows
    headers = page.page.locator("#cypher-table th").all_inner_texts()
    assert headers == ["id", "archetype"]
    cells = page.page.locator("#cypher-table tbody tr td:first-child").all_inner_texts()
    assert cells == [row[0] for row in expected]
    assert f"{len(expected)} rows" in page.page.inner_text("#cypher-message")
    assert page.page.locator("#cypher-history li").first.inner_text().startswith("MATCH")


def test_cypher_graph_view_draws_the_nodes_found(page):
    page.run_cypher("MATCH (s:Scene {id: 'Δ31'})-[:CONTAINS]->(p:Scene) RETURN s, p")
    assert "3 nodes, 2 relationships" in page.page.inner_text("#cypher-message")
    page.page.click("#tab-graph")
    assert page.page.is_visible("#cypher-canvas canvas")


def test_write_query_is_refused_with_a_visible_message(page, truth):
    page.run_cypher("CREATE (:Scene {id: 'written-from-the-page'})")
    message = page.page.locator("#cypher-message.error")
    assert message.is_visible() and "refused" in message.inner_text()
    assert truth.scene("written-from-the-page") is None


def test_corpus_text_is_shown_as_text_and_runs_nothing(page):
    page.search(XSS_ID)
    page.open_scene(XSS_ID)
    assert XSS_TITLE in page.page.inner_text("#panel .node-title")
    assert XSS_TEXT in page.page.inner_text("#panel .scene-text")
    assert panel_texts(page, ".expr-text") == [XSS_EXPRESSION]
    assert "<i>poet</i>" in page.page.inner_text("#panel .expr-group h4")
    assert any("<b>guest</b>" in chip for chip in panel_texts(page, ".chip"))
    page.run_cypher(f"MATCH (s:Scene {{id: '{XSS_ID}'}}) RETURN s.title, s")
    assert XSS_TITLE in page.page.inner_text("#cypher-table")
    assert page.page.locator("#panel img, #panel script, #cypher-table img, #cypher-table script,"
                             " #panel b, #panel i").count() == 0
    assert page.page.evaluate("window.__pwned") is None


def test_filter_by_archetype_hides_other_scenes(page, truth):
    for scene_id in ("Δ42", "Δ60", "Δ31"):
        page.search(scene_id)
    shown = set(page.page.evaluate("explorer.visibleScenes()"))
    evokes = set(truth.run("MATCH (s:Scene)-[:EVOKES]->(:Archetype {name: 'порог'}) "
                           "RETURN s.id").column())
    expected = shown & evokes
    assert expected and expected < shown
    page.page.select_option("#filter-archetype", "порог")
    page.page.wait_for_function("n => explorer.visibleScenes().length === n", arg=len(expected))
    assert set(page.page.evaluate("explorer.visibleScenes()")) == expected
    page.page.select_option("#filter-archetype", "")
    page.page.wait_for_function("n => explorer.visibleScenes().length === n", arg=len(shown))


def test_export_button_downloads_the_selection(page):
    require(importlib.util.find_spec("scenegraph.export"), "scenegraph.export is missing")
    page.search("Δ31")
    page.open_scene("Δ31")
    with page.page.expect_download() as download:
        page.page.click("#export")
    saved = download.value.path()
    names = zipfile.ZipFile(saved).namelist()
    assert download.value.suggested_filename == "scenegraph-export.zip"
    assert any(name.endswith(".jsonl") for name in names), names


def test_token_in_the_address_lets_the_page_in(browser, store_dir):
    with ExplorerServer(store_dir, token="page-token") as guarded:
        opened = Page(browser, guarded.url("/#token=page-token"))
        try:
            assert "scenes" in opened.page.inner_text("#counts")
            assert opened.page.is_hidden("#banner")
            assert "token" not in opened.page.url
        finally:
            opened.close()


def test_lock_held_by_another_process_shows_a_banner(browser, tmp_path):
    folder = tmp_path / "store"
    build_store(folder)
    with ExplorerServer(folder) as server:
        writer = WriterHolder(folder)
        try:
            opened = Page(browser, server.url("/"))
            opened.page.wait_for_selector("#banner:not([hidden])")
            text = opened.page.inner_text("#banner-text")
            assert f"PID {writer.pid}" in text and "write lock" in text
        finally:
            writer.release()
        opened.page.click("#banner-reload")
        opened.page.wait_for_selector("#banner", state="hidden")
        opened.close()


def test_screenshot_of_the_main_view(page):
    """artifacts/explorer-main.png: a scene's neighbourhood with its side panel, at 1280×800."""
    page.search("тишинашагтревога")
    page.page.click("#clear")  # the canvas only: the result list stays
    assert page.node_count() == 0
    page.page.click("#panel .results button >> text=Δ31 · Порог")
    page.page.wait_for_selector("#panel .node-title")
    page.page.click("text=Expand neighbours (E)")
    page.page.wait_for_function("() => explorer.count().nodes > 5")
    page.click_node("Scene:Δ31.1", double=True)
    page.page.wait_for_function("() => explorer.has('Component:agent:рука')")
    page.open_scene("Δ31.1")
    page.page.wait_for_timeout(300)
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "explorer-main.png"
    page.page.screenshot(path=str(target))
    assert target.stat().st_size > 20_000
    assert page.page.is_visible("#panel .expr-text")
