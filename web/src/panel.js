// The side panel: search results, a scene in full, or any other node with its scenes.
// All corpus and model text is set as text (see dom.js).
import { el, fill, json, nodeName } from "./dom.js";

const KINDS = ["agent", "field", "act", "tone"];

export class Panel {
  /**
   * @param {HTMLElement} root
   * @param {{open: Function, expand: Function, similar: Function}} actions
   *   open(label, key, caption), expand(node), similar(node)
   */
  constructor(root, actions) {
    this.root = root;
    this.actions = actions;
    this.showWelcome();
  }

  showWelcome() {
    fill(
      this.root,
      el("h2", {}, "Explore the scene graph"),
      el(
        "p",
        {},
        "Search by scene id (Δ42), a hyperlexeme (жартишинавход) or words. Click a node to see it " +
          "here; double-click it to expand its neighbours.",
      ),
      shortcuts(),
    );
  }

  showMessage(title, message) {
    fill(this.root, el("h2", {}, title), el("p", { className: "note" }, message));
  }

  showResults(result) {
    const list = el(
      "ol",
      { className: "results" },
      result.hits.map((hit) =>
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              className: "link result",
              onclick: () => this.actions.open("Scene", hit.id, hit.caption),
            },
            nodeName(hit.id, hit.caption),
          ),
          el(
            "span",
            { className: "why" },
            `${hit.by.join(" + ")} · ${hit.score.toFixed(2)}`,
            hit.reasons.length ? ` · ${hit.reasons.join("; ")}` : "",
          ),
        ),
      ),
    );
    fill(
      this.root,
      el("h2", {}, `Results for “${result.query}”`),
      result.hits.length ? list : el("p", { className: "note" }, "No scene matches."),
      notices(result.notices),
    );
    list.querySelector("button")?.focus();
  }

  showScene(detail) {
    const { scene, node } = detail;
    const expressionCount = detail.groups.reduce((n, g) => n + g.expressions.length, 0);
    fill(
      this.root,
      el("p", { className: "label-tag scene" }, "Scene"),
      el("h2", { className: "node-title" }, nodeName(scene.id, scene.title)),
      el("p", { className: "meta" }, sceneMeta(scene)),
      scene.text ? el("p", { className: "scene-text" }, scene.text) : null,
      this.nodeActions(node),
      section("Components", componentList(scene.components)),
      section("Archetypes", chips(scene.archetypes, "archetype")),
      section("Hyperlexemes", chips(scene.hyperlexemes, "hyperlexeme")),
      section("Related scenes", this.relatedList(detail.related)),
      Object.keys(scene.props || {}).length ? section("Properties", propertyTable(scene.props)) : null,
      section(
        `Expressions (${expressionCount})`,
        detail.groups.map(expressionGroup),
        detail.superseded ? el("p", { className: "note" }, `${detail.superseded} superseded, not shown`) : null,
      ),
    );
  }

  showNode(detail) {
    const { node } = detail;
    fill(
      this.root,
      el("p", { className: `label-tag ${node.label.toLowerCase()}` }, node.label),
      el("h2", { className: "node-title" }, node.caption),
      this.nodeActions(node),
      section("Properties", propertyTable(detail.properties)),
      section(
        `Scenes (${detail.scene_count})`,
        el(
          "ul",
          { className: "related" },
          detail.scenes.map((s) =>
            el("li", {}, this.sceneButton(s.key, s.caption)),
          ),
        ),
        detail.scene_count > detail.scenes.length
          ? el("p", { className: "note" }, `first ${detail.scenes.length} shown; expand to see more`)
          : null,
      ),
    );
  }

  nodeActions(node) {
    return el(
      "div",
      { className: "actions" },
      el("button", { type: "button", onclick: () => this.actions.expand(node) }, "Expand neighbours (E)"),
      node.label === "Scene"
        ? el("button", { type: "button", onclick: () => this.actions.similar(node) }, "Similar scenes (S)")
        : null,
    );
  }

  relatedList(related) {
    if (!related.length) return el("p", { className: "note" }, "none");
    return el(
      "ul",
      { className: "related" },
      related.map((r) =>
        el(
          "li",
          {},
          el("span", { className: "relation" }, r.relation),
          this.sceneButton(r.id, r.caption),
          r.score === null ? null : el("span", { className: "why" }, r.score.toFixed(2)),
        ),
      ),
    );
  }

  sceneButton(id, caption) {
    return el(
      "button",
      { type: "button", className: "link", onclick: () => this.actions.open("Scene", id, caption) },
      nodeName(id, caption),
    );
  }
}

function shortcuts() {
  const keys = [
    ["/", "search"],
    ["E", "expand the selected node"],
    ["S", "similar scenes"],
    ["F", "fit the graph"],
    ["C", "Cypher console"],
    ["Ctrl+Enter", "run the query"],
  ];
  return el(
    "dl",
    { className: "shortcuts" },
    keys.map(([key, what]) => [el("dt", {}, el("kbd", {}, key)), el("dd", {}, what)]),
  );
}

function notices(list) {
  if (!list || !list.length) return null;
  return el("ul", { className: "notices" }, list.map((n) => el("li", {}, n)));
}

function section(title, ...content) {
  return el("section", { className: "block" }, el("h3", {}, title), content);
}

function sceneMeta(scene) {
  const parts = [];
  if (scene.lang) parts.push(`lang ${scene.lang}`);
  if (scene.depth !== null && scene.depth !== undefined) parts.push(`depth ${scene.depth}`);
  if (scene.root && scene.root !== scene.id) parts.push(`root ${scene.root}`);
  return parts.join(" · ");
}

function componentList(components) {
  if (!components.length) return el("p", { className: "note" }, "none");
  const sorted = [...components].sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind));
  return el(
    "ul",
    { className: "chips" },
    sorted.map((c) =>
      el("li", { className: `chip kind-${c.kind}` }, el("span", { className: "kind" }, c.kind), c.name),
    ),
  );
}

function chips(values, kind) {
  if (!values.length) return el("p", { className: "note" }, "none");
  return el("ul", { className: "chips" }, values.map((v) => el("li", { className: `chip ${kind}` }, v)));
}

function propertyTable(props) {
  return el(
    "table",
    { className: "props" },
    el(
      "tbody",
      {},
      Object.entries(props).map(([name, value]) =>
        el("tr", {}, el("th", {}, name), el("td", {}, typeof value === "string" ? value : json(value))),
      ),
    ),
  );
}

function expressionGroup(group) {
  const voice = [group.style, group.register].filter(Boolean).join(" · ") || "no style or register";
  return el(
    "section",
    { className: "expr-group" },
    el("h4", {}, voice),
    group.expressions.map(expression),
  );
}

function expression(e) {
  const facts = [e.form, e.tone && `tone ${e.tone}`, e.target && `for ${e.target}`, e.lang]
    .filter(Boolean)
    .join(" · ");
  return el(
    "article",
    { className: "expr" },
    el("p", { className: "expr-text" }, e.text),
    el("p", { className: "expr-meta" }, facts, " ", verdict(e.passed)),
    e.quality ? el("details", {}, el("summary", {}, "quality"), el("pre", {}, json(e.quality))) : null,
    Object.keys(e.provenance || {}).length
      ? el("details", {}, el("summary", {}, "provenance"), el("pre", {}, json(e.provenance)))
      : null,
  );
}

function verdict(passed) {
  if (passed === true) return el("span", { className: "badge passed" }, "passed");
  if (passed === false) return el("span", { className: "badge failed" }, "failed");
  return el("span", { className: "badge unchecked" }, "unchecked");
}
