// The watch page's head start. Most of the wait before a first frame is the
// browser core downloading and starting; the page needs none of it to begin.
// While the core loads, this module resolves the reference, reads the kind
// 7001 chunk map, and fetches the init segment and the first media chunk
// from the node that served the page over HTTP, so the player can append
// them before the core is ready. The events come from the page itself when
// the node's store holds them (the node puts them in the page and preloads
// those chunks, web/head.go: no REQ at all then), else from the node's relay
// and the nevent's relay hints at once, the first answer winning.
// In a page that carries them, begin() starts all this from the HTML, and
// also opens the MediaSource and appends the init segment (prepareMedia),
// before the app's modules and the player have loaded; the player takes
// the result (take).
//
// Every byte is checked here: the map's chunk hashes against its Merkle root
// (x-hash), each chunk against its hash (SubtleCrypto SHA-256). The events'
// signatures are not checked here: what comes from the node that served this
// page's code is trusted as the code is, and what a hinted relay gave (its
// id checked here) is handed to the node's relay first, which checks the
// signatures and refuses a bad one (the head start then ends). The core
// opens the same reference when it is ready, with every check it always
// makes, and the player stops if it finds another file. Anything unexpected
// (no such event, a map the page cannot read, a hash that differs, no
// SubtleCrypto outside a secure context) gives null, and the player waits
// for the core as before.

import { query, send, validEvent } from "./nostr.js";
import { bech32Decode, hexBytes, isHex64, settings } from "./util.js";
import { containerOf, sourceType } from "./media.js";

const QUERY_MS = 3000;
const MAX_CHUNKS = 1 << 20;
const MAX_CHUNK = 7 << 20; // the map rule: no chunk over 7 MiB
const MAX_HINTS = 3; // relay hints tried, as the core tries them

const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** refId gives the event id a reference names (nevent, note, or 64 hex digits taken as an id), or "". */
export function refId(ref) {
  if (isHex64(ref)) return ref;
  const d = bech32Decode(ref);
  if (!d) return "";
  if (d.hrp === "note") return d.data.length === 32 ? toHex(d.data) : "";
  if (d.hrp !== "nevent") return "";
  for (let o = 0; o + 2 <= d.data.length;) {
    const t = d.data[o], n = d.data[o + 1];
    if (o + 2 + n > d.data.length) return "";
    if (t === 0) return n === 32 ? toHex(d.data.subarray(o + 2, o + 2 + n)) : "";
    o += 2 + n;
  }
  return "";
}

const DEC = /^(0|[1-9][0-9]{0,15})$/;
const num = (s) => (typeof s === "string" && DEC.test(s) ? Number(s) : NaN);

/**
 * readMap reads a kind 7001 event into the shape the core's open() gives
 * ({root, sha256, size, mime, name, chunks: [{index, offset, length,
 * duration}], fragmented}) plus the chunk hashes, or null when it is not a
 * map the player can start from. It checks shape, not the Merkle root.
 */
