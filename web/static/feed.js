// The feed (/): recent notes (kind 1) and shared media (kinds 7001 and
// 1063) from the node's relay and the user's relays, newest first, with
// authors' names and pictures from kind 0; older items load on scroll.

import { el, ago, bytes, tag, npub, shortKey, isHex64, safeURL, settings, errText } from "./util.js";
import { query } from "./nostr.js";
import { nodeStatus, relayURL, state } from "./core.js";

const PAGE = 30;
const KINDS = [1, 1063, 7001];

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
  main.append(el("div", { class: "row" }, el("h1", {}, "Feed"), el("a", { class: "button secondary", href: "/upload", style: "margin-left:auto" }, "Share a file")),
    errors, list, status);

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
      const res = await query(urls, [filter]);
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
