// The explorer's JSON API. Errors come back as {"error": "..."}; they surface as ApiError.

const TOKEN_KEY = "scenegraph-token";

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** The token from "#token=…" (then dropped from the address bar), or the one kept earlier. */
function takeToken() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

const token = takeToken();

async function call(path, { method = "GET", params, body } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(name, value);
  }
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(`the explorer server does not answer (${error.message}); is it running?`, 0);
  }
  if (!response.ok) throw new ApiError(await errorText(response), response.status);
  return response;
}

async function errorText(response) {
  try {
    const data = await response.json();
    if (typeof data.error === "string") return data.error;
    if (Array.isArray(data.detail)) {
      return data.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    }
    return JSON.stringify(data);
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

const getJson = async (path, params) => (await call(path, { params })).json();
const postJson = async (path, body) => (await call(path, { method: "POST", body })).json();

export const api = {
  status: () => getJson("/api/status"),
  reload: () => postJson("/api/reload", {}),
  stats: () => getJson("/api/stats"),
  search: (q, k) => getJson("/api/search", { q, k }),
  scene: (id) => getJson("/api/scene", { id }),
  node: (label, key) => getJson("/api/node", { label, key }),
  expand: (label, key, limit, by = "graph") => getJson("/api/expand", { label, key, limit, by }),
  cypher: (query) => postJson("/api/cypher", { query }),
  filter: (selection) => postJson("/api/filter", selection),
  exportZip: async (request) =>
    (await call("/api/export", { method: "POST", body: request })).blob(),
};
