// The page's side of the browser core (wasm/README.md): load and start
// cairn.wasm, keep the tab's key, sign with NIP-07 when the browser has it,
// and call the core through guards that turn a missing function or an
// {error} result into an Error that says what to do.

import { settings, isHex64, errText, safeURL } from "./util.js";

/** state is what the header shows: phase is loading, starting, ready or failed. */
export const state = { phase: "loading", message: "Loading the browser core…", node: null, pubkey: "", relay: "" };

const listeners = new Set();

/** onState registers fn to run whenever state changes. */
export function onState(fn) { listeners.add(fn); fn(state); return () => listeners.delete(fn); }

function setState(patch) {
  Object.assign(state, patch);
  for (const fn of listeners) fn(state);
}

let loading = null;
let started = null;

/** load loads the wasm core once (without starting it); later calls return the same promise. */
export function load() {
  if (!loading) {
    loading = loadWasm();
    loading.catch((e) => setState({ phase: "failed", message: `The browser core did not load: ${errText(e)}` }));
  }
  return loading;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`could not load ${src}: the node serves it after \`make build-wasm\``));
    document.head.append(s);
  });
}

async function loadWasm() {
  // The module's download starts at once, alongside wasm_exec.js's.
  const fetching = fetch("/cairn.wasm");
  fetching.catch(() => {});
  if (!globalThis.Go) await loadScript("/wasm_exec.js");
  const go = new globalThis.Go();
  const ready = new Promise((resolve) => { globalThis.onCairnReady = resolve; });
  let res;
  try { res = await fetching; } catch (e) { throw new Error(`could not fetch /cairn.wasm: ${e.message}`); }
  if (!res.ok) throw new Error(`/cairn.wasm: HTTP ${res.status}; build it with \`make build-wasm\` and restart the node`);
  let result;
  // Held (a /watch load): compiling waits too. Chromium compiles a module this size on other
  // threads, but on a small machine that work took the page's thread from the player for ~100 ms;
  // the download (preloaded with the HTML) goes on meanwhile.
  if (hold) await hold;
  if ((res.headers.get("content-type") || "").startsWith("application/wasm")) {
    result = await WebAssembly.instantiateStreaming(res, go.importObject);
  } else {
    result = await WebAssembly.instantiate(await res.arrayBuffer(), go.importObject);
  }
  mark("wasm-compiled");
  go.run(result.instance).then(() => setState({ phase: "failed", message: "The browser core stopped. Reload the page." }));
  await ready;
  mark("wasm-ready");
  if (!globalThis.cairn) throw new Error("the browser core loaded but did not register globalThis.cairn");
  return globalThis.cairn;
}

let hold = null; // what compiling and running the downloaded core waits for (holdCore)
let releaseHold = () => {};

/**
 * holdCore makes the core, once its download is under way, wait before it
 * is compiled and run until releaseCore() or maxMs: its start-up holds the
 * page's one thread for hundreds of ms, and its compile competes for the
 * machine's cores, which the watch page's first frame must not wait
 * behind. It must be called before start() for the hold to apply.
 */
export function holdCore(maxMs) {
  hold = new Promise((r) => { releaseHold = r; setTimeout(r, maxMs); });
  hold.then(() => mark("core-released"));
}

/** releaseCore lets a held core run (holdCore); it does nothing otherwise. */
export function releaseCore() { releaseHold(); }

/** mark records a step of the page's start-up in the Performance timeline (cairn:name), for devtools and the benchmarks. */
export function mark(name) { try { performance.mark(`cairn:${name}`); } catch { /* no timeline */ } }

/** has tells whether the loaded core offers function name. */
export function has(name) { return typeof globalThis.cairn?.[name] === "function"; }

/**
 * call runs cairn[name](...args), awaiting a Promise; it throws an Error when
 * the core lacks the function, throws, rejects, or answers {error}.
 */
export async function call(name, ...args) {
  const c = globalThis.cairn;
  if (!c) throw new Error("the browser core is not loaded yet");
  if (typeof c[name] !== "function") throw new Error(`this build of the browser core has no cairn.${name}(); rebuild it with \`make build-wasm\``);
  let out;
  try { out = await c[name](...args); } catch (e) { throw new Error(errText(e)); }
  if (out && typeof out === "object" && !(out instanceof Uint8Array) && typeof out.error === "string") throw new Error(out.error);
  return out;
}

// Keys. The browser key (hex secret) lives in localStorage under cairn.key.

let making = null; // the key being made: concurrent first calls share it

/** localKey returns the tab's key info, creating and saving a key when there is none. */
export async function localKey() {
  let saved = settings.get("key", "");
  if (!isHex64(saved) && started) {
    // start is making the key; wait for it rather than make another.
    await started.catch(() => {});
    saved = settings.get("key", "");
  }
  if (isHex64(saved)) {
    if (has("keyInfo")) {
      const info = await call("keyInfo", saved);
      return info;
    }
    return { secretKey: saved, pubkey: "", npub: "", nsec: "" };
  }
  making ??= (async () => {
    const k = await call("generateKey");
    if (!isHex64(k?.secretKey)) throw new Error("the browser core returned a malformed key");
    settings.set("key", k.secretKey);
    return k;
  })().finally(() => { making = null; });
  return making;
}

