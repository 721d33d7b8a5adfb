// Calls to the gateway's own API (same origin), with the tab's bearer token when one is needed.
const KEY = "imaging-gateway-token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(KEY);
}

function headers(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

// Ask for a token in the dialog; resolves once one is stored.
export function askToken(message = "") {
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  document.getElementById("token-error").textContent = message;
  return new Promise((resolve) => {
    const form = document.getElementById("token-form");
    form.onsubmit = () => {
      sessionStorage.setItem(KEY, input.value.trim());
      input.value = "";
      resolve();
    };
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
}

export function url(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    // An empty value is sent: it names the group where none was recorded.
    if (v === undefined || v === null) continue;
    // Lists are comma-separated: the API takes most names once only.
    q.append(k, Array.isArray(v) ? v.join(",") : v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

async function call(method, path, params, body) {
  for (;;) {
    const init = { method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
    if (body) init.body = JSON.stringify(body);
    const response = await fetch(url(path, params), init);
    if (response.status === 401) {
      await askToken(token() ? "That token was not accepted." : "");
      continue;
    }
    const data = response.headers.get("Content-Type")?.includes("json") ? await response.json() : null;
    if (!response.ok) throw new ApiError(response.status, data?.detail);
    return data;
  }
}

export const get = (path, params) => call("GET", path, params);
export const send = (method, path, body) => call(method, path, {}, body);

// Every page of a keyset-paged list, up to `most` items.
export async function getAll(path, params = {}, most = 2000) {
  const items = [];
  let cursor;
  do {
    const page = await get(path, { ...params, limit: 500, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < most);
  return items;
}

export { headers as authHeaders };
