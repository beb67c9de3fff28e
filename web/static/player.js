// The player (/watch/<ref>): open a shared file through the browser node and
// play it while it downloads. Fragmented MP4 and WebM go through
// MediaSource, chunk by chunk, a few chunks ahead of the playhead; images,
// other audio and video, and other files are read whole.

import { el, bytes, rate, count, npub, shortKey, errText } from "./util.js";
import { call, has, start, state, mark, releaseCore } from "./core.js";
import { sourceType, timeline, chunkAt, containerOf } from "./media.js";
import { take, pageRelay } from "./early.js";
import { settings } from "./util.js";

const AHEAD = 3;              // media chunks kept buffered ahead of the playhead
const KEEP_BEHIND_S = 10;     // seconds kept behind the playhead when the buffer is full
const OPEN_RETRY_MS = 5000;
const OPEN_TRIES = 120;       // 10 minutes of retrying a reference nobody has yet
const MAX_WHOLE = 1024 ** 3;  // largest file read whole into memory

/** validRef tells whether ref looks like something open() takes: hex id or root, nevent, note. */
export function validRef(ref) {
  return typeof ref === "string" && (/^[0-9a-f]{64}$/.test(ref) || /^(nevent|note)1[02-9ac-hj-np-z]{6,900}$/.test(ref));
}

const PLAYING = "Playing while the rest downloads.";

// live gives the text the status line shows now.
function live(ctl) { return ctl.live?.textContent || ""; }

function wait(ms) { return new Promise((r) => setTimeout(r, ms)); }

/** render draws the player for ref and returns its cleanup. */
export function render(main, ref) {
  const ctl = { stopped: false, urls: [], timers: [], aborts: [], live: null };
  const heading = el("h1", {}, "Loading…");
  const live = el("div", { role: "status", "aria-live": "polite" });
  ctl.live = live;
  const stage = el("div", { class: "player" });
  const info = el("section", { "aria-label": "Download" });
  main.append(heading, live, stage, info);
  const say = (text, kind = "") => {
    if (ctl.stopped) return;
    const node = kind ? el("div", { class: `notice ${kind}` }, text) : el("p", { class: "muted" }, text);
    if (live.textContent !== text) live.replaceChildren(node);
  };
  run(ref, { heading, say, stage, info, ctl }).catch((e) => say(errText(e), "error"));
  return () => {
    ctl.stopped = true;
    releaseCore();
    for (const a of ctl.aborts) a.abort();
    for (const t of ctl.timers) clearInterval(t);
    for (const u of ctl.urls) URL.revokeObjectURL(u);
    const media = stage.querySelector("video, audio");
    if (media) { media.pause(); media.removeAttribute("src"); media.load(); }
  };
}

async function run(ref, ui) {
  const { heading, say, ctl } = ui;
  mark("player");
  heading.textContent = "Looking for the file…";
  if (!validRef(ref)) {
    releaseCore();
    heading.textContent = "Not a valid link";
    throw new Error("This link has no valid reference: /watch/ should be followed by an nevent1…, a note1…, an event id or a Merkle root (64 hex digits).");
  }
  say("Starting the browser node…");
  // On a /watch load the core is held (app.js, holdCore): with a head start it runs once the first
  // frame is shown, as its start-up would hold the page's one thread while the first chunks append.
  const booting = start();
  booting.catch(() => {});
  // The head start (early.js): the page resolves the reference and fetches the first chunks from
  // the node itself while the core loads. The core still opens the reference and checks it.
  const abort = new AbortController();
  ctl.aborts.push(abort);
  // A /watch page that carries the head start began it from the HTML (early.js begin): take that one.
  const head = settings.get("http", true) !== false ? await take(ref, pageRelay(), abort.signal) : null;
  if (ctl.stopped) { discard(head?.media); return; }
  const opening = booting.then(() => openRef(ref, ctl, say), () => { throw new Error(state.message); });
  if (head && playable(head.file)) {
    mark("early");
    ui.playing = releaseCore;
    const file = head.file;
    show(file, ui);
    const core = opening.then((f) => {
      if (!f || f.root !== file.root) throw new Error("The browser node opened another file than the node's map: playback stopped.");
      showProgress(f, ui);
      return f;
    });
    core.catch((e) => { if (!ctl.stopped) { ctl.stopped = true; say(errText(e), "error"); } });
    // A chunk the page could not get (the node does not hold it: it pulls files by sha256, not
    // chunks by hash) comes through the core instead.
    // The core is released for chunk 0 or 1 (the head start failed); later ones wait for the first frame.
    const viaCore = (i) => { if (i < 2) releaseCore(); return core.then((f) => call("chunk", f.root, i)); };
    const source = (i) => head.chunks.has(i) ? head.chunks.get(i).catch(() => viaCore(i)) : viaCore(i);
    await stream(file, file.mime, file.chunks, { ...ui, core, media: head.media }, source);
    return;
  }
  discard(head?.media);
  abort.abort();
  releaseCore();
  const file = await opening;
  if (ctl.stopped) return;
  show(file, ui);
  showProgress(file, ui);
  const mime = String(file.mime || "application/octet-stream");
  const chunks = Array.isArray(file.chunks) ? file.chunks : [];
  if (playable(file)) await stream(file, mime, chunks, ui, (i) => call("chunk", file.root, i));
  else if (mime.startsWith("image/") || mime.startsWith("video/") || mime.startsWith("audio/")) await whole(file, mime, ui);
  else downloadButton(file, mime, ui);
}

