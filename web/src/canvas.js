// The graph canvas: Cytoscape.js with a style per label, new nodes placed in rings around the
// node they came from (so the graph does not jump), and a promise for "drawn on screen".
import cytoscape from "cytoscape";

const RING_SPACING = 44;
const FIRST_RING = 110;
const ROOMY = 40;
// Room around the nodes' centres: half a label to each side, a label and the legend below.
const FIT_PADDING = { top: 36, right: 90, bottom: 96, left: 90 };
const MAX_FIT_ZOOM = 1.4;
const BIG_GRAPH = 600; // past this many nodes: cheaper edges and no labels while moving
const TIDY_WITH_FORCES = 400; // force layout up to this many nodes, rings beyond
const AUTO_TIDY = 150; // small graphs get a force layout after every change

export const COLOURS = {
  Scene: "#2563eb",
  agent: "#15803d",
  field: "#0e7490",
  act: "#c2410c",
  tone: "#7e22ce",
  Archetype: "#b45309",
  Hyperlexeme: "#be185d",
  Expression: "#64748b",
  similar: "#9333ea",
};

// How each label looks. Kept in each element's data and read by one style rule, rather than
// one selector per label: Cytoscape matches every selector against every element, which is
// most of the cost of drawing thousands of nodes.
const NODE_LOOKS = {
  Scene: { colour: COLOURS.Scene, shape: "ellipse", w: 28, h: 28 },
  Component: { colour: COLOURS.Expression, shape: "round-rectangle", w: 20, h: 16 },
  Archetype: { colour: COLOURS.Archetype, shape: "diamond", w: 24, h: 24 },
  Hyperlexeme: { colour: COLOURS.Hyperlexeme, shape: "tag", w: 22, h: 16 },
  Expression: { colour: COLOURS.Expression, shape: "round-rectangle", w: 18, h: 18 },
};
const EDGE_LOOKS = {
  CONTAINS: { colour: "#334155", w: 2.4 },
  LEADS_TO: { colour: "#0284c7", w: 2 },
  other: { colour: "#94a3b8", w: 1.4 },
};

const STYLE = [
  {
    selector: "node",
    style: {
      label: "data(display)",
      "font-family": "DejaVu Sans, Noto Sans, Arial, sans-serif",
      "font-size": 12,
      color: "#0f172a",
      "text-valign": "bottom",
      "text-margin-y": 4,
      "text-outline-color": "#ffffff",
      "text-outline-width": 2,
      "text-wrap": "none", // captions come cut to length; wrapping would measure each again
      "min-zoomed-font-size": 7,
      width: "data(w)",
      height: "data(h)",
      shape: "data(shape)",
      "background-color": "data(colour)",
      "border-width": 0,
    },
  },
  { selector: "node.hit", style: { "border-width": 3, "border-color": "#facc15" } },
  {
    selector: "node:selected",
    style: { "border-width": 4, "border-color": "#0f172a", "font-weight": "bold", "z-index": 10 },
  },
  { selector: ".filtered", style: { display: "none" } },
  {
    selector: "edge",
    style: {
      width: "data(w)",
      "line-color": "data(colour)",
      "curve-style": "straight",
      "target-arrow-shape": "triangle",
      "target-arrow-color": "data(colour)",
      "arrow-scale": 0.8,
    },
  },
  {
    selector: "edge[?semantic]",
    style: {
      "line-style": "dashed",
      "line-dash-pattern": [6, 4],
      width: 2,
      "line-color": COLOURS.similar,
      "target-arrow-shape": "none",
      label: "data(scoreText)",
      "font-size": 9,
      color: COLOURS.similar,
      "text-background-color": "#ffffff",
      "text-background-opacity": 0.85,
      "min-zoomed-font-size": 8,
    },
  },
  { selector: "edge.cheap", style: { "curve-style": "haystack", "target-arrow-shape": "none" } },
];

/** Which places on the canvas are taken, in square buckets, for cheap "is anything near?". */
class Occupancy {
  constructor(points, gap) {
    this.gap = gap;
    this.buckets = new Map();
    for (const p of points) this.take(p);
  }

  bucket(x, y) {
    return `${Math.floor(x / this.gap)},${Math.floor(y / this.gap)}`;
  }

  take(p) {
    const key = this.bucket(p.x, p.y);
    if (!this.buckets.has(key)) this.buckets.set(key, []);
    this.buckets.get(key).push(p);
  }

  free(p) {
    for (let dx = -1; dx <= 1; dx += 1) {
      for (let dy = -1; dy <= 1; dy += 1) {
        const near = this.buckets.get(this.bucket(p.x + dx * this.gap, p.y + dy * this.gap)) || [];
        if (near.some((q) => Math.hypot(q.x - p.x, q.y - p.y) < this.gap)) return false;
      }
    }
    return true;
  }
}

