// The feed (/): recent notes (kind 1) and shared media (kinds 7001 and
// 1063) from the node's relay and the user's relays, newest first, with
// authors' names and pictures from kind 0; older items load on scroll.

import { el, ago, bytes, tag, npub, shortKey, isHex64, safeURL, settings, errText } from "./util.js";
import { query } from "./nostr.js";
import { nodeStatus, relayURL, state, load, call, has, loopback, iceConfig } from "./core.js";

const PAGE = 30;
const KINDS = [1, 1063, 7001];
// NIP-95: how long the feed waits for the browser core's casual client
// (which itself takes from the relay what super peers did not deliver
// within 5 s) before it asks the relay alone.
const P2P_WAIT_MS = 6000;

const p2pRelays = new Map(); // relay URL -> Promise<bool>: its NIP-11 says p2p_enabled

/** p2pEnabled tells whether a relay's NIP-11 document announces NIP-95 (limitation.p2p_enabled). */
export function p2pEnabled(url) {
  if (!p2pRelays.has(url)) {
    const http = url.replace(/^ws/, "http");
    p2pRelays.set(url, fetch(http, { headers: { Accept: "application/nostr+json" }, cache: "no-store" })
      .then((r) => (r.ok ? r.json() : null))
      .then((doc) => doc?.limitation?.p2p_enabled === true)
      .catch(() => false));
  }
  return p2pRelays.get(url);
}

function within(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms); })])
    .finally(() => clearTimeout(timer));
}

/**
 * throughPeers asks the node's relay for the recent (24 h) events of filter
 * as a NIP-95 casual client (the browser core's nip95Recent: super peers
 * first, every event checked, the relay for the rest); null when the relay
 * does not announce NIP-95 or the core does not answer in time.
 */
async function throughPeers(node, filter) {
  if (!(await p2pEnabled(node))) return null;
  try {
    await within(load(), P2P_WAIT_MS);
    if (!has("nip95Recent")) return null;
    const iceServers = await iceConfig(null);
    return await within(call("nip95Recent", node, filter, { loopback: loopback(), iceServers }), P2P_WAIT_MS);
  } catch {
    return null; // the relay alone, below
  }
}

/** mediaOf describes a kind 7001 or 1063 event: root, title, mime, size, link; null for other kinds. */
export function mediaOf(ev) {
  if (ev.kind !== 7001 && ev.kind !== 1063) return null;
  // A Blossom blob with a streaming rendition (PROTOCOL.md) is shown, and
  // played, as that rendition: one feed item for both.
  const stream = tag(ev, "stream");
  const root = isHex64(stream) ? stream : tag(ev, "x-hash");
  const title = tag(ev, "title") || tag(ev, "alt") || tag(ev, "summary") || (ev.kind === 1063 ? ev.content.split("\n")[0] : "") || "Untitled file";
  const size = Number(tag(ev, "size"));
  const mime = (ev.kind === 1063 ? tag(ev, "m") : tag(ev, "mime")).split(";")[0].trim().toLowerCase();
  let href = "";
  if (isHex64(root)) href = `/watch/${root}`;
  else if (ev.kind === 1063) href = safeURL(tag(ev, "url"));
  return { root, title, mime, size: Number.isFinite(size) && size > 0 ? size : 0, href,
    description: ev.kind === 7001 ? ev.content : tag(ev, "summary") || (ev.content !== title ? ev.content : "") };
}

/** relays gives the node's relay followed by the user's, without duplicates. */
export async function feedRelays() {
  const node = state.relay || relayURL(await nodeStatus().catch(() => null));
  return [...new Set([node, ...settings.get("relays", []).filter((r) => typeof r === "string")])];
}

/** avatar is a profile's picture (kind 0), or a blank circle. */
export function avatar(profile) {
  const src = safeURL(profile?.picture || "");
  if (!src) return el("span", { class: "avatar", "aria-hidden": "true" });
  const img = el("img", { class: "avatar", src, alt: "", loading: "lazy", referrerPolicy: "no-referrer" });
  img.addEventListener("error", () => img.replaceWith(el("span", { class: "avatar", "aria-hidden": "true" })), { once: true });
  return img;
}

/** authorName is a profile's display name or name, else the shortened npub. */
export function authorName(profile, pubkey) {
  const n = profile?.display_name || profile?.name;
  return typeof n === "string" && n.trim() ? n.trim().slice(0, 80) : shortKey(npub(pubkey));
}

