// The console's only way to the hub: the public API, with the signed-in
// credential as a bearer token. An operator's API key and a consumer's
// session token live in sessionStorage (gone when the tab closes), never
// in localStorage or a cookie.

const KEY = 'switchboard.api_key';
const SESSION = 'switchboard.session';

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage blocked (some embedded frames): keep it in memory
  }
}

const memory = {};

function read(name) {
  const s = storage();
  return (s && s.getItem(name)) || memory[name] || null;
}

function write(name, value) {
  const s = storage();
  if (value === null) {
    delete memory[name];
    if (s) s.removeItem(name);
    return;
  }
  memory[name] = value;
  if (s) {
    try {
      s.setItem(name, value);
    } catch {
      // quota or blocked: memory holds it for this page's life
    }
  }
}

export const auth = {
  // mode is 'session' (a consumer in the portal), 'operator' or null.
  get mode() {
    if (read(SESSION)) return 'session';
    if (read(KEY)) return 'operator';
    return null;
  },
  get token() {
    return read(SESSION) || read(KEY);
  },
  signIn(key) {
    write(SESSION, null);
    write(KEY, key);
  },
  useSession(token) {
    write(KEY, null);
    write(SESSION, token);
  },
  signOut() {
    write(KEY, null);
    write(SESSION, null);
  },
};

export class ApiError extends Error {
  constructor(status, body, path) {
    const msg = (body && (body.message || body.error)) || 'HTTP ' + status;
    super(msg);
    this.status = status;
    this.body = body;
    this.path = path;
    this.type = body && body.type_name;
    this.title = status + (body && body.error ? ' ' + body.error : '');
    const detail = body && body.detail;
    this.fields = (detail && Array.isArray(detail.errors) && detail.errors) ||
      (detail && detail.field ? [detail] : []);
  }
}

// call sends one request and returns the parsed envelope; a non-2xx answer
// throws ApiError.
export async function call(method, path, opts = {}) {
  const headers = {Accept: 'application/json'};
  const token = opts.token || auth.token;
  if (token) headers.Authorization = 'Bearer ' + token;
  if (opts.consumer) headers['x-consumer-id'] = opts.consumer;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let url = path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) {
      if (v !== undefined && v !== null && v !== '') q.set(k, v);
    }
    const s = q.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  let res;
  try {
    res = await fetch(url, {method, headers, body, cache: 'no-store', credentials: 'omit', redirect: 'error'});
  } catch (err) {
    throw new ApiError(0, {message: 'the hub did not answer (' + err.message + ')'}, path);
  }
  let json = null;
  const text = await res.text();
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = {message: text.slice(0, 300)};
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, json, path);
    if (res.status === 401 && !opts.noAuthRedirect) {
      window.dispatchEvent(new CustomEvent('switchboard:unauthorized', {detail: err}));
    }
    throw err;
  }
  return json || {};
}

export const get = (path, opts) => call('GET', path, opts);
export const post = (path, body, opts = {}) => call('POST', path, Object.assign({}, opts, {body}));
export const patch = (path, body, opts = {}) => call('PATCH', path, Object.assign({}, opts, {body}));
export const put = (path, body, opts = {}) => call('PUT', path, Object.assign({}, opts, {body}));
export const del = (path, opts) => call('DELETE', path, opts);

// seg escapes one path segment.
export const seg = encodeURIComponent;
