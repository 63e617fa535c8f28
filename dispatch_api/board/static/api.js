// HTTP client for the dispatch API (docs/api.md). The token lives in sessionStorage so
// closing the tab signs the dispatcher out, and a 401 anywhere brings back the login.

const TOKEN_KEY = "fws.board.token";
const USER_KEY = "fws.board.user";

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && typeof body.detail === "string" ? body.detail : `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.code = (body && body.code) || "http_error";
    this.rule = body && body.rule;
    this.body = body || {};
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  get user() {
    const raw = sessionStorage.getItem(USER_KEY);
    return raw ? JSON.parse(raw) : null;
  },
  save(token, user) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, JSON.stringify(user));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  },
};

async function parseBody(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

/** Exchange user name and password for a token (OAuth2 password form). */
export async function login(username, password) {
  const form = new URLSearchParams({ username, password });
  const response = await fetch("/api/v1/auth/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: form,
  });
  const body = await parseBody(response);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/**
 * Call the API with the stored token. Returns the parsed body; `opts.version` sends
 * `If-Match` (dispatcher writes to a job need it).
 */
export async function api(method, path, opts = {}) {
  const headers = { Accept: "application/json" };
  const token = session.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (opts.version !== undefined && opts.version !== null) headers["If-Match"] = `"${opts.version}"`;
  let body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch (err) {
    throw new ApiError(0, { detail: `The server cannot be reached (${err.message}).`, code: "network" });
  }
  const data = await parseBody(response);
  if (response.status === 401) {
    window.dispatchEvent(new CustomEvent("board:unauthorized"));
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