export function readMap(ev) {
  if (!ev || ev.kind !== 7001 || !Array.isArray(ev.tags)) return null;
  let root = "", size = NaN, chunkSize = NaN, mime = "", title = "", init = null;
  const hashes = [], info = [];
  for (const t of ev.tags) {
    if (!Array.isArray(t)) return null;
    switch (t[0]) {
      case "x-hash": if (root || !isHex64(t[1])) return null; root = t[1]; break;
      case "size": size = num(t[1]); break;
      case "chunk-size": chunkSize = num(t[1]); break;
      case "mime": mime = String(t[1] || ""); break;
      case "title": title = String(t[1] || ""); break;
      case "init": init = { offset: num(t[1]), length: num(t[2]) }; break;
      case "chunk": {
        const i = num(t[2]);
        if (!isHex64(t[1]) || !(i >= 0) || i >= MAX_CHUNKS || hashes[i] !== undefined) return null;
        hashes[i] = t[1];
        break;
      }
      case "chunk-info": {
        const i = num(t[1]);
        if (!(i >= 0) || i >= MAX_CHUNKS || info[i] !== undefined) return null;
        info[i] = { offset: num(t[2]), length: num(t[3]), ms: num(t[4]) };
        break;
      }
    }
  }
  const n = hashes.length;
  if (!root || !(size >= 0) || !(chunkSize > 0) || n === 0 || hashes.includes(undefined)) return null;
  if (info.length && (info.length !== n || info.includes(undefined))) return null;
  const chunks = [];
  let off = 0;
  for (let i = 0; i < n; i++) {
    const c = info.length ? info[i] : { offset: off, length: Math.min(chunkSize, size - off), ms: 0 };
    if (c.offset !== off || !(c.length > 0) || c.length > MAX_CHUNK || !(c.ms >= 0)) return null;
    chunks.push({ index: i, offset: c.offset, length: c.length, duration: c.ms / 1000 });
    off += c.length;
  }
  if (off !== size) return null;
  const fragmented = !!init && init.offset === 0 && init.length === chunks[0].length;
  return { root, sha256: "", size, mime, name: title, chunks, fragmented, hashes };
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** merkleRoot computes the map's root of 32-byte leaves (docs/PROTOCOL.md: odd nodes pair with themselves). */
export async function merkleRoot(leaves) {
  let level = leaves;
  if (level.length === 0) return sha256(new Uint8Array(0));
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i < level.length; i += 2) {
      const pair = new Uint8Array(64);
      pair.set(level[i]);
      pair.set(level[i + 1] || level[i], 32);
      next.push(sha256(pair));
    }
    level = await Promise.all(next);
  }
  return level[0];
}

/**
 * inline gives the events the node put in this page for ref
 * (<script type="application/json" id="cairn-early">, web/head.go), or
 * none: the node does so when its own store holds them, and this module
 * then skips its REQs. They get the same checks as the relay's answers.
 */
export function inline(ref, doc = globalThis.document) {
  try {
    const d = JSON.parse(doc?.getElementById("cairn-early")?.textContent || "null");
    return d && d.ref === ref && Array.isArray(d.events) ? d.events.filter(validEvent) : [];
  } catch {
    return [];
  }
}

// fetchChunk GETs a chunk by its hash from the node and checks it.
async function fetchChunk(hash, length, signal) {
  const res = await fetch(`/${hash}`, { signal });
  if (!res.ok) throw new Error(`GET /${hash.slice(0, 8)}…: HTTP ${res.status}`);
  const data = new Uint8Array(await res.arrayBuffer());
  if (data.length !== length || toHex(await sha256(data)) !== hash) throw new Error(`chunk ${hash.slice(0, 8)}… from the node does not match the map`);
  return data;
}

/** refHints gives an nevent's relay hints (ws:// and wss:// URLs, at most MAX_HINTS), or none. */
export function refHints(ref) {
  const d = bech32Decode(ref);
  if (!d || d.hrp !== "nevent") return [];
  const out = [];
  for (let o = 0; o + 2 <= d.data.length;) {
    const t = d.data[o], n = d.data[o + 1];
    if (o + 2 + n > d.data.length) break;
    if (t === 1) {
      const u = new TextDecoder().decode(d.data.subarray(o + 2, o + 2 + n));
      if (/^wss?:\/\/[^\s]+$/.test(u) && !out.includes(u)) out.push(u);
    }
    o += 2 + n;
  }
  return out.slice(0, MAX_HINTS);
}

// first asks each relay in urls for filter at once and gives {event, url} of the first answer pick
// finds a match in, or null when none has one.
async function first(urls, filter, pick) {
  try {
    return await Promise.any(urls.map(async (url) => {
      const event = pick((await query([url], [filter], QUERY_MS)).events);
      if (!event) throw new Error(`not on ${url}`);
      return { event, url };
    }));
  } catch {
    return null;
  }
}

