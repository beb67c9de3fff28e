// Small helpers shared by the screens: building DOM without innerHTML,
// number formatting, bech32 encoding and local settings. Nothing here
// talks to the network.

/**
 * el builds an element. attrs sets properties (class, href, ...) and
 * attributes (names with a dash, aria-*, data-*); children are nodes or
 * strings, which become text nodes, so event data is never parsed as HTML.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k.includes("-") || k === "role" || k === "for") node.setAttribute(k, v === true ? "" : String(v));
    else node[k] = v;
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : String(c));
  }
}

/** stat is a figure with its label, as the dashboard and credits screens show them. */
export function stat(label, value) {
  return el("div", { class: "stat" }, el("div", { class: "n" }, value), el("div", { class: "l" }, label));
}

/** table is a captioned table (numeric columns right-aligned), or a "none" line without rows. */
export function table(caption, head, rows, numeric = []) {
  if (!rows.length) return el("p", { class: "muted" }, `${caption}: none.`);
  return el("div", { class: "scroll" }, el("table", {},
    el("caption", { class: "muted", style: "text-align:left" }, caption),
    el("thead", {}, el("tr", {}, head.map((h, i) => el("th", { scope: "col", class: numeric.includes(i) ? "num" : "" }, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c, i) => el("td", { class: numeric.includes(i) ? "num" : "" }, c)))))));
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** bytes formats a byte count: 0 B, 1.5 KiB, 12 MiB. Bad input gives "?". */
export function bytes(n) {
  n = Number(n);
  if (!Number.isFinite(n) || n < 0) return "?";
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) { n /= 1024; i++; }
  return `${i === 0 || n >= 100 ? Math.round(n) : n.toFixed(1)} ${UNITS[i]}`;
}

/** rate formats bytes per second. */
export function rate(n) { return `${bytes(n)}/s`; }

/** count formats an integer with thousands separators. */
export function count(n) {
  n = Number(n);
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en") : "?";
}

