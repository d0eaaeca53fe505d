// Building DOM safely: every string becomes a text node, never markup.
// Text from the corpus or a model goes through here (or through textContent), so a scene that
// says "<script>" shows those characters and runs nothing. No innerHTML anywhere in the page.

/**
 * el("li", { className: "chip", title: name }, "text", child)
 * Props are set as properties (className, title, type, disabled, onclick…), "data-*" and
 * "aria-*" as attributes. Children may be strings, numbers, nodes, arrays, null or false.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("data-") || name.startsWith("aria-") || name === "role" || name === "for") {
      node.setAttribute(name, String(value));
    } else {
      node[name] = value;
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace what a node holds. */
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node;
}

/** JSON for showing to a person: compact, one line when short. */
export function json(value) {
  const text = JSON.stringify(value);
  return text.length <= 80 ? text : JSON.stringify(value, null, 2);
}

/** A scene or node name as "key · caption", or just the key when they are the same. */
export function nodeName(key, caption) {
  return caption && caption !== key ? `${key} · ${caption}` : String(key);
}