/** eventId computes a NIP-01 event id (hex) from the event's fields. */
export async function eventId(ev) {
  const ser = JSON.stringify([0, ev.pubkey, ev.created_at, ev.kind, ev.tags, ev.content]);
  return toHex(await sha256(new TextEncoder().encode(ser)));
}

// handOver publishes events (the file event and map a hinted relay gave, and their author's
// addressing record) to the node's relay: the node checks their signatures, which this page cannot,
// and can then serve the map's chunks by hash, pulling them from the author's node it now knows the
// address of. It reports whether the node took every event but the record.
async function handOver(relay, events, record) {
  const oks = await Promise.all([...events, ...(record ? [record] : [])].map((e) => send(relay, e, QUERY_MS)));
  return oks.slice(0, events.length).every((r) => r.ok || r.reason.startsWith("duplicate:"));
}

/**
 * earlyOpen resolves ref and starts fetching chunks 0 and 1 of its map
 * from the node that served the page. The events come from the page
 * itself when the node put them there (inline), else from the node's
 * relay and the nevent's relay hints, asked at once: the first answer
 * wins. What a hinted relay gave is handed to the node (handOver) before
 * any chunk is asked for. It resolves to {file, chunks: Map(index ->
 * Promise of verified bytes)} or null; it never rejects. relay is the
 * node's relay URL (ws(s)://host of the page).
 */
export async function earlyOpen(ref, relay, signal) {
  try {
    if (!globalThis.crypto?.subtle) return null; // not a secure context
    const id = refId(ref);
    if (!id) return null;
    const given = inline(ref);
    if (given.length) performance.mark("cairn:early-inline");
    let ev = given.find((e) => e.id === id), from = relay;
    if (!ev) {
      const hit = await first([relay, ...refHints(ref)], { ids: [id] }, (evs) => evs.find((e) => e.id === id));
      if (!hit) return null;
      ({ event: ev, url: from } = hit);
      if (from !== relay && (await eventId(ev)) !== id) return null;
    }
    const record = (pubkey) => ({ kinds: [30078], authors: [pubkey], "#d": ["cairn-p2p"], limit: 1 });
    let mapEv = ev, sha = "", rec = null;
    if (ev.kind === 1063) {
      const root = ev.tags.find((t) => t[0] === "x-hash")?.[1];
      sha = ev.tags.find((t) => t[0] === "x")?.[1] || "";
      if (!isHex64(root)) return null;
      const isMap = (m) => m.kind === 7001 && m.pubkey === ev.pubkey && m.tags.some((t) => t[0] === "x-hash" && t[1] === root);
      mapEv = given.find(isMap);
      if (!mapEv) {
        const filters = [{ kinds: [7001], authors: [ev.pubkey], limit: 100 }, ...(from !== relay ? [record(ev.pubkey)] : [])];
        const { events } = await query([from], filters, QUERY_MS);
        mapEv = events.find(isMap);
        rec = events.find((e) => e.kind === 30078) || null;
      }
    } else if (from !== relay) {
      rec = (await query([from], [record(ev.pubkey)], QUERY_MS)).events.find((e) => e.kind === 30078) || null;
    }
    const file = readMap(mapEv);
    if (!file || file.chunks.length < 2) return null;
    if (isHex64(sha)) file.sha256 = sha;
    if (toHex(await merkleRoot(file.hashes.map(hexBytes))) !== file.root) return null;
    performance.mark("cairn:early-checked");
    if (from !== relay) {
      performance.mark("cairn:early-hint");
      if (!(await handOver(relay, ev === mapEv ? [ev] : [ev, mapEv], rec))) return null;
    }
    const chunks = new Map();
    for (const i of [0, 1]) {
      const p = fetchChunk(file.hashes[i], file.chunks[i].length, signal);
      p.then(() => performance.mark(`cairn:early-chunk-${i}`), () => {});
      p.catch(() => {}); // the player handles the failure when it asks
      chunks.set(i, p);
    }
    return { file, chunks };
  } catch {
    return null;
  }
}