/** importKey replaces the browser key with an nsec or hex secret; it throws on a bad key. */
export async function importKey(text) {
  const info = await call("keyInfo", String(text).trim());
  if (!isHex64(info?.secretKey)) throw new Error("that is not a secret key: paste an nsec1… or 64 hex digits");
  settings.set("key", info.secretKey);
  return info;
}

/** hasNip07 tells whether a NIP-07 signer (a browser extension) is present. */
export function hasNip07() { return typeof globalThis.nostr?.signEvent === "function"; }

/** userPubkey is the pubkey content is published under: NIP-07's when present, else the browser key's. */
export async function userPubkey() {
  if (hasNip07()) {
    try { return await globalThis.nostr.getPublicKey(); } catch (e) { throw new Error(`the Nostr extension refused to give the public key: ${errText(e)}`); }
  }
  return (await localKey()).pubkey;
}

/** signEvent signs an unsigned template with NIP-07 when present, else with the browser key. */
export async function signEvent(template) {
  const t = { kind: template.kind, created_at: template.created_at || Math.floor(Date.now() / 1000), tags: template.tags || [], content: template.content || "" };
  if (hasNip07()) {
    try { return await globalThis.nostr.signEvent(t); } catch (e) { throw new Error(`the Nostr extension did not sign: ${errText(e)}`); }
  }
  return call("sign", t);
}

/** publish signs template with the user's key (NIP-07 or the tab's), sends it to the node's relay through the core, and returns the event; a refusal throws with the relay's reason. */
export async function publish(template) {
  await start();
  const ev = await signEvent(template);
  const r = await call("publish", ev);
  if (r && r.ok === false) throw new Error(r.message || "the node's relay refused it without a reason");
  return ev;
}

/** loopback is true when the page URL has ?loopback=1 or settings say so (tests on one machine). */
export function loopback() {
  const q = new URLSearchParams(location.search).get("loopback");
  if (q === "1" || q === "true") { settings.set("loopback", true); return true; }
  if (q === "0" || q === "false") { settings.remove("loopback"); return false; }
  return settings.get("loopback", false) === true;
}

/** nodeStatus fetches GET /api/status. */
export async function nodeStatus() {
  const res = await fetch("/api/status", { cache: "no-store" });
  if (!res.ok) throw new Error(`/api/status answered HTTP ${res.status}`);
  return res.json();
}

/**
 * relayURL is the node's relay as this page can reach it: the URL the node
 * reports when the page comes from the same host, else ws(s)://location.host.
 */
export function relayURL(status) {
  const own = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}`;
  const reported = safeURL(status?.urls?.relay || "", ["ws:", "wss:"]);
  if (reported && new URL(reported).host === location.host) return reported.replace(/\/$/, "");
  return own;
}

/**
 * iceConfig fetches GET /api/ice: the node's STUN/TURN server with
 * credentials minted for this tab, then the operator's extra STUN servers,
 * as RTCPeerConnection takes them. With TURN in the list, ICE falls back to
 * relaying through the node when no direct path works. A node that does not
 * answer it (an older one) gives the STUN servers of its status.
 */
export async function iceConfig(status) {
  try {
    const res = await fetch("/api/ice", { cache: "no-store" });
    if (res.ok) {
      const body = await res.json();
      if (Array.isArray(body?.iceServers)) return body.iceServers.filter(s => s && Array.isArray(s.urls));
    }
  } catch { /* fall back below */ }
  const urls = status?.webrtc?.ice_servers || [];
  return urls.filter(u => typeof u === "string" && /^stuns?:/.test(u)).map(u => ({ urls: [u] }));
}

/** relayOnly is true when the page URL has ?relay=1: ICE uses TURN relay candidates only. */
export function relayOnly() {
  const q = new URLSearchParams(location.search).get("relay");
  return q === "1" || q === "true";
}

async function boot() {
  const asking = nodeStatus(); // while the core loads
  asking.catch(() => {});
  const ice = asking.then(iceConfig, () => iceConfig(null));
  await load();
  setState({ phase: "starting", message: "Connecting to the node…" });
  let status;
  try { status = await asking; } catch (e) {
    setState({ phase: "failed", message: `The node did not answer: ${errText(e)}. Is it running?` });
    throw e;
  }
  const relay = relayURL(status);
  setState({ node: status, relay });
  let pubkey;
  try {
    // The saved key goes to start as it is, or none and start makes one:
    // one call into the core instead of two before it can start.
    const saved = settings.get("key", "");
    const secretKey = isHex64(saved) ? saved : "";
    mark("key");
    const out = await call("start", { relay, secretKey, nodePubkey: status.pubkey, loopback: loopback(), iceServers: await ice,
      iceTransportPolicy: relayOnly() ? "relay" : "all",
      quota: settings.get("quota", undefined), seed: settings.get("seeding", true), http: settings.get("http", true) !== false });
    if (!secretKey) {
      if (!isHex64(out?.secretKey)) throw new Error("the browser core returned a malformed key");
      settings.set("key", out.secretKey);
    }
    pubkey = out?.pubkey || "";
  } catch (e) {
    setState({ phase: "failed", message: `The browser node did not start: ${errText(e)}` });
    throw e;
  }
  mark("started");
  setState({ phase: "ready", message: "Browser node running", pubkey });
  return globalThis.cairn;
}

/** start loads and starts the core once; later calls return the same promise. */
export function start() {
  if (!started) {
    started = boot();
    started.catch(() => {});
  }
  return started;
}
