// The node dashboard (/dashboard): GET /api/status and /api/credits (the
// peers by reputation) every 2 s (and /api/downloads when the node allows
// it), plus this tab's own status.

import { el, bytes, rate, count, duration, shortKey, npub, errText, stat, table } from "./util.js";
import { nodeStatus, has, state } from "./core.js";

const PERIOD_MS = 2000;

function meter(used, total) {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  return el("div", { class: "meter", role: "img", "aria-label": `${pct.toFixed(0)} percent used` }, el("span", { style: `width:${pct}%` }));
}

/** transferRows turns {name: {bytes_up, bytes_down}} into table rows, sorted by name. */
export function transferRows(t) {
  if (!t || typeof t !== "object") return [];
  return Object.keys(t).sort().map((name) => [name, bytes(t[name]?.bytes_up), bytes(t[name]?.bytes_down)]);
}

function downloadRows(list) {
  return (Array.isArray(list) ? list : []).map((d) => [
    el("a", { href: `/watch/${d.root}` }, d.title || shortKey(d.root)),
    d.state || "", `${count(d.chunks_done)}/${count(d.chunks)}`, bytes(d.bytes_done ?? d.bytes), rate(d.rate || 0),
    count(Array.isArray(d.peers) ? d.peers.length : d.peers),
  ]);
}

/** reputationRows turns /api/credits's reputation (peers by score, best first) into table rows. */
export function reputationRows(list) {
  const num = (v) => (Number.isFinite(Number(v)) ? Number(v) : 0);
  return (Array.isArray(list) ? list : []).map((p) => {
    const name = String(p?.peer ?? "");
    const shown = npub(name) || name;
    return [
      el("span", { class: "mono", title: shown }, shortKey(shown) || "?"),
      num(p?.score).toFixed(2), bytes(num(p?.bytes)), num(p?.strikes).toFixed(1),
      `${num(p?.custody_passed).toFixed(1)} / ${num(p?.custody_failed).toFixed(1)}`,
    ];
  });
}

function nodeSection(s, downloads, credits) {
  const b = s.blobs || {};
  const out = [
    el("h2", {}, "This node"),
    el("dl", { class: "kv" },
      el("dt", {}, "Key"), el("dd", { class: "mono" }, s.npub || npub(s.pubkey)),
      el("dt", {}, "Relay"), el("dd", { class: "mono" }, s.urls?.relay || ""),
      el("dt", {}, "Version"), el("dd", {}, s.version || "?"),
      el("dt", {}, "Up for"), el("dd", {}, duration(s.uptime_seconds))),
    el("div", { class: "stats" },
      stat("relay connections", count(s.relay?.connections)),
      stat("subscriptions", count(s.relay?.subscriptions)),
      stat("events stored", count(s.store?.events)),
      stat("libp2p peers", count(s.peers?.libp2p ?? s.p2p?.peers)),
      s.peers?.webrtc !== undefined && stat("WebRTC peers (browsers)", count(s.peers.webrtc)),
      stat("chunks stored", count(b.count)),
      stat("downloads", count(Array.isArray(s.downloads) ? s.downloads.length : s.downloads))),
    el("h2", {}, "Storage"),
    el("p", {}, `${bytes(b.bytes)} of ${b.quota ? bytes(b.quota) : "unlimited"} used · ${count(b.pinned)} chunks pinned (${bytes(b.pinned_bytes)}) · ${count(b.evicted)} evicted`),
    b.quota ? meter(b.bytes, b.quota) : null,
    s.blossom ? el("h2", {}, "Blossom") : null,
    s.blossom ? el("p", {}, `${count(s.blossom.blobs)} blobs held (${bytes(s.blossom.bytes)}) · ${count(s.blossom.uploads)} uploaded this run, ${count(s.blossom.refused)} refused · ${bytes(s.blossom.bytes_served)} served · uploads open to: ${s.blossom.upload}`) : null,
    el("h2", {}, "Traffic by transport"),
    table("Bytes moved by the node", ["transport", "up", "down"], transferRows(s.transfer), [1, 2]),
    ...natSection(s),
    ...nip95Section(s.nip95),
    ...btSection(s),
    el("h2", {}, "Peers by reputation"),
    credits.error ? el("p", { class: "muted" }, credits.error) : null,
    credits.reset ? el("div", { class: "notice error" }, `The saved reputation was set aside at start: ${credits.reset}`) : null,
    credits.error ? null : table("Peers by reputation (verified bytes served to this node, strikes for bad chunks, custody proofs; halved every 7 days; the higher score is asked first)",
      ["peer", "score", "served", "strikes", "custody passed / failed"], reputationRows(credits.list), [1, 2, 3]),
  ];
  if (downloads.error) out.push(el("h2", {}, "Transfers"), el("p", { class: "muted" }, downloads.error));
  else out.push(el("h2", {}, "Transfers"),
    table("Downloads of this run", ["file", "state", "chunks", "done", "rate", "peers"], downloadRows(downloads.list), [2, 3, 4, 5]));
  return out;
}