/** duration formats seconds as 1:05 or 1:02:03. */
export function duration(s) {
  s = Math.max(0, Math.floor(Number(s) || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? h + ":" : ""}${mm}:${String(sec).padStart(2, "0")}`;
}

/** ago formats a Unix time relative to now: "5 min ago". */
export function ago(t, now = Date.now() / 1000) {
  const d = Math.max(0, now - Number(t));
  if (!Number.isFinite(d)) return "";
  if (d < 60) return "just now";
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  if (d < 86400 * 30) return `${Math.floor(d / 86400)} d ago`;
  return new Date(t * 1000).toLocaleDateString("en");
}

/** parseSize reads "500MiB", "2 GiB", "1.5GB" or a byte count; null if not a size. */
export function parseSize(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$/i.exec(String(text));
  if (!m) return null;
  const pow = { "": 0, k: 1, m: 2, g: 3, t: 4 }[m[2].toLowerCase()];
  const base = m[3] || !m[2] ? 1024 : 1000;
  return Math.round(Number(m[1]) * base ** pow);
}

const HEX64 = /^[0-9a-f]{64}$/;

/** isHex64 tells whether s is 64 lowercase hex digits (an id, key or root). */
export function isHex64(s) { return typeof s === "string" && HEX64.test(s); }

/** tag returns the first value of the tag named name in event ev, or "". */
export function tag(ev, name) {
  for (const t of ev?.tags || []) if (Array.isArray(t) && t[0] === name && typeof t[1] === "string") return t[1];
  return "";
}

// bech32 (BIP-173), enough to show keys and event pointers as NIP-19 text.
const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

function polymod(values) {
  const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GEN[i];
  }
  return chk;
}

function hrpExpand(hrp) {
  const out = [];
  for (const c of hrp) out.push(c.charCodeAt(0) >> 5);
  out.push(0);
  for (const c of hrp) out.push(c.charCodeAt(0) & 31);
  return out;
}

function toWords(data) {
  const out = [];
  let acc = 0, bits = 0;
  for (const b of data) {
    acc = (acc << 8) | b; bits += 8;
    while (bits >= 5) { bits -= 5; out.push((acc >> bits) & 31); }
  }
  if (bits) out.push((acc << (5 - bits)) & 31);
  return out;
}

/** bech32 encodes bytes under the human-readable prefix hrp. */
export function bech32(hrp, data) {
  const words = toWords(data);
  const mod = polymod([...hrpExpand(hrp), ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  const chk = [];
  for (let i = 0; i < 6; i++) chk.push((mod >> (5 * (5 - i))) & 31);
  return hrp + "1" + [...words, ...chk].map((w) => CHARSET[w]).join("");
}

/** bech32Decode reads bech32 text (BIP-173, NIP-19's longer limit): {hrp, data} or null when malformed. */
export function bech32Decode(text) {
  if (typeof text !== "string" || text.length > 5000 || text !== text.toLowerCase()) return null;
  const sep = text.lastIndexOf("1");
  if (sep < 1 || text.length - sep < 7) return null;
  const hrp = text.slice(0, sep);
  const words = [];
  for (const c of text.slice(sep + 1)) {
    const w = CHARSET.indexOf(c);
    if (w < 0) return null;
    words.push(w);
  }
  if (polymod([...hrpExpand(hrp), ...words]) !== 1) return null;
  const out = [];
  let acc = 0, bits = 0;
  for (const w of words.slice(0, -6)) {
    acc = ((acc << 5) | w) & 0xfff; bits += 5;
    if (bits >= 8) { bits -= 8; out.push((acc >> bits) & 0xff); }
  }
  if (bits >= 5 || (acc & ((1 << bits) - 1))) return null; // padding longer than 4 bits, or not zero
  return { hrp, data: new Uint8Array(out) };
}

/** hexBytes decodes lowercase hex; it returns null for anything else. */
export function hexBytes(hex) {
  if (typeof hex !== "string" || hex.length % 2 || !/^[0-9a-f]*$/.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** npub gives the NIP-19 npub of a hex pubkey, or "" for a bad key. */
export function npub(pubkey) {
  return isHex64(pubkey) ? bech32("npub", hexBytes(pubkey)) : "";
}

/** nevent gives a NIP-19 nevent for an event id with an optional relay hint and author. */
export function nevent(id, relay, author) {
  if (!isHex64(id)) return "";
  const tlv = [0, 32, ...hexBytes(id)];
  if (relay) {
    const r = new TextEncoder().encode(relay);
    if (r.length < 256) tlv.push(1, r.length, ...r);
  }
  if (isHex64(author)) tlv.push(2, 32, ...hexBytes(author));
  return bech32("nevent", tlv);
}

/** shortKey abbreviates an npub or hex key for display. */
export function shortKey(s) {
  return s && s.length > 20 ? `${s.slice(0, 12)}…${s.slice(-6)}` : s || "";
}

/** settings is the page's small store in localStorage, tolerant of bad JSON and blocked storage. */
export const settings = {
  get(name, fallback) {
    try {
      const v = localStorage.getItem("cairn." + name);
      return v === null ? fallback : JSON.parse(v);
    } catch { return fallback; }
  },
  set(name, value) {
    try { localStorage.setItem("cairn." + name, JSON.stringify(value)); return true; } catch { return false; }
  },
  remove(name) { try { localStorage.removeItem("cairn." + name); } catch { /* storage blocked */ } },
};

/** safeURL returns url when it is http(s) or ws(s), else "". */
export function safeURL(url, protocols = ["http:", "https:"]) {
  try {
    const u = new URL(url);
    return protocols.includes(u.protocol) ? u.href : "";
  } catch { return ""; }
}

/** errText gives a readable message for anything thrown or returned as {error}. */
export function errText(e) {
  if (!e) return "unknown error";
  if (typeof e === "string") return e;
  if (e.message) return e.message;
  if (e.error) return String(e.error);
  return String(e);
}
