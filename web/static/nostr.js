// A small NIP-01 client: one websocket per relay, shared by the screens,
// REQ until EOSE then CLOSE. Events are checked for shape (not signature:
// the node's relay checks those; other relays are the user's choice).

import { isHex64 } from "./util.js";

const OPEN_TIMEOUT_MS = 5000;
const MAX_EVENTS_PER_QUERY = 2000;

/** validEvent tells whether v has the NIP-01 event fields with the right types. */
export function validEvent(v) {
  return !!v && typeof v === "object" && isHex64(v.id) && isHex64(v.pubkey) &&
    Number.isInteger(v.created_at) && Number.isInteger(v.kind) && typeof v.content === "string" &&
    Array.isArray(v.tags) && v.tags.every((t) => Array.isArray(t) && t.every((x) => typeof x === "string")) &&
    typeof v.sig === "string";
}

class Relay {
  constructor(url) {
    this.url = url;
    this.subs = new Map();
    this.seq = 0;
    this.ready = null;
    this.ws = null;
    this.oks = new Map(); // event id -> its OK's handler (send)
  }

  connect() {
    if (this.ready) return this.ready;
    this.ready = new Promise((resolve, reject) => {
      let ws;
      try { ws = new WebSocket(this.url); } catch (e) { reject(new Error(`bad relay URL ${this.url}: ${e.message}`)); return; }
      this.ws = ws;
      const timer = setTimeout(() => { reject(new Error(`relay ${this.url} did not answer in ${OPEN_TIMEOUT_MS / 1000} s`)); ws.close(); }, OPEN_TIMEOUT_MS);
      ws.onopen = () => { clearTimeout(timer); resolve(this); };
      ws.onerror = () => { clearTimeout(timer); reject(new Error(`cannot connect to relay ${this.url}`)); };
      ws.onclose = () => {
        clearTimeout(timer);
        this.ready = null;
        for (const f of this.oks.values()) f(false, `relay ${this.url} closed the connection`);
        this.oks.clear();
        for (const s of this.subs.values()) s.onclose?.();
        this.subs.clear();
      };
      ws.onmessage = (m) => this.onMessage(m.data);
    });
    this.ready.catch(() => { this.ready = null; });
    return this.ready;
  }

  onMessage(data) {
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (!Array.isArray(msg) || typeof msg[1] !== "string") return;
    if (msg[0] === "OK") {
      const f = this.oks.get(msg[1]);
      if (f) { this.oks.delete(msg[1]); f(msg[2] === true, String(msg[3] || "")); }
      return;
    }
    const sub = this.subs.get(msg[1]);
    if (!sub) return;
    if (msg[0] === "EVENT" && validEvent(msg[2])) sub.onevent(msg[2]);
    else if (msg[0] === "EOSE") sub.oneose?.();
    else if (msg[0] === "CLOSED") { this.subs.delete(msg[1]); sub.onclose?.(String(msg[2] || "")); }
  }

  // send publishes a signed event and resolves with the relay's OK, {ok, reason}.
  send(ev, timeoutMs) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.oks.delete(ev.id); resolve({ ok: false, reason: `relay ${this.url} did not answer in ${timeoutMs / 1000} s` }); }, timeoutMs);
      this.oks.set(ev.id, (ok, reason) => { clearTimeout(timer); resolve({ ok, reason }); });
      this.ws.send(JSON.stringify(["EVENT", ev]));
    });
  }

  subscribe(filters, handlers) {
    const id = `c${++this.seq}`;
    this.subs.set(id, handlers);
    this.ws.send(JSON.stringify(["REQ", id, ...filters]));
    return () => {
      if (this.subs.delete(id) && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(["CLOSE", id]));
    };
  }
}

const relays = new Map();

function relay(url) {
  let r = relays.get(url);
  if (!r) { r = new Relay(url); relays.set(url, r); }
  return r;
}

/**
 * query asks every relay in urls for filters until each sends EOSE (or
 * timeoutMs passes) and returns the events, deduplicated by id, newest
 * first, with the errors of relays that failed.
 */
export async function query(urls, filters, timeoutMs = 6000) {
  const byId = new Map();
  const errors = [];
  await Promise.all([...new Set(urls)].map(async (url) => {
    try {
      const r = await relay(url).connect();
      await new Promise((resolve) => {
        let close = () => {};
        const done = () => { clearTimeout(timer); close(); resolve(); };
        const timer = setTimeout(done, timeoutMs);
        close = r.subscribe(filters, {
          onevent: (ev) => { if (byId.size < MAX_EVENTS_PER_QUERY) byId.set(ev.id, ev); },
          oneose: done,
          onclose: (reason) => { if (reason) errors.push(`${url}: ${reason}`); done(); },
        });
      });
    } catch (e) {
      errors.push(e.message);
    }
  }));
  const events = [...byId.values()].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
  return { events, errors };
}

/** send publishes a signed event to the relay at url and resolves with its OK, {ok, reason}; it never rejects. */
export async function send(url, ev, timeoutMs = 6000) {
  try {
    return await (await relay(url).connect()).send(ev, timeoutMs);
  } catch (e) {
    return { ok: false, reason: e.message };
  }
}

/** normalizeRelay checks a relay URL typed by the user; it returns the URL or throws saying what is wrong. */
export function normalizeRelay(text) {
  const t = String(text).trim();
  let u;
  try { u = new URL(t); } catch { throw new Error(`"${t}" is not a URL: a relay looks like wss://relay.example`); }
  if (u.protocol !== "ws:" && u.protocol !== "wss:") throw new Error("a relay URL starts with wss:// (or ws:// on a local network)");
  return u.href.replace(/\/$/, "");
}

/**
 * subscribe follows filters on the relay at url: onevent for every event,
 * stored or live. It returns a function that closes the subscription.
 * Errors (the relay unreachable, CLOSED) go to onerror.
 */
export function subscribe(url, filters, onevent, onerror = () => {}) {
  let close = null;
  let stopped = false;
  relay(url).connect().then((r) => {
    if (stopped) return;
    close = r.subscribe(filters, { onevent, onclose: (reason) => { if (!stopped) onerror(new Error(reason || `relay ${url} closed the connection`)); } });
  }, (e) => { if (!stopped) onerror(e); });
  return () => { stopped = true; if (close) close(); };
}
