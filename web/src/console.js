// The Cypher console: read-only queries, answered as a table and as a graph, with a history.
import { api } from "./api.js";
import { GraphView } from "./canvas.js";
import { byId, el, fill, json } from "./dom.js";

const HISTORY_KEY = "scenegraph-cypher-history";
const HISTORY_SIZE = 30;
const EXAMPLE = "MATCH (s:Scene)-[:EVOKES]->(a:Archetype)\nRETURN s.id, s.title, a.name\nLIMIT 25";

export class CypherConsole {
  /** @param {{onSelect: Function, showOnCanvas: Function}} actions */
  constructor(actions) {
    this.actions = actions;
    this.root = byId("console");
    this.input = byId("cypher-input");
    this.message = byId("cypher-message");
    this.tablePane = byId("cypher-table");
    this.graphPane = byId("cypher-graph");
    this.historyList = byId("cypher-history");
    this.answer = null;
    this.graph = null;
    this.input.value = EXAMPLE;
    byId("cypher-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.run();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.run();
      }
    });
    byId("tab-table").addEventListener("click", () => this.showTab("table"));
    byId("tab-graph").addEventListener("click", () => this.showTab("graph"));
    byId("cypher-to-canvas").addEventListener("click", () => {
      if (this.answer) this.actions.showOnCanvas(this.answer.graph);
    });
    this.renderHistory();
  }

  toggle(open = this.root.hidden) {
    this.root.hidden = !open;
    byId("console-toggle").setAttribute("aria-expanded", String(open));
    if (open) this.input.focus();
  }

  async run() {
    const query = this.input.value.trim();
    if (!query) return;
    this.say("Running…", "info");
    this.remember(query);
    try {
      this.answer = await api.cypher(query);
    } catch (error) {
      this.answer = null;
      fill(this.tablePane);
      this.graph?.clear();
      this.say(error.message, "error");
      return;
    }
    const { row_count: rows, graph } = this.answer;
    const notes = graph.notices.length ? ` — ${graph.notices.join("; ")}` : "";
    this.say(`${rows} row${rows === 1 ? "" : "s"}, ${graph.nodes.length} nodes, ${graph.edges.length} relationships${notes}`, "ok");
    this.renderTable();
    if (!this.graphPane.hidden) this.renderGraph();
  }

  say(text, kind) {
    this.message.className = `console-message ${kind}`;
    this.message.setAttribute("role", kind === "error" ? "alert" : "status");
    this.message.textContent = text;
  }

  showTab(name) {
    const table = name === "table";
    this.tablePane.hidden = !table;
    this.graphPane.hidden = table;
    byId("tab-table").setAttribute("aria-selected", String(table));
    byId("tab-graph").setAttribute("aria-selected", String(!table));
    if (!table) this.renderGraph();
  }

  renderTable() {
    const { columns, rows } = this.answer;
    fill(
      this.tablePane,
      el(
        "table",
        { className: "result-table" },
        el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c)))),
        el("tbody", {}, rows.map((row) => el("tr", {}, row.map((v) => el("td", {}, cell(v)))))),
      ),
    );
  }

  renderGraph() {
    if (!this.answer) return;
    if (!this.graph) {
      this.graph = new GraphView(
        byId("cypher-canvas"),
        { onSelect: this.actions.onSelect },
        { padding: { top: 20, right: 80, bottom: 30, left: 80 } },
      );
    }
    this.graph.clear();
    this.graph.cy.resize();
    this.graph.add(this.answer.graph);
    this.graph.tidy();
  }

  remember(query) {
    const history = [query, ...this.history().filter((q) => q !== query)].slice(0, HISTORY_SIZE);
    localStorage.setItem(HISTORY_KEY, JSON.stringify(history));
    this.renderHistory();
  }

  history() {
    try {
      const stored = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
      return Array.isArray(stored) ? stored.filter((q) => typeof q === "string") : [];
    } catch {
      return [];
    }
  }

  renderHistory() {
    fill(
      this.historyList,
      this.history().map((query) =>
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              className: "link history-item",
              title: query,
              onclick: () => {
                this.input.value = query;
                this.input.focus();
              },
            },
            query.replace(/\s+/g, " "),
          ),
        ),
      ),
    );
  }
}

/** A result cell: a node as (:Label key), anything structured as JSON, the rest as text. */
function cell(value) {
  if (value === null || value === undefined) return el("span", { className: "null" }, "null");
  if (typeof value === "object" && !Array.isArray(value) && value._label) {
    const props = Object.fromEntries(Object.entries(value).filter(([k]) => k !== "_label"));
    return el("span", { className: "node-cell" }, `(:${value._label} ${JSON.stringify(props)})`);
  }
  return typeof value === "object" ? json(value) : String(value);
}