/**
 * Places for `count` new nodes in rings around `center`, inner rings first, skipping places
 * near nodes already drawn (`taken`).
 */
function rings(center, count, taken, firstRadius) {
  // Few nodes get room for their labels; many get packed tighter.
  const spacing = count <= ROOMY ? RING_SPACING * 1.6 : RING_SPACING;
  const occupancy = new Occupancy(taken, RING_SPACING * 0.8);
  const out = [];
  if (firstRadius === 0 && count > 0) out.push({ ...center });
  let radius = Math.max(firstRadius, spacing);
  while (out.length < count) {
    const slots = Math.max(6, Math.floor((2 * Math.PI * radius) / spacing));
    const turn = radius / 97; // a little twist per ring so spokes do not line up
    for (let i = 0; i < slots && out.length < count; i += 1) {
      const angle = (2 * Math.PI * i) / slots + turn;
      const p = { x: center.x + radius * Math.cos(angle), y: center.y + radius * Math.sin(angle) };
      if (occupancy.free(p)) {
        out.push(p);
        occupancy.take(p);
      }
    }
    radius += spacing;
  }
  return out;
}

function nodeData(node) {
  const display = node.label === "Scene" ? nodeLabel(node.key, node.caption) : node.caption;
  const look = NODE_LOOKS[node.label] || NODE_LOOKS.Expression;
  const colour = node.label === "Component" ? COLOURS[node.kind] || look.colour : look.colour;
  return { ...node, display, ...look, colour };
}

function nodeLabel(key, caption) {
  return caption && caption !== key ? `${key} · ${caption}` : key;
}

function edgeData(edge) {
  const scoreText = edge.score === null || edge.score === undefined ? "" : edge.score.toFixed(2);
  return { ...edge, scoreText, ...(EDGE_LOOKS[edge.type] || EDGE_LOOKS.other) };
}

export class GraphView {
  /**
   * @param {HTMLElement} container
   * @param {{onSelect?: Function, onExpand?: Function, onChange?: Function}} handlers
   * @param {{padding?: {top: number, right: number, bottom: number, left: number}}} options
   */
  constructor(container, handlers = {}, { padding = FIT_PADDING } = {}) {
    this.handlers = handlers;
    this.padding = padding;
    this.cy = cytoscape({
      container,
      style: STYLE,
      minZoom: 0.03,
      maxZoom: 4,
      boxSelectionEnabled: true, // shift-drag selects an area; shift/ctrl-click adds a node
      selectionType: "single",
    });
    this.cy.on("tap", "node", (event) => this.handlers.onSelect?.(event.target.data()));
    this.cy.on("dbltap", "node", (event) => this.handlers.onExpand?.(event.target.data()));
    // Cytoscape keeps the container's place on the page; tell it when the layout around moves.
    new ResizeObserver(() => this.cy.resize()).observe(container);
  }

  count() {
    return { nodes: this.cy.nodes().length, edges: this.cy.edges().length };
  }

  has(id) {
    return this.cy.getElementById(id).nonempty();
  }

  /** Resolves once the canvas has drawn a frame after this call. */
  nextDraw() {
    return new Promise((resolve) => {
      this.cy.one("render", () => requestAnimationFrame(() => resolve()));
    });
  }

  /**
   * Add a graph from the API. New nodes go in rings around `around` (a node id), or around
   * the middle of the view. Returns how many nodes were new.
   */
  add(graph, { around = null, mark = false } = {}) {
    const present = new Set(this.cy.elements().map((e) => e.id()));
    const fresh = graph.nodes.filter((n) => !present.has(n.id));
    const anchor = around && present.has(around) ? this.cy.getElementById(around) : null;
    const center = anchor ? anchor.position() : this.middle();
    const taken = this.cy.nodes().map((n) => n.position());
    const first = anchor ? FIRST_RING : taken.length || fresh.length > 1 ? RING_SPACING : 0;
    const positions = rings(center, fresh.length, taken, first);
    for (const n of fresh) present.add(n.id);
    const edges = graph.edges.filter(
      (e) => !present.has(e.id) && present.has(e.source) && present.has(e.target),
    );
    const wasBig = this.big();
    const big = this.cy.nodes().length + fresh.length > BIG_GRAPH;
    this.cy.batch(() => {
      this.cy.add([
        ...fresh.map((n, i) => ({ group: "nodes", data: nodeData(n), position: positions[i] })),
        ...edges.map((e) => ({ group: "edges", data: edgeData(e), classes: big ? "cheap" : "" })),
      ]);
      if (mark) {
        this.cy.nodes(".hit").removeClass("hit");
        for (const n of graph.nodes) this.cy.getElementById(n.id).addClass("hit");
      }
      if (big !== wasBig) this.adjustForSize(big);
    });
    if (fresh.length && this.cy.nodes().length <= AUTO_TIDY) this.tidy();
    else if (fresh.length) this.frame(anchor);
    this.handlers.onChange?.();
    return fresh.length;
  }

