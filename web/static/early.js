// The watch page's head start. Most of the wait before a first frame is the
// browser core downloading and starting; the page needs none of it to begin.
// While the core loads, this module resolves the reference on the node that
// served the page (its relay, one or two REQs), reads the kind 7001 chunk
// map, and fetches the init segment and the first media chunk from the node
// over HTTP, so the player can append them before the core is ready. When
// the node's store holds the reference, the node puts the events in the
// page and preloads those chunks (web/head.go): no REQ at all then.
//
// Every byte is checked here: the map's chunk hashes against its Merkle root
// (x-hash), each chunk against its hash (SubtleCrypto SHA-256). The events'
// signatures are not: the map comes from the node that served this page's
// code, which the page trusts already. The core opens the same reference
// when it is ready, with every check it always makes, and the player stops
// if it finds another file. Anything unexpected (no such event here, a map
// the page cannot read, a hash that differs, no SubtleCrypto outside a
// secure context) gives null, and the player waits for the core as before.

import { query, validEvent } from "./nostr.js";
import { bech32Decode, hexBytes, isHex64 } from "./util.js";

const QUERY_MS = 3000;
const MAX_CHUNKS = 1 << 20;
const MAX_CHUNK = 7 << 20; // the map rule: no chunk over 7 MiB

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

/**
 * earlyOpen resolves ref on the page's node and starts fetching chunks 0
 * and 1 of its map. It resolves to {file, chunks: Map(index -> Promise of
 * verified bytes)} or null; it never rejects. relay is the node's relay
 * URL (ws(s)://host of the page).
 */
export async function earlyOpen(ref, relay, signal) {
  try {
    if (!globalThis.crypto?.subtle) return null; // not a secure context
    const id = refId(ref);
    if (!id) return null;
    const given = inline(ref);
    if (given.length) performance.mark("cairn:early-inline");
    const ev = given.find((e) => e.id === id) || (await query([relay], [{ ids: [id] }], QUERY_MS)).events.find((e) => e.id === id);
    if (!ev) return null;
    let mapEv = ev, sha = "";
    if (ev.kind === 1063) {
      const root = ev.tags.find((t) => t[0] === "x-hash")?.[1];
      sha = ev.tags.find((t) => t[0] === "x")?.[1] || "";
      if (!isHex64(root)) return null;
      const isMap = (m) => m.kind === 7001 && m.pubkey === ev.pubkey && m.tags.some((t) => t[0] === "x-hash" && t[1] === root);
      mapEv = given.find(isMap) || (await query([relay], [{ kinds: [7001], authors: [ev.pubkey], limit: 100 }], QUERY_MS)).events.find(isMap);
    }
    const file = readMap(mapEv);
    if (!file || file.chunks.length < 2) return null;
    if (isHex64(sha)) file.sha256 = sha;
    if (toHex(await merkleRoot(file.hashes.map(hexBytes))) !== file.root) return null;
    const chunks = new Map();
    for (const i of [0, 1]) {
      const p = fetchChunk(file.hashes[i], file.chunks[i].length, signal);
      p.catch(() => {}); // the player handles the failure when it asks
      chunks.set(i, p);
    }
    return { file, chunks };
  } catch {
    return null;
  }
}
