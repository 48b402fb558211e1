// Talking to the admin API of the server that served this page (same origin only).

const TOKEN_KEY = "shadowmesh.adminToken";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function answer(response) {
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : { message: await response.text() };
  if (!response.ok && response.status !== 422) throw new ApiError(response.status, body);
  return { status: response.status, body };
}

export async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  return (await answer(response)).body;
}

// The admin token lives in sessionStorage: kept across reloads of this tab, gone with it.
export function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token is still sent from the field
  }
}

// POST YAML like `kubectl apply`: {status: 200, body: ApplyResult} or {status: 422, ...}
// with Istio's messages; other refusals (403 without the token, 400) throw ApiError.
export async function applyYaml(text, token) {
  const headers = { "Content-Type": "application/yaml", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch("/api/v1/resources?source=dashboard", {
    method: "POST",
    headers,
    body: text,
  });
  return answer(response);
}