function item(ev, profile) {
  const when = new Date(ev.created_at * 1000);
  const head = el("header", {}, avatar(profile),
    el("span", { class: "who", title: npub(ev.pubkey) }, authorName(profile, ev.pubkey)),
    el("time", { dateTime: when.toISOString(), title: when.toLocaleString("en") }, ago(ev.created_at)));
  const m = mediaOf(ev);
  if (!m) return el("li", { class: "card post" }, head, el("p", { class: "content" }, ev.content.slice(0, 4000)));
  const info = [m.mime, m.size ? bytes(m.size) : ""].filter(Boolean).join(" · ");
  const body = [el("span", { class: "kind" }, m.mime.startsWith("video/") ? "video" : m.mime.startsWith("audio/") ? "audio" : m.mime.startsWith("image/") ? "image" : "file"),
    el("span", { class: "title" }, m.title.slice(0, 200)), info && el("span", { class: "muted" }, info)];
  const link = m.href
    ? el("a", { class: "media-link", href: m.href }, ...body)
    : el("div", { class: "media-link" }, ...body);
  return el("li", { class: "card post" }, head,
    m.description && el("p", { class: "content" }, m.description.slice(0, 1000)), link);
}

/** render draws the feed into main and returns its cleanup. */
export function render(main) {
  let stopped = false;
  let until = undefined;
  let loading = false;
  let exhausted = false;
  const seen = new Set();
  const roots = new Set();
  const profiles = new Map();
  const list = el("ul", { class: "feed", "aria-label": "Notes and shared media" });
  const status = el("p", { class: "sentinel", role: "status", "aria-live": "polite" }, "Loading the feed…");
  const errors = el("div");
  const peersNote = el("p", { class: "muted", id: "feed-p2p" });
  main.append(el("div", { class: "row" }, el("h1", {}, "Feed"), el("a", { class: "button secondary", href: "/upload", style: "margin-left:auto" }, "Share a file")),
    errors, peersNote, list, status);

  async function loadProfiles(pubkeys, urls) {
    const want = pubkeys.filter((p) => !profiles.has(p));
    if (!want.length) return;
    for (const p of want) profiles.set(p, null);
    const { events } = await query(urls, [{ kinds: [0], authors: want }]);
    for (const ev of events.reverse()) {
      try {
        const meta = JSON.parse(ev.content);
        if (meta && typeof meta === "object") profiles.set(ev.pubkey, meta);
      } catch { /* a profile that is not JSON is skipped */ }
    }
  }

  async function more() {
    if (loading || exhausted || stopped) return;
    loading = true;
    status.textContent = "Loading…";
    try {
      const urls = await feedRelays();
      const filter = { kinds: KINDS, limit: PAGE };
      if (until !== undefined) filter.until = until;
      // The first page's recent events through NIP-95 super peers when the
      // node's relay offers them; the user's relays, and whatever is older,
      // as plain queries.
      const p2p = until === undefined ? await throughPeers(urls[0], filter) : null;
      let res;
      if (p2p) {
        // The relay offers at most 20 events a request: the rest of the
        // page from the oldest of them down (a plain query; repeats of
        // that second are dropped below).
        const oldest = p2p.events.length ? p2p.events[p2p.events.length - 1].created_at : Math.floor(Date.now() / 1000) - 86400;
        const older = { ...filter, until: oldest, limit: PAGE };
        const [others, rest] = await Promise.all([
          urls.length > 1 ? query(urls.slice(1), [filter]) : { events: [], errors: [] },
          p2p.events.length < PAGE ? query([urls[0]], [older]) : { events: [], errors: [] },
        ]);
        const byId = new Map([...p2p.events, ...others.events, ...rest.events].map((ev) => [ev.id, ev]));
        res = { events: [...byId.values()].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1)).slice(0, PAGE),
          errors: [...others.errors, ...rest.errors] };
        peersNote.textContent = p2p.fromPeers
          ? `${p2p.fromPeers} of ${p2p.events.length} recent items came from other browsers and nodes (NIP-95 super peers), each signature checked.`
          : "";
      } else {
        res = await query(urls, [filter]);
      }
      if (stopped) return;
      errors.replaceChildren(...res.errors.map((e) => el("div", { class: "notice warn" }, `A relay failed: ${e}`)));
      const fresh = res.events.filter((ev) => !seen.has(ev.id));
      await loadProfiles([...new Set(fresh.map((ev) => ev.pubkey))], urls);
      if (stopped) return;
      for (const ev of fresh) {
        seen.add(ev.id);
        const m = mediaOf(ev);
        if (m?.root) {
          if (roots.has(m.root)) continue;
          roots.add(m.root);
        }
        list.append(item(ev, profiles.get(ev.pubkey)));
      }
      if (res.events.length) until = res.events[res.events.length - 1].created_at;
      if (!fresh.length) {
        exhausted = true;
        status.textContent = seen.size ? "That is everything these relays have." : "Nothing here yet. Share a file or post a note from any Nostr client to this relay.";
      } else status.textContent = "Scroll for more";
    } catch (e) {
      status.textContent = `The feed did not load: ${errText(e)}`;
    } finally {
      loading = false;
    }
    // The observer fires on changes only: keep loading while the end of the list is still in view.
    if (!exhausted && !stopped && status.getBoundingClientRect().top < innerHeight + 400) setTimeout(more, 0);
  }

  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) more();
  }, { rootMargin: "400px" });
  io.observe(status);
  more();
  return () => { stopped = true; io.disconnect(); };
}
