// The explorer page: search, a graph canvas, a side panel and a Cypher console over the API.
import "./style.css";
import { api } from "./api.js";
import { GraphView } from "./canvas.js";
import { CypherConsole } from "./console.js";
import { byId, el, fill } from "./dom.js";
import { Panel } from "./panel.js";

const STATUS_EVERY_MS = 15000;
const TOAST_MS = 6000;
const HITS_ON_CANVAS = 10; // the rest stay in the result list

const view = new GraphView(byId("cy"), {
  onSelect: (node) => showNode(node.label, node.key),
  onExpand: (node) => expandNode(node),
  onChange: () => showGraphStatus(),
});
const panel = new Panel(byId("panel"), {
  open: (label, key, caption) => openNode(label, key, caption),
  expand: (node) => expandNode(node),
  similar: (node) => expandNode(node, "semantic"),
});
const cypher = new CypherConsole({
  onSelect: (node) => openNode(node.label, node.key),
  showOnCanvas: (graph) => {
    view.add(graph);
    refilter();
  },
});

// -- reading the graph ------------------------------------------------------------------------

async function search(text) {
  const query = text.trim();
  if (!query) return;
  try {
    const result = await api.search(query, 20);
    panel.showResults(result);
    const graph = {
      nodes: result.hits
        .slice(0, HITS_ON_CANVAS)
        .map((h) => ({ id: `Scene:${h.id}`, label: "Scene", key: h.id, caption: h.caption, kind: "" })),
      edges: [],
    };
    view.add(graph, { mark: true });
    refilter();
  } catch (error) {
    fail(error);
  }
}

/** Select a node (putting it on the canvas first when it is not there yet) and show it. */
async function openNode(label, key, caption) {
  const id = `${label}:${key}`;
  if (!view.has(id)) {
    view.add({ nodes: [{ id, label, key, caption: caption || key, kind: "" }], edges: [] }, { around: selectedId() });
  }
  view.select(id);
  await showNode(label, key);
}

/** Show a node's details in the side panel. */
async function showNode(label, key) {
  try {
    if (label === "Scene") panel.showScene(await api.scene(key));
    else panel.showNode(await api.node(label, key));
  } catch (error) {
    fail(error);
  }
}

/** Add a node's neighbours (by graph hops, or similar scenes) and report how long it took. */
async function expandNode(node, by = "graph") {
  const started = performance.now();
  const limit = Number(byId("expand-limit").value);
  const id = `${node.label}:${node.key}`;
  if (!view.has(id)) {
    view.add({ nodes: [{ id, label: node.label, key: node.key, caption: node.caption || node.key, kind: node.kind || "" }], edges: [] });
  }
  try {
    const graph = await api.expand(node.label, node.key, limit, by);
    const drawn = view.nextDraw();
    const added = view.add(graph, { around: id });
    for (const notice of graph.notices) toast(notice);
    if (by !== "graph" && !graph.nodes.length && !graph.notices.length) toast("no similar scenes found");
    await drawn;
    refilter();
    const timing = { added, nodes: view.count().nodes, ms: performance.now() - started };
    window.explorer.lastDraw = timing;
    return timing;
  } catch (error) {
    fail(error);
    return null;
  }
}

function selectedId() {
  const [first] = view.selected();
  return first ? first.id : null;
}

// -- filters and export -----------------------------------------------------------------------

async function refilter() {
  const archetype = byId("filter-archetype").value || null;
  const style = byId("filter-style").value || null;
  if (!archetype && !style) {
    view.applyFilter(null);
    return;
  }
  try {
    const { ids } = await api.filter({ scene_ids: view.sceneKeys(), archetype, style });
    view.applyFilter(new Set(ids));
  } catch (error) {
    fail(error);
  }
}