// openRef opens ref through the core, retrying while nobody has it yet.
async function openRef(ref, ctl, say) {
  let file = null;
  for (let attempt = 1; attempt <= OPEN_TRIES && !ctl.stopped; attempt++) {
    try {
      file = await call("open", ref);
      break;
    } catch (e) {
      if (/no cairn\.open|malformed|invalid|not a valid|bad reference|want an nevent/i.test(errText(e))) throw new Error(`Cannot open this file: ${errText(e)}`);
      say(`Not found yet: ${errText(e)}. Trying again every ${OPEN_RETRY_MS / 1000} s (attempt ${attempt} of ${OPEN_TRIES}).`, "warn");
      await wait(OPEN_RETRY_MS);
    }
  }
  if (ctl.stopped) return null;
  mark("opened");
  if (!file) throw new Error("This file was not found on the relay. Check the link, or ask whoever shared it to keep their node or tab online.");
  return file;
}

// playable: fragmented MP4 or WebM that MediaSource can take chunk by chunk.
function playable(file) {
  const mime = String(file.mime || "");
  return (mime.startsWith("video/") || mime.startsWith("audio/")) && file.fragmented && !!containerOf(mime) && !!globalThis.MediaSource &&
    Array.isArray(file.chunks) && file.chunks.length > 1;
}

// show puts the file's title in the heading and the tab.
function show(file, { heading }) {
  const title = file.title || file.name || shortKey(file.root);
  heading.textContent = title;
  document.title = `${title} · cairn`;
}

// showProgress refreshes the download figures and the peers every second.
function showProgress(file, { info, ctl, say }) {
  const bar = el("progress", { max: 1, value: 0, id: "dl-progress" });
  const figures = el("p", { class: "muted" });
  const peers = el("div");
  info.append(el("h2", {}, "Download"), el("label", { for: "dl-progress", class: "muted" }, "Chunks held"), bar, figures, el("h2", {}, "Where the bytes come from"), peers);
  let idle = 0;
  const tick = () => {
    if (ctl.stopped || !has("progress")) return;
    let p;
    try { p = globalThis.cairn.progress(file.root); } catch { return; }
    if (!p || p.error && !p.total) return;
    bar.max = p.total || 1;
    bar.value = p.have || 0;
    const peerCount = Array.isArray(p.peers) ? p.peers.length : Number(p.peers) || 0;
    figures.textContent = `${count(p.have)} of ${count(p.total)} chunks · ${bytes(p.bytes)} of ${bytes(p.size || file.size)} · ${rate(p.rate || 0)} · ${count(peerCount)} peers` + (p.done ? " · complete" : "");
    if (p.done && live(ctl) === PLAYING) say("Every chunk is held in this browser.");
    if (p.error) say(`Download problem: ${p.error}`, "error");
    else if (!p.done && peerCount === 0) {
      if (++idle === 3) say("No peers yet: still looking for the node, the author and anyone announcing this file.", "warn");
    } else idle = 0;
    let st = null;
    if (has("status")) { try { st = globalThis.cairn.status(); } catch { st = null; } }
    const list = Array.isArray(st?.peers) ? st.peers : [];
    peers.replaceChildren(list.length ? el("ul", {}, list.map((x) => el("li", {},
      x.pubkey === state.node?.pubkey ? "the node" : "a browser", " ", el("code", { title: npub(x.pubkey) }, shortKey(npub(x.pubkey))),
      ` over ${x.transport || "?"}: ${bytes(x.bytes_down)} down, ${bytes(x.bytes_up)} up`))) : el("p", { class: "muted" }, "No peer connected yet."));
  };
  tick();
  ctl.timers.push(setInterval(tick, 1000));
}

