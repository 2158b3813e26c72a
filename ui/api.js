// The public REST API, with the bearer token kept for this browser tab.

const TOKEN_KEY = 'lvsd.token';

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || 'http_' + status;
    this.field = error.field || null;
  }

  /** Someone else changed the draft or committed first. */
  get conflict() { return this.status === 412 || this.status === 409; }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || '',
  set: (value) => value ? sessionStorage.setItem(TOKEN_KEY, value.trim()) : sessionStorage.removeItem(TOKEN_KEY),
};

/** Called with the error when the server refuses the token (401). */
let onUnauthenticated = () => {};
export function whenUnauthenticated(handler) { onUnauthenticated = handler; }

/** One request: JSON in and out; returns {body, etag}. */
export async function request(method, path, { body, ifMatch, contentType } = {}) {
  const headers = { accept: 'application/json' };
  const bearer = token.get();
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (ifMatch) headers['if-match'] = ifMatch;
  let payload;
  if (body !== undefined) {
    headers['content-type'] = contentType || 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  if (!response.ok) {
    const err = new ApiError(response.status, json);
    if (response.status === 401) onUnauthenticated(err);
    throw err;
  }
  return { body: json, etag: response.headers.get('etag') };
}

export const get = async (path) => (await request('GET', path)).body;
export const post = async (path, body, opts = {}) => (await request('POST', path, { ...opts, body })).body;

/** Path segments are ids like `tcp:10.0.0.1:80` or `[2001:db8::1]:80`. */
export const seg = (s) => encodeURIComponent(s);
export const clusterPath = (cluster) => `/v1/clusters/${seg(cluster)}`;