async function exportSelection() {
  const sceneIds = view.selectionScenes();
  if (!sceneIds.length) {
    toast("nothing to export: put some scenes on the canvas (or select some) first");
    return;
  }
  const archetype = byId("filter-archetype").value;
  const style = byId("filter-style").value;
  toast(`exporting ${sceneIds.length} scene${sceneIds.length === 1 ? "" : "s"}…`);
  try {
    const blob = await api.exportZip({
      scene_ids: sceneIds,
      archetypes: archetype ? [archetype] : [],
      styles: style ? [style] : [],
    });
    const link = el("a", { href: URL.createObjectURL(blob), download: "scenegraph-export.zip" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    fail(error);
  }
}

// -- status, counts, messages ------------------------------------------------------------------

async function loadStats() {
  const stats = await api.stats();
  const c = stats.counts;
  byId("counts").textContent =
    `${c.Scene} scenes · ${c.Expression} expressions · ${c.Component} components · ${c.Archetype} archetypes`;
  fillOptions(byId("filter-archetype"), stats.facets.archetypes);
  fillOptions(byId("filter-style"), stats.facets.styles);
}

function fillOptions(select, values) {
  fill(select, el("option", { value: "" }, "all"), values.map((v) => el("option", { value: v }, v)));
}

async function checkStatus() {
  try {
    const status = await api.status();
    showBanner(status.message);
  } catch (error) {
    showBanner(error.message);
  }
}

function showBanner(message) {
  byId("banner").hidden = !message;
  byId("banner-text").textContent = message || "";
}

async function reloadStore() {
  try {
    showBanner((await api.reload()).message);
    await loadStats();
    toast("store reloaded");
  } catch (error) {
    showBanner(error.message);
  }
}

function showGraphStatus() {
  const { nodes, edges } = view.count();
  byId("graph-status").textContent = `${nodes} node${nodes === 1 ? "" : "s"} · ${edges} edge${edges === 1 ? "" : "s"}`;
}

let toastTimer = null;
function toast(message) {
  const box = byId("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    box.hidden = true;
  }, TOAST_MS);
}

function fail(error) {
  if (error.status === 401 || error.status === 503) showBanner(error.message);
  else toast(error.message);
}

// -- wiring ------------------------------------------------------------------------------------

function typing(event) {
  const target = event.target;
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function toggleConsole() {
  cypher.toggle();
  requestAnimationFrame(() => {
    view.cy.resize();
    view.fit();
  });
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
  const [node] = view.selected();
  const actions = {
    "/": () => byId("search-input").focus(),
    e: () => node && expandNode(node),
    s: () => node && node.label === "Scene" && expandNode(node, "semantic"),
    f: () => view.fit(),
    c: toggleConsole,
  };
  const action = actions[event.key.toLowerCase()];
  if (action) {
    event.preventDefault();
    action();
  }
}

function wire() {
  byId("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search(byId("search-input").value);
  });
  byId("fit").addEventListener("click", () => view.fit());
  byId("tidy").addEventListener("click", () => view.tidy());
  byId("clear").addEventListener("click", () => view.clear());
  byId("export").addEventListener("click", exportSelection);
  byId("filter-archetype").addEventListener("change", refilter);
  byId("filter-style").addEventListener("change", refilter);
  byId("console-toggle").addEventListener("click", toggleConsole);
  byId("banner-reload").addEventListener("click", reloadStore);
  document.addEventListener("keydown", onKey);
  setInterval(checkStatus, STATUS_EVERY_MS);
}

// Hooks for tests and the benchmark: read-only views of the canvas, and the expand action.
window.explorer = {
  lastDraw: null,
  count: () => ({ ...view.count(), similar: view.cy.edges("[?semantic]").length }),
  has: (id) => view.has(id),
  visibleScenes: () => view.cy.nodes('[label = "Scene"]:visible').map((n) => n.data("key")),
  position: (id) => view.renderedCenter(id),
  expand: (label, key, by = "graph") => expandNode({ label, key }, by),
};

wire();
showGraphStatus();
checkStatus();
loadStats()
  .then(() => document.body.setAttribute("data-ready", "true"))
  .catch((error) => {
    showBanner(error.message);
    document.body.setAttribute("data-ready", "true");
  });