// appendTo appends data to sb and resolves when the SourceBuffer is done.
function appendTo(sb, data) {
  return new Promise((resolve, reject) => {
    const done = () => { sb.removeEventListener("error", fail); resolve(); };
    const fail = () => { sb.removeEventListener("updateend", done); reject(new Error("the browser could not decode this chunk")); };
    sb.addEventListener("updateend", done, { once: true });
    sb.addEventListener("error", fail, { once: true });
    try { sb.appendBuffer(data); } catch (e) {
      sb.removeEventListener("updateend", done);
      sb.removeEventListener("error", fail);
      reject(e);
    }
  });
}

function removeRange(sb, from, to) {
  return new Promise((resolve) => {
    if (to <= from) { resolve(); return; }
    sb.addEventListener("updateend", resolve, { once: true });
    try { sb.remove(from, to); } catch { resolve(); }
  });
}

// discard lets go of a media element the head start prepared (early.js prepareMedia) and the player does not use.
function discard(media) {
  if (!media) return;
  media.element.removeAttribute("src");
  media.element.load();
  URL.revokeObjectURL(media.url);
}

// stream plays file through MediaSource; source(i) gives chunk i's verified bytes. ui.media, when
// the head start prepared it, is a media element with its MediaSource open and the init segment
// appended: it is used as it is; if its preparation failed, the player makes its own.
async function stream(file, mime, chunks, ui, source) {
  const { stage, say, ctl } = ui;
  const media = ui.media ? await ui.media.ready : null;
  if (ui.media && !media) discard(ui.media);
  if (ctl.stopped) { if (media) discard(ui.media); return; }
  say("Fetching the start of the file…");
  // The init segment and the first media chunk are asked for at once, and the MediaSource opens
  // meanwhile: the first frame waits for none of them one after the other.
  const initP = source(0);
  const pre = new Map(); // chunk index -> its fetch, started ahead of the loop
  if (chunks.length > 1) {
    const first = source(1);
    first.catch(() => {}); // the loop handles its failure
    pre.set(1, first);
  }
  const attrs = { controls: true, preload: "auto", playsInline: true, "aria-label": file.title || "Player" };
  const video = media ? Object.assign(ui.media.element, { controls: true, preload: "auto", playsInline: true }) : el(mime.startsWith("audio/") ? "audio" : "video", attrs);
  if (media) video.setAttribute("aria-label", attrs["aria-label"]);
  const ms = media ? ui.media.source : new MediaSource();
  const url = media ? ui.media.url : URL.createObjectURL(ms);
  ctl.urls.push(url);
  const opened = media ? null : new Promise((r) => ms.addEventListener("sourceopen", r, { once: true }));
  if (!media) video.src = url;
  const init = await initP;
  mark("init");
  if (ctl.stopped) return;
  const type = media ? media.type : sourceType(mime, init, (t) => MediaSource.isTypeSupported(t));
  if (!type) {
    video.removeAttribute("src");
    say(`This browser cannot stream ${mime}; downloading it whole instead.`, "warn");
    return whole(file, mime, ui);
  }
  const bufBar = el("div", { class: "buffer", role: "img", "aria-label": "Buffered parts of the file" });
  stage.append(video, bufBar, el("p", { class: "muted" }, `${type} · ${bytes(file.size)} · ${chunks.length - 1} media chunks`));
  let sb = media?.sb;
  if (!media) {
    await opened;
    mark("source-open");
    if (ctl.stopped) return;
    sb = ms.addSourceBuffer(type);
    sb.mode = "segments";
    await appendTo(sb, init);
    mark("init-appended");
  }

  const tl = timeline(chunks);
  if (tl.known && tl.total > 0) { try { ms.duration = tl.total; } catch { /* set once the first chunk tells */ } }
  const n = chunks.length;
  const appended = new Set();
  let started = false;
  let wake = null;
  const poke = () => { if (wake) { wake(); wake = null; } };
  video.addEventListener("seeking", poke);
  video.addEventListener("timeupdate", poke);

  const drawBuffer = () => {
    const total = Number.isFinite(video.duration) && video.duration > 0 ? video.duration : tl.total;
    if (!total) return;
    const spans = [];
    for (let i = 0; i < video.buffered.length; i++) {
      const a = video.buffered.start(i), b = video.buffered.end(i);
      spans.push(el("span", { style: `left:${(a / total) * 100}%;width:${((b - a) / total) * 100}%` }));
    }
    spans.push(el("span", { class: "head", style: `left:${Math.min(100, (video.currentTime / total) * 100)}%` }));
    bufBar.replaceChildren(...spans);
  };
  ctl.timers.push(setInterval(drawBuffer, 500));

  // next picks the chunk to append: the first missing one from the playhead's chunk on, within AHEAD.
  const next = () => {
    const from = tl.known ? chunkAt(tl, video.currentTime) : 1;
    for (let i = from; i < n && i < from + AHEAD + 1; i++) if (!appended.has(i)) return i;
    if (!tl.known) for (let i = 1; i < n; i++) if (!appended.has(i)) return i;
    return -1;
  };

  const evict = async () => {
    const now = video.currentTime;
    await removeRange(sb, 0, Math.max(0, now - KEEP_BEHIND_S));
    if (tl.known) {
      const keepTo = tl.starts[Math.min(n - 1, chunkAt(tl, now) + AHEAD + 1)] || tl.total;
      if (keepTo < tl.total) await removeRange(sb, keepTo, tl.total + 1);
      for (const i of [...appended]) {
        const end = tl.starts[i] + (i + 1 < n ? tl.starts[i + 1] - tl.starts[i] : 0);
        if (end <= now - KEEP_BEHIND_S || tl.starts[i] >= keepTo) appended.delete(i);
      }
    } else appended.clear();
  };

  while (!ctl.stopped) {
    if (appended.size === n - 1) {
      if (ms.readyState === "open" && !sb.updating) { try { ms.endOfStream(); } catch { /* already ended */ } }
      // A seek back into an evicted part reopens the stream: keep watching.
      await new Promise((r) => { wake = r; });
      continue;
    }
    const i = next();
    if (i < 0) {
      // The last chunk is in and nothing near the playhead is missing: end the stream so playback ends
      // cleanly; a later append (a seek back into a gap) reopens it.
      if (appended.has(n - 1) && ms.readyState === "open" && !sb.updating) { try { ms.endOfStream(); } catch { /* already ended */ } }
      await new Promise((r) => { wake = r; });
      continue;
    }
    if (!started) say(`Fetching chunk ${i} of ${n - 1}…`);
    let data;
    const ahead = pre.get(i);
    pre.delete(i);
    try { data = await (ahead || source(i)); } catch (e) {
      say(`Chunk ${i} is not available yet (${errText(e)}); trying again.`, "warn");
      await wait(2000);
      continue;
    }
    if (ctl.stopped) return;
    if (!started) mark("first-chunk");
    try {
      await appendTo(sb, data);
    } catch (e) {
      if (e?.name === "QuotaExceededError") {
        await evict();
        try { await appendTo(sb, data); } catch (e2) { say(`The browser's media buffer is full: ${errText(e2)}`, "error"); await wait(2000); continue; }
      } else { say(`Playback failed at chunk ${i}: ${errText(e)}`, "error"); return; }
    }
    appended.add(i);
    drawBuffer();
    if (!started) {
      started = true;
      // The first frame presented (or, without requestVideoFrameCallback, playing) lets the core run.
      if (ui.playing && video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => ui.playing());
      else if (ui.playing) video.addEventListener("playing", ui.playing, { once: true });
      say(PLAYING);
      video.play().catch(() => say("Ready: press play.")); // autoplay may be refused until the user interacts
    }
  }
}

