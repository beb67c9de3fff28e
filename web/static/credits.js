// The credits screen (/credits): the node's credit ledger. GET /api/credits
// every 5 s (balance, earned, spent, receipts); the newest entries
// (/api/credits/entries, shown only to a browser on the node's machine);
// the ledger file's check (/api/credits/verify) at load and on demand.

import { el, bytes, count, shortKey, npub, errText, stat, table } from "./util.js";
import { has, state } from "./core.js";

const PERIOD_MS = 5000;
const LOCAL_ONLY = "Ledger entries are shown only to a browser on the node's own machine.";

/** signedBytes formats a balance, which may be negative. */
export function signedBytes(n) {
  n = Number(n);
  if (!Number.isFinite(n)) return "?";
  return n < 0 ? `−${bytes(-n)}` : bytes(n);
}

/** entryRows turns ledger entries (newest first) into table rows. */
export function entryRows(entries) {
  return (Array.isArray(entries) ? entries : []).map((e) => [
    new Date(Number(e.timestamp) * 1000).toLocaleString("en"),
    e.direction === "up" ? "earned (uploaded)" : "spent (downloaded)",
    bytes(e.bytes),
    el("span", { class: "mono", title: npub(e.peerPubkey) }, shortKey(npub(e.peerPubkey)) || "?"),
    el("span", { class: "mono", title: e.chunkHash }, shortKey(e.chunkHash)),
  ]);
}

/** chainText says what a /api/credits/verify answer means. */
export function chainText(ck) {
  if (!ck) return "not checked yet";
  if (ck.ok) return `intact: ${count(ck.entries)} entries, each hash follows from the one before, every credit backed by its signed receipt`;
  const at = ck.bad_entry >= 0 ? ` at entry ${ck.bad_entry}` : "";
  return `BROKEN${at}: ${ck.error}`;
}

async function getJSON(path) {
  const res = await fetch(path, { cache: "no-store" });
  if (res.status === 403) return { forbidden: true };
  if (!res.ok) throw new Error(`${path} answered HTTP ${res.status}`);
  return res.json();
}

function summary(s) {
  return [
    el("div", { class: "stats" },
      stat("balance", signedBytes(s.balance)),
      stat("earned (uploaded)", bytes(s.up)),
      stat("spent (downloaded)", bytes(s.down)),
      stat("ratio", s.down > 0 ? Number(s.ratio).toFixed(2) : "–"),
      stat("receipts accepted", count(s.receipts_accepted)),
      stat("receipts refused", count(s.receipts_refused)),
      stat("receipts sent", count(s.receipts_sent))),
    el("p", { class: "muted" }, "Balance = the 100 MiB welcome grant + bytes uploaded (each backed by a receipt its receiver signed) − bytes downloaded."),
    s.last_refusal ? el("p", {}, `Last receipt refused: ${s.last_refusal}`) : null,
    s.reset ? el("div", { class: "notice error" }, `The ledger found at start did not verify and was set aside: ${s.reset}`) : null,
    gateSection(s.gate),
    coldSection(s.cold),
  ];
}

/** coldSection shows cold storage: chunks held for other nodes, and those
 * this node gave out (with --cold-assign), holder by holder. */
function coldSection(c) {
  if (!c) return null;
  const held = Array.isArray(c.held) ? c.held : [];
  const holders = Array.isArray(c.holders) ? c.holders : [];
  const given = Array.isArray(c.given) ? c.given : [];
  return el("div", {},
    el("p", {}, c.hold
      ? `Cold storage: holding ${count(held.length)} chunks for other nodes (at most 16).`
      : "Cold storage: this node holds nothing for others (--cold-hold=false)."),
    c.assign
      ? el("p", {}, `Gave ${count(given.length)} chunks of unpopular files to holders; custody challenges: ${count(c.challenged)} sent, ${count(c.proved)} proved, ${count(c.failed)} failed.`)
      : null,
    c.assign
      ? table("Cold storage holders", ["holder", "eligible", "held", "passed", "failed", "premium"], holders.map((h) => [
        el("span", { class: "mono", title: h.holder }, shortKey(npub(h.holder)) || "?"),
        h.eligible ? "yes" : h.benched_until ? `benched until ${new Date(h.benched_until).toLocaleString("en")}` : "no",
        count(h.held), count(h.passed), count(h.failed), count(h.premium),
      ]), [2, 3, 4, 5])
      : null);
}