/** pageRelay gives the relay URL of the node that served the page at loc (ws(s)://host). */
export function pageRelay(loc = globalThis.location) {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}`;
}

// The head start begun by the page itself (begin), until the player takes it (take).
let begun = null;

/**
 * begin starts earlyOpen from the HTML, before the app's modules: the node
 * puts `import { begin } from "/early.js"; begin()` in a /watch page that
 * carries a head start (web/head.go), so the checks and the chunk fetches
 * do not wait for app.js, the route and the player's imports. It starts
 * only for the ref in the page's cairn-early element, when the page's path
 * is /watch/<that ref> and the user has not turned HTTP fetches off (the
 * player's "http" setting); the player then takes the result with take().
 */
export function begin(doc = globalThis.document, loc = globalThis.location) {
  if (begun) return;
  let ref = "";
  try { ref = JSON.parse(doc?.getElementById("cairn-early")?.textContent || "null")?.ref; } catch { return; }
  if (typeof ref !== "string" || !ref || loc?.pathname?.replace(/\/+$/, "") !== `/watch/${ref}`) return;
  if (settings.get("http", true) === false) return;
  try { performance.mark("cairn:early-begin"); } catch { /* no timeline */ }
  const abort = new AbortController();
  const relay = pageRelay(loc);
  const result = earlyOpen(ref, relay, abort.signal).then((head) => head && { ...head, media: prepareMedia(head.file, head.chunks.get(0), doc) });
  begun = { ref, relay, abort, result };
}

/**
 * prepareMedia opens a MediaSource for file (fragmented MP4 or WebM audio
 * or video) on a new media element of its kind and, once the MediaSource
 * is open and init (a promise of the verified init segment) is there,
 * appends init to a SourceBuffer of the type the init segment names. It
 * gives {element, source, url, ready} (ready: a promise of {type, sb}, or
 * null when that type cannot be streamed or the append failed; it never
 * rejects), or null for a file MediaSource cannot take. Done while the
 * player module loads, it takes the browser's media start-up (~50 ms to
 * open, ~50 ms for a first append, in the benchmark's marks) off the path
 * to the first frame; the player takes the element (stream in player.js).
 */
export function prepareMedia(file, init, doc = globalThis.document) {
  const mime = String(file?.mime || "");
  if (!globalThis.MediaSource || !file?.fragmented || !containerOf(mime) || !/^(video|audio)\//.test(mime) || !init) return null;
  const source = new MediaSource();
  const url = URL.createObjectURL(source);
  const element = doc.createElement(mime.startsWith("audio/") ? "audio" : "video");
  const opened = new Promise((r) => source.addEventListener("sourceopen", r, { once: true }));
  element.src = url;
  const ready = (async () => {
    const bytes = await init;
    const type = sourceType(mime, bytes, (t) => MediaSource.isTypeSupported(t));
    if (!type) return null;
    await opened;
    const sb = source.addSourceBuffer(type);
    sb.mode = "segments";
    await new Promise((resolve, reject) => {
      sb.addEventListener("updateend", resolve, { once: true });
      sb.addEventListener("error", reject, { once: true });
      sb.appendBuffer(bytes);
    });
    performance.mark("cairn:early-init-appended");
    return { type, sb };
  })().catch((e) => {
    try { performance.mark("cairn:early-media-failed", { detail: String(e?.message || e?.type || e) }); } catch { /* no timeline */ }
    return null;
  });
  return { element, source, url, ready };
}

/**
 * take gives the head start for ref: the one begin() started when it is
 * for the same ref and relay (signal then aborts its fetches), else a new
 * earlyOpen. A begun head start is given once; one for another ref is
 * aborted.
 */
export function take(ref, relay, signal) {
  const b = begun;
  begun = null;
  if (!b || b.ref !== ref || b.relay !== relay) {
    b?.abort.abort();
    return earlyOpen(ref, relay, signal);
  }
  if (signal?.aborted) b.abort.abort();
  else signal?.addEventListener("abort", () => b.abort.abort(), { once: true });
  return b.result;
}