// readAll reads a whole file through the core: fetch (waiting for every chunk) then read.
async function readAll(file, say) {
  if (file.size > MAX_WHOLE) throw new Error(`This file is ${bytes(file.size)}: too large to load in a tab. Fetch it with \`cairn get\` on a node.`);
  say("Downloading…");
  if (has("fetch")) {
    await call("fetch", file.root, { onProgress: () => {} });
  }
  return call("read", file.root, 0, file.size);
}

async function whole(file, mime, { stage, say, ctl, core }) {
  if (core) await core; // a file begun by the page's head start: read it once the core has it open
  const data = await readAll(file, say);
  if (ctl.stopped) return;
  const url = URL.createObjectURL(new Blob([data], { type: mime }));
  ctl.urls.push(url);
  const alt = file.title || file.name || "Shared image";
  const media = mime.startsWith("image/") ? el("img", { src: url, alt })
    : el(mime.startsWith("audio/") ? "audio" : "video", { src: url, controls: true, "aria-label": alt });
  stage.append(media, el("p", {}, el("a", { href: url, download: file.name || file.root }, "Save the file")));
  say(`Complete: ${bytes(file.size)}.`);
}

function downloadButton(file, mime, { stage, say, ctl }) {
  const btn = el("button", { type: "button" }, `Download ${file.name || "the file"} (${bytes(file.size)})`);
  stage.append(el("p", { class: "muted" }, `${mime} · ${bytes(file.size)}`), btn);
  say("This file cannot be shown here; download it.");
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      const data = await readAll(file, say);
      if (ctl.stopped) return;
      const url = URL.createObjectURL(new Blob([data], { type: mime }));
      ctl.urls.push(url);
      const a = el("a", { href: url, download: file.name || file.root }, `Save ${file.name || "the file"}`);
      stage.append(el("p", {}, a));
      a.click();
      a.focus();
      say("Downloaded: saving.");
    } catch (e) {
      say(`Download failed: ${errText(e)}`, "error");
    } finally { btn.disabled = false; }
  });
}