/** gateRows turns the gate's peers into table rows. */
export function gateRows(peers) {
  return (Array.isArray(peers) ? peers : []).map((p) => [
    el("span", { class: "mono", title: p.peer }, String(p.peer || "").startsWith("libp2p:") ? shortKey(p.peer) : shortKey(npub(p.peer)) || "?"),
    signedBytes(p.balance), bytes(p.served), bytes(p.received), count(p.throttled), count(p.refused),
  ]);
}

function gateSection(g) {
  if (!g) return el("p", { class: "muted" }, "The credit gate is off: every peer is served alike.");
  return el("div", {},
    el("p", {}, `Peers past their balance with this node (grant ${bytes(g.grant)}) are served at ${bytes(g.debtor_rate)}/s, or refused while others in credit are being served: ${count(g.throttled)} requests throttled, ${count(g.refused)} refused.`),
    table("Peers' balances with this node", ["peer", "balance", "served", "received", "throttled", "refused"], gateRows(g.peers), [1, 2, 3, 4, 5]));
}

/** tabSection shows this tab's own ledger (cairn.status().credits). */
function tabSection() {
  let c = null;
  if (state.phase === "ready" && has("status")) {
    try { c = globalThis.cairn.status()?.credits || null; } catch { c = null; }
  }
  if (!c) return [el("p", { class: "muted" }, "The browser node has not started yet.")];
  return [
    el("div", { class: "stats" },
      stat("balance", signedBytes(c.balance)),
      stat("earned (uploaded)", bytes(c.up)),
      stat("spent (downloaded)", bytes(c.down)),
      stat("receipts accepted", count(c.receipts_accepted)),
      stat("receipts sent", count(c.receipts_sent))),
    el("p", { class: "muted" }, `${count(c.entries)} entries in this browser's ledger (IndexedDB).`),
    c.reset ? el("div", { class: "notice error" }, `This browser's ledger did not verify at start and was reset: ${c.reset}`) : null,
  ].filter(Boolean);
}

/** render draws the credits screen and refreshes it until cleanup. */
export function render(main) {
  const live = el("p", { class: "muted" }, "Loading…");
  const alert = el("div", { "aria-live": "polite" });
  const sumBox = el("section", { "aria-label": "Balance" });
  const chain = el("p", { id: "chain" }, "not checked yet");
  const checkBtn = el("button", { type: "button" }, "Check the ledger again");
  const entriesBox = el("section", { "aria-label": "Recent receipts" });
  const tabBox = el("section", { "aria-label": "This tab", id: "tabcredits" });
  main.append(el("h1", {}, "Credits"), el("h2", {}, "This node"), live, alert, sumBox,
    el("h2", {}, "Ledger integrity"), chain, checkBtn,
    el("h2", {}, "Recent receipts"), entriesBox,
    el("h2", {}, "This tab"), tabBox);
  let timer = 0;
  let stopped = false;

  async function check() {
    chain.textContent = "checking…";
    try {
      const ck = await getJSON("/api/credits/verify");
      if (stopped) return;
      chain.textContent = ck.forbidden ? LOCAL_ONLY.replace("Ledger entries are", "The check is") : chainText(ck);
      chain.dataset.ok = ck.ok ? "yes" : "no";
    } catch (e) {
      if (!stopped) chain.textContent = `The check failed: ${errText(e)}`;
    }
  }
  checkBtn.addEventListener("click", check);

  async function tick() {
    try {
      const s = await getJSON("/api/credits");
      const en = await getJSON("/api/credits/entries?limit=20");
      if (stopped) return;
      sumBox.replaceChildren(...summary(s).filter(Boolean));
      entriesBox.replaceChildren(en.forbidden ? el("p", { class: "muted" }, LOCAL_ONLY)
        : table(`The newest of ${count(en.total)} ledger entries`, ["time", "kind", "bytes", "peer", "chunk"], entryRows(en.entries), [2]));
      live.textContent = `Updated ${new Date().toLocaleTimeString("en")}, every ${PERIOD_MS / 1000} s`;
      alert.replaceChildren();
    } catch (e) {
      if (stopped) return;
      const msg = `The node did not answer: ${errText(e)}. Retrying every ${PERIOD_MS / 1000} s.`;
      if (alert.textContent !== msg) alert.replaceChildren(el("div", { class: "notice error" }, msg));
    }
    tabBox.replaceChildren(...tabSection());
    if (!stopped) timer = setTimeout(tick, PERIOD_MS);
  }
  tick();
  check();
  return () => { stopped = true; clearTimeout(timer); };
}