  big() {
    return this.cy.nodes().length > BIG_GRAPH;
  }

  /** Edges drawn cheaply, and labels dropped while panning, once the graph is big. */
  adjustForSize(big = this.big()) {
    this.cy.edges().toggleClass("cheap", big);
    this.cy.renderer().options.textureOnViewport = big;
    this.cy.renderer().options.hideEdgesOnViewport = big;
  }

  middle() {
    const extent = this.cy.extent();
    return { x: (extent.x1 + extent.x2) / 2, y: (extent.y1 + extent.y2) / 2 };
  }

  /** After an addition: the anchor's neighbourhood in a big graph, else everything. */
  frame(anchor) {
    const big = anchor && this.cy.nodes().length > 300;
    this.fitTo(big ? anchor.closedNeighborhood().nodes() : this.shown().nodes());
  }

  fit() {
    this.fitTo(this.shown().nodes());
  }

  /**
   * Zoom and pan so the nodes' centres fit, with room for labels. Cytoscape's own fit measures
   * every label first, which costs more than drawing a big graph.
   */
  fitTo(nodes) {
    if (nodes.empty()) return;
    const box = { x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity };
    nodes.forEach((n) => {
      const { x, y } = n.position();
      box.x1 = Math.min(box.x1, x);
      box.y1 = Math.min(box.y1, y);
      box.x2 = Math.max(box.x2, x);
      box.y2 = Math.max(box.y2, y);
    });
    const { top, right, bottom, left } = this.padding;
    const width = this.cy.width() - left - right;
    const height = this.cy.height() - top - bottom;
    const zoom = Math.max(
      this.cy.minZoom(),
      Math.min(
        MAX_FIT_ZOOM,
        width / Math.max(box.x2 - box.x1, 1),
        height / Math.max(box.y2 - box.y1, 1),
      ),
    );
    const pan = {
      x: left + width / 2 - (zoom * (box.x1 + box.x2)) / 2,
      y: top + height / 2 - (zoom * (box.y1 + box.y2)) / 2,
    };
    this.cy.viewport({ zoom, pan });
  }

  /** What the filters leave on the canvas (a class test: ":visible" would compute styles). */
  shown() {
    return this.cy.elements().not(".filtered");
  }

  clear() {
    this.cy.elements().remove();
    this.adjustForSize(false);
    this.handlers.onChange?.();
  }

  select(id) {
    const node = this.cy.getElementById(id);
    if (node.empty()) return;
    this.cy.nodes(":selected").unselect();
    node.select();
  }

  selected() {
    return this.cy.nodes(":selected").map((n) => n.data());
  }

  /** Scene ids on the canvas: the selected ones if any, else every visible one. */
  selectionScenes() {
    const chosen = this.cy.nodes(':selected[label = "Scene"]');
    const scenes = chosen.nonempty() ? chosen : this.cy.nodes('[label = "Scene"]:visible');
    return scenes.map((n) => n.data("key"));
  }

  sceneKeys() {
    return this.cy.nodes('[label = "Scene"]').map((n) => n.data("key"));
  }

  /** Show only the given scenes (null: all), and other nodes that touch a shown scene. */
  applyFilter(keep) {
    this.cy.batch(() => {
      this.cy.elements().removeClass("filtered");
      if (keep === null) return;
      const hidden = this.cy.nodes('[label = "Scene"]').filter((n) => !keep.has(n.data("key")));
      hidden.addClass("filtered");
      const shown = this.cy.nodes('[label = "Scene"]').not(hidden);
      this.cy
        .nodes('[label != "Scene"]')
        .filter((n) => n.neighborhood("node").intersection(shown).empty())
        .addClass("filtered");
    });
    this.handlers.onChange?.();
  }

  /** A fresh layout of everything: forces for small graphs, rings by label for big ones. */
  tidy() {
    const small = this.cy.nodes().length <= TIDY_WITH_FORCES;
    const options = small
      ? {
          name: "cose",
          animate: false,
          randomize: false,
          nodeRepulsion: () => 20000,
          idealEdgeLength: () => 100,
          nodeOverlap: 20,
          numIter: 600,
        }
      : { name: "concentric", animate: false, concentric: (n) => n.degree(), levelWidth: () => 4 };
    this.cy.layout({ ...options, fit: false }).run();
    this.fit();
  }

  renderedCenter(id) {
    const node = this.cy.getElementById(id);
    if (node.empty()) return null;
    const box = this.cy.container().getBoundingClientRect();
    const p = node.renderedPosition();
    return { x: box.left + p.x, y: box.top + p.y };
  }
}
