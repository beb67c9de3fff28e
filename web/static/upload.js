// Upload (/upload): cut and hash a file in the browser node, sign its kind
// 7001 chunk map and kind 1063 metadata, publish both, and ask the node on
// this machine to keep a copy.

import { el, bytes, errText, isHex64, nevent } from "./util.js";
import { call, signEvent, start, state } from "./core.js";

// Files above this are refused up front: share() takes the whole file in memory.
const MAX_FILE = 2 * 1024 ** 3;

/** render draws the upload form. */
export function render(main) {
  let file = null;
  let busy = false;
  const fileInput = el("input", { type: "file", id: "file", "aria-describedby": "file-help" });
  const picked = el("p", { class: "muted", id: "file-help" }, "Pick a file or drop it here. Fragmented MP4 and WebM stream while they download.");
  const drop = el("div", { class: "drop" }, el("label", { for: "file" }, "File"), fileInput, picked);
  const title = el("input", { type: "text", id: "title", maxLength: 200, autocomplete: "off" });
  const desc = el("textarea", { id: "desc", maxLength: 5000 });
  const submit = el("button", { type: "submit" }, "Share");
  const bar = el("progress", { max: 1, value: 0, id: "progress", "aria-label": "Progress" });
  const barBox = el("div", { class: "hidden" }, bar);
  const live = el("div", { role: "status", "aria-live": "polite" });
  const result = el("div");
  const form = el("form", {}, drop,
    el("label", { for: "title" }, "Title"), title,
    el("label", { for: "desc" }, "Description"), desc,
    el("p", {}, submit), barBox, live, result);
  main.append(el("h1", {}, "Share a file"), form);

  function pick(f) {
    if (!f) return;
    file = f;
    picked.textContent = `${f.name} · ${bytes(f.size)} · ${f.type || "unknown type"}`;
    if (!title.value) title.value = f.name.replace(/\.[^.]+$/, "");
  }
  fileInput.addEventListener("change", () => pick(fileInput.files?.[0]));
  for (const t of ["dragenter", "dragover"]) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const t of ["dragleave", "drop"]) drop.addEventListener(t, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); pick(e.dataTransfer?.files?.[0]); });

  function say(text, kind = "") {
    live.replaceChildren(kind ? el("div", { class: `notice ${kind}` }, text) : el("p", {}, text));
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (busy) return;
    if (!file) { say("Pick a file first.", "error"); fileInput.focus(); return; }
    if (file.size === 0) { say("That file is empty.", "error"); return; }
    if (file.size > MAX_FILE) { say(`That file is ${bytes(file.size)}; the browser can share up to ${bytes(MAX_FILE)}. Share larger files with \`cairn share\` on the node.`, "error"); return; }
    busy = true;
    submit.disabled = true;
    result.replaceChildren();
    barBox.classList.remove("hidden");
    bar.removeAttribute("value");
    try {
      say("Starting the browser node…");
      await start().catch(() => { throw new Error(state.message); });
      say("Reading the file…");
      const data = new Uint8Array(await file.arrayBuffer());
      bar.max = file.size; bar.value = 0;
      say("Cutting and hashing…");
      let lastSaid = 0;
      const shared = await call("share", data, {
        name: file.name, mime: file.type || "application/octet-stream", title: title.value.trim(), summary: desc.value.trim(),
        onProgress: (done, total) => {
          bar.max = total || file.size; bar.value = done;
          const now = performance.now();
          if (now - lastSaid > 1000) { lastSaid = now; say(`Hashing: ${bytes(done)} of ${bytes(total || file.size)}`); }
        },
      });
      if (!isHex64(shared?.root) || !Array.isArray(shared.events) || shared.events.length !== 2) throw new Error("the browser core returned an unexpected share result");
      say("Signing…");
      const signed = [];
      for (const t of shared.events) signed.push(await signEvent(t));
      say("Publishing…");
      for (const ev of signed) {
        const r = await call("publish", ev);
        if (r && r.ok === false) throw new Error(`the relay refused kind ${ev.kind}: ${r.message || "no reason given"}`);
      }
      say("Asking the node to keep a copy…");
      const keep = await handToNode(shared.root);
      const ref = nevent(signed[0].id, state.relay, signed[0].pubkey) || shared.root;
      const href = `/watch/${ref}`;
      result.replaceChildren(el("div", { class: "notice ok" },
        el("p", {}, "Shared. ", el("a", { href }, "Open the player"), " or hand out this link:"),
        el("p", {}, el("code", {}, new URL(href, location.href).href)),
        el("p", { class: "muted" }, `${bytes(shared.size)} in ${shared.chunks} chunks · root `, el("code", {}, shared.root)),
        keep && el("p", {}, keep)));
      say("Done.");
      bar.value = bar.max;
      result.querySelector("a").focus();
    } catch (err) {
      say(`Not shared: ${errText(err)}`, "error");
      barBox.classList.add("hidden");
    } finally {
      busy = false;
      submit.disabled = false;
    }
  });
}

/** handToNode asks the node to fetch (and so keep) root; it returns what to tell the user. */
async function handToNode(root) {
  let res;
  try {
    res = await fetch("/api/get", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ref: root }) });
  } catch (e) {
    return `The node was not asked to keep a copy (${errText(e)}): keep this tab open until a peer has fetched the file.`;
  }
  if (res.ok) return "The node is fetching a copy: the file stays available after this tab closes.";
  if (res.status === 403) return "The node is on another machine, so it will not keep this file after the tab closes: keep the tab open until others have fetched it.";
  let msg = `HTTP ${res.status}`;
  try { msg = (await res.json()).error || msg; } catch { /* not JSON */ }
  return `The node did not take a copy (${msg}): keep this tab open until others have fetched the file.`;
}