/** nip95Section shows the relay's NIP-95 side: recent events handed to super peers, and the peers with their reputation. */
function nip95Section(n) {
  if (!n?.enabled) return [];
  const asked = n.events_asked || 0;
  const offered = n.events_offered || 0;
  const peers = Array.isArray(n.peers) ? n.peers : [];
  return [
    el("h2", {}, "NIP-95 super peers"),
    el("div", { class: "stats" },
      stat("registered", count(n.registered)),
      stat("super peers", count((n.promoted || []).length)),
      stat("recent events asked", count(asked)),
      stat("handed to super peers", asked ? `${count(offered)} (${Math.round((100 * offered) / asked)}%)` : count(offered)),
      stat("served by the relay itself", count(Math.max(0, asked - offered))),
      stat("events pushed to super peers", count(n.events_pushed))),
    asked ? meter(offered, asked) : null,
    table("Registered peers", ["peer", "super peer", "reputation", "caching", "served"],
      peers.map((p) => [p.peer_id + (p.pubkey ? ` (${shortKey(npub(p.pubkey))})` : ""), p.promoted ? "yes" : "no",
        Number(p.reputation || 0).toFixed(1), count(p.cached), count(p.served)]), [2, 3, 4]),
  ];
}

/** btSection shows the BitTorrent client, its Mainline DHT node, the owner's feed and the relay's archive (--bt-bridge), when the status has them. */
function btSection(s) {
  const c = s.bittorrent;
  const d = s.bt_dht;
  if (!c && !d) return [];
  const br = d?.bridge;
  return [
    el("h2", {}, "BitTorrent"),
    el("div", { class: "stats" },
      c && stat("torrents seeded", count(c.seeding)),
      d && stat("Mainline DHT nodes known", count(d.nodes)),
      d && stat("feed events published", count(d.feed_events)),
      br && stat("events archived (bridge)", count(br.events)),
      br && stat("archive bundles", count(br.bundles))),
    d?.feed_error ? el("p", { class: "muted" }, `Feed not published: ${d.feed_error}`) : null,
    br?.error ? el("p", { class: "muted" }, `Bridge: ${br.error}`) : null,
  ];
}

/** natSection shows the node's reachability (libp2p) and its STUN/TURN server for browsers, when the status has them. */
function natSection(s) {
  const nat = s.p2p?.nat;
  const turn = s.turn;
  if (!nat && !turn) return [];
  return [
    el("h2", {}, "Behind NATs"),
    el("div", { class: "stats" },
      nat && stat("reachability (libp2p)", nat.reachability || "unknown"),
      nat && stat("relay addresses", count((nat.relay_addrs || []).length)),
      nat && stat("hole punches ok / tried", `${count(nat.hole_punches?.succeeded)} / ${count(nat.hole_punches?.attempted)}`),
      turn && stat("TURN allocations (browsers)", count(turn.allocations)),
      turn && stat("relayed for browsers", bytes((turn.bytes_out || 0) + (turn.bytes_in || 0))),
      turn && stat("TURN refusals", count((turn.auth_refused || 0) + (turn.quota_refused || 0) + (turn.peer_refused || 0)))),
    turn ? el("p", { class: "muted" }, `STUN/TURN on udp ${turn.addr}${turn.tcp_addr ? ` and tcp ${turn.tcp_addr}` : ""}, relay address ${turn.relay_ip}.`) : null,
  ];
}

