// api.js -- the dashboard's one way to the server: GET requests to /api/
// with the bearer token when there is one (taken once from the page's
// #token=... or asked for, kept in sessionStorage, never in a cookie), and
// the live event stream read with fetch (EventSource cannot send the
// token).

const TOKEN_KEY = "mida-token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function takeTokenFromUrl() {
  const m = location.hash.match(/[#&]token=([^&]+)/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    const rest = location.hash.replace(/[#&]?token=[^&]+/, "");
    history.replaceState(null, "", location.pathname + (rest || "#/"));
  }
}

export function setToken(t) {
  sessionStorage.setItem(TOKEN_KEY, t);
}

function headers() {
  const t = sessionStorage.getItem(TOKEN_KEY);
  return t ? { Authorization: "Bearer " + t } : {};
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.append(k, v);
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

// The waits before each new try of a GET that got no answer at all (the
// connection refused or reset: a server restarting, a loaded machine),
// in ms. A GET reads only, so trying it again changes nothing; an answer
// that is an error (4xx, 5xx) is not tried again. Until 2026-12-06 one
// reset left a view on "Failed to fetch" until the page was reloaded.
const RETRY_WAITS_MS = [250, 1000, 3000];

async function fetchRetrying(target) {
  for (let i = 0; ; i++) {
    try {
      return await fetch(target, { headers: headers() });
    } catch (e) {
      if (!(e instanceof TypeError) || i >= RETRY_WAITS_MS.length) throw e;
      await new Promise((res) => setTimeout(res, RETRY_WAITS_MS[i]));
    }
  }
}

export async function get(path, params) {
  const r = await fetchRetrying("/api/" + path + query(params));
  const text = await r.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  if (!r.ok) {
    const msg = body && body.error ? body.error.message : r.statusText;
    throw new ApiError(r.status, msg);
  }
  return body;
}

export async function getText(path, params) {
  const r = await fetchRetrying("/api/" + path + query(params));
  if (!r.ok) throw new ApiError(r.status, (await r.text()) || r.statusText);
  return r.text();
}

// Calls onEvent(kind, data) for each event; reconnects after an error,
// resuming after the last event id. Returns a function that stops it.
export function events(onEvent, onState) {
  let stopped = false;
  let last = null;
  let controller = null;
  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const r = await fetch("/api/events" + query({ since: last }), {
          headers: headers(),
          signal: controller.signal,
        });
        if (!r.ok) throw new ApiError(r.status, r.statusText);
        onState(true);
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let kind = "message", data = "", id = null;
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) kind = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
              else if (line.startsWith("id: ")) id = line.slice(4);
            }
            if (id !== null) last = id;
            let parsed = null;
            try {
              parsed = data ? JSON.parse(data) : null;
            } catch {
              continue; /* a malformed event is skipped, the stream goes on */
            }
            if (parsed !== null) onEvent(kind, parsed);
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      controller.abort(); /* never leave a broken stream's connection open */
      onState(false);
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
  run();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}