function tabSection(t) {
  if (!t) return [el("h2", {}, "This tab"), el("p", { class: "muted" }, state.phase === "failed" ? state.message : "The browser node has not started yet.")];
  const b = t.blobs || {};
  const peers = (Array.isArray(t.peers) ? t.peers : []).map((p) => [
    el("span", { class: "mono", title: npub(p.pubkey) }, shortKey(npub(p.pubkey)) || "?"),
    p.pubkey === state.node?.pubkey ? "node" : "browser", p.transport || "", p.state || "", bytes(p.bytes_up), bytes(p.bytes_down),
  ]);
  return [
    el("h2", {}, "This tab"),
    el("div", { class: "stats" },
      stat("relay", t.relay?.connected ? "connected" : "disconnected"),
      stat("seeding", t.seeding ? "on" : "off"),
      stat("peers", count(peers.length)),
      stat("chunks stored", count(b.count)),
      stat("stored", `${bytes(b.bytes)} / ${bytes(b.quota)}`)),
    table("Peers of this tab", ["peer", "is", "transport", "state", "up", "down"], peers, [4, 5]),
    table("Traffic of this tab", ["transport", "up", "down"], transferRows(t.transports), [1, 2]),
  ];
}

async function downloads() {
  try {
    const res = await fetch("/api/downloads", { cache: "no-store" });
    if (res.status === 403) return { error: "Transfers are shown only to a browser on the node's own machine." };
    if (!res.ok) return { error: `/api/downloads answered HTTP ${res.status}` };
    const body = await res.json();
    return { list: Array.isArray(body) ? body : body.downloads || [] };
  } catch (e) {
    return { error: `Transfers unavailable: ${errText(e)}` };
  }
}

async function reputation() {
  try {
    const res = await fetch("/api/credits", { cache: "no-store" });
    if (!res.ok) return { error: `/api/credits answered HTTP ${res.status}` };
    const body = await res.json();
    return { list: body.reputation || [], reset: body.reputation_reset || "" };
  } catch (e) {
    return { error: `Reputation unavailable: ${errText(e)}` };
  }
}

/** render draws the dashboard and refreshes it every 2 s until cleanup. */
export function render(main) {
  // Not a live region: it changes every 2 s. Failures go to alert, which is.
  const live = el("p", { class: "muted" }, "Loading…");
  const alert = el("div", { "aria-live": "polite" });
  const nodeBox = el("section", { "aria-label": "Node" });
  const tabBox = el("section", { "aria-label": "This tab" });
  main.append(el("h1", {}, "Node dashboard"), live, alert, nodeBox, tabBox);
  let timer = 0;
  let stopped = false;
  let allowDownloads = true;

  async function tick() {
    try {
      const s = await nodeStatus();
      let d = { list: [] };
      if (allowDownloads) {
        d = await downloads();
        if (d.error?.includes("own machine")) allowDownloads = false;
      } else d = { error: "Transfers are shown only to a browser on the node's own machine." };
      const c = await reputation();
      if (stopped) return;
      nodeBox.replaceChildren(...nodeSection(s, d, c).filter(Boolean)); // a null (no quota) would print "null"
      live.textContent = `Updated ${new Date().toLocaleTimeString("en")}, every ${PERIOD_MS / 1000} s`;
      alert.replaceChildren();
    } catch (e) {
      if (stopped) return;
      const msg = `The node did not answer: ${errText(e)}. Retrying every ${PERIOD_MS / 1000} s.`;
      if (alert.textContent !== msg) alert.replaceChildren(el("div", { class: "notice error" }, msg));
    }
    let t = null;
    if (state.phase === "ready" && has("status")) {
      try { t = globalThis.cairn.status(); if (t?.error) t = null; } catch { t = null; }
    }
    tabBox.replaceChildren(...tabSection(t));
    if (!stopped) timer = setTimeout(tick, PERIOD_MS);
  }
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}
