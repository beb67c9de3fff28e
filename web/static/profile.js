// Profile and settings (/profile): the key, the relays, the browser
// node's storage and seeding.

import { el, bytes, count, parseSize, settings, npub, shortKey, errText } from "./util.js";
import { normalizeRelay } from "./nostr.js";
import { call, has, hasNip07, load, localKey, importKey, start, state } from "./core.js";

const DEFAULT_QUOTA = 1 << 30;

function notice(kind, text) { return el("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : null }, text); }

function keySection() {
  const box = el("section", { "aria-labelledby": "h-key" }, el("h2", { id: "h-key" }, "Key"));
  const out = el("div", { "aria-live": "polite" });
  const body = el("div", {}, el("p", { class: "muted" }, "Loading the key…"));
  box.append(body, out);

  async function draw() {
    body.replaceChildren();
    try { await load(); } catch (e) {
      body.replaceChildren(notice("error", `The browser core did not load, so the key cannot be shown: ${errText(e)}`));
      return;
    }
    let key;
    try { key = await localKey(); } catch (e) {
      body.replaceChildren(notice("error", `No browser key: ${errText(e)}`));
      return;
    }
    if (hasNip07()) {
      let ext = "";
      try { ext = await globalThis.nostr.getPublicKey(); } catch { /* the extension may refuse until asked again */ }
      body.append(el("p", {}, "What you publish is signed by your Nostr extension (NIP-07)",
        ext ? [" as ", el("code", {}, npub(ext))] : "", "."),
      el("p", { class: "muted" }, "This tab also has its own browser key, used only to talk to peers."));
    } else {
      body.append(notice("warn", "Your key lives only in this browser. Clearing this site's data deletes it, and everything you published with it can no longer be updated from here. Export it and keep it somewhere safe, or install a Nostr signing extension (NIP-07)."));
    }
    body.append(el("dl", { class: "kv" },
      el("dt", {}, hasNip07() ? "Browser key" : "Your key"),
      el("dd", { class: "mono" }, key.npub || npub(key.pubkey) || "(this core cannot show it)")));

    const reveal = el("div");
    const exportBtn = el("button", { type: "button", class: "secondary" }, "Export secret key (nsec)");
    exportBtn.addEventListener("click", () => {
      if (!confirm("Anyone who sees your secret key can publish as you, for ever. Show it only where nobody else can see the screen. Show it now?")) return;
      const field = el("input", { type: "text", readOnly: true, value: key.nsec || key.secretKey, id: "nsec", class: "mono", "aria-label": "Secret key" });
      const copy = el("button", { type: "button", class: "secondary" }, "Copy");
      copy.addEventListener("click", async () => {
        try { await navigator.clipboard.writeText(field.value); out.replaceChildren(notice("ok", "Secret key copied.")); } catch {
          field.select(); out.replaceChildren(notice("warn", "Copying is not allowed here: the key is selected, copy it with the keyboard."));
        }
      });
      const hide = el("button", { type: "button", class: "secondary" }, "Hide");
      hide.addEventListener("click", () => { reveal.replaceChildren(); exportBtn.focus(); });
      reveal.replaceChildren(el("label", { for: "nsec" }, "Secret key"), el("div", { class: "row" }, field, copy, hide));
      field.focus();
      field.select();
    });

    const importField = el("input", { type: "password", id: "import-key", autocomplete: "off", placeholder: "nsec1…", spellcheck: false });
    const importBtn = el("button", { type: "submit", class: "secondary" }, "Import");
    const importForm = el("form", {}, el("label", { for: "import-key" }, "Import a key"), el("div", { class: "row" }, importField, importBtn));
    importForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!importField.value.trim()) { out.replaceChildren(notice("error", "Paste a secret key (nsec1… or 64 hex digits) first.")); importField.focus(); return; }
      if (!confirm("Importing replaces this browser's key. Export the current one first if you want to keep it. Replace it?")) return;
      try {
        const info = await importKey(importField.value);
        importField.value = "";
        out.replaceChildren(notice("ok", `Key imported: ${shortKey(info.npub || npub(info.pubkey))}. Reload the page so the browser node uses it.`),
          el("button", { type: "button", onclick: () => location.reload() }, "Reload now"));
        draw();
      } catch (e) {
        out.replaceChildren(notice("error", `Not imported: ${errText(e)}`));
      }
    });
    body.append(el("div", { class: "row" }, exportBtn), reveal, importForm);
  }
  draw();
  return box;
}

function relaysSection() {
  const box = el("section", { "aria-labelledby": "h-relays" }, el("h2", { id: "h-relays" }, "Relays"));
  const list = el("ul");
  const out = el("div", { "aria-live": "polite" });
  const field = el("input", { type: "url", id: "relay-add", placeholder: "wss://relay.example", spellcheck: false });
  const add = el("button", { type: "submit" }, "Add");
  const form = el("form", {}, el("label", { for: "relay-add" }, "Add a relay"), el("div", { class: "row" }, field, add));

  function draw() {
    const relays = settings.get("relays", []);
    list.replaceChildren(el("li", {}, el("code", {}, state.relay || "this node's relay"), el("span", { class: "muted" }, " (always used)")),
      ...relays.map((r) => {
        const rm = el("button", { type: "button", class: "secondary", "aria-label": `Remove ${r}` }, "Remove");
        rm.addEventListener("click", () => {
          settings.set("relays", settings.get("relays", []).filter((x) => x !== r));
          out.replaceChildren(notice("ok", `Removed ${r}.`));
          draw();
          field.focus();
        });
        return el("li", { class: "row" }, el("code", {}, r), rm);
      }));
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    try {
      const url = normalizeRelay(field.value);
      const relays = settings.get("relays", []);
      if (!relays.includes(url)) settings.set("relays", [...relays, url]);
      field.value = "";
      out.replaceChildren(notice("ok", `Added ${url}: the feed reads from it too.`));
      draw();
    } catch (err) {
      out.replaceChildren(notice("error", err.message));
      field.focus();
    }
  });
  box.append(el("p", { class: "muted" }, "The feed reads notes and media from these relays; they are kept in this browser."), list, form, out);
  draw();
  return box;
}

function storageSection() {
  const box = el("section", { "aria-labelledby": "h-storage" }, el("h2", { id: "h-storage" }, "Storage and seeding"));
  const out = el("div", { "aria-live": "polite" });
  const body = el("div", {}, el("p", { class: "muted" }, "Waiting for the browser node…"));
  box.append(body, out);

  async function draw() {
    try { await start(); } catch {
      body.replaceChildren(notice("error", `Storage settings need the browser node: ${state.message}`));
      return;
    }
    const quota = settings.get("quota", DEFAULT_QUOTA);
    const quotaField = el("input", { type: "text", id: "quota", value: bytes(quota), inputMode: "text", "aria-describedby": "quota-help" });
    const saveQuota = el("button", { type: "submit" }, "Set");
    const quotaForm = el("form", {}, el("label", { for: "quota" }, "Storage quota"),
      el("div", { class: "row" }, quotaField, saveQuota),
      el("p", { id: "quota-help", class: "muted" }, "How much this browser keeps, e.g. 500 MiB or 2 GiB. Least recently used chunks go first; your own shares stay."));
    quotaForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const n = parseSize(quotaField.value);
      if (!n || n < 1 << 20) { out.replaceChildren(notice("error", "Give a size of at least 1 MiB, e.g. 500 MiB or 2 GiB.")); quotaField.focus(); return; }
      try {
        await call("setQuota", n);
        settings.set("quota", n);
        quotaField.value = bytes(n);
        out.replaceChildren(notice("ok", `Quota set to ${bytes(n)}.`));
        drawList();
      } catch (err) { out.replaceChildren(notice("error", `Quota not changed: ${errText(err)}`)); }
    });

    const seed = el("input", { type: "checkbox", id: "seeding", checked: settings.get("seeding", true) !== false });
    seed.addEventListener("change", async () => {
      try {
        await call("setSeeding", seed.checked);
        settings.set("seeding", seed.checked);
        out.replaceChildren(notice("ok", seed.checked ? "Seeding on: peers can fetch what this browser holds." : "Seeding off: this browser only downloads."));
      } catch (err) {
        seed.checked = !seed.checked;
        out.replaceChildren(notice("error", `Seeding not changed: ${errText(err)}`));
      }
    });
    const lb = el("input", { type: "checkbox", id: "loopback", checked: settings.get("loopback", false) === true });
    lb.addEventListener("change", () => {
      if (lb.checked) settings.set("loopback", true); else settings.remove("loopback");
      out.replaceChildren(notice("ok", "Saved; it applies when the page is next loaded."));
    });

    const list = el("div");
    async function drawList() {
      if (!has("list")) { list.replaceChildren(notice("warn", "This build of the browser core cannot list what it stores (no cairn.list).")); return; }
      let items;
      try { items = await call("list"); } catch (err) { list.replaceChildren(notice("error", `Could not list storage: ${errText(err)}`)); return; }
      if (!Array.isArray(items) || !items.length) { list.replaceChildren(el("p", { class: "muted" }, "Nothing stored in this browser yet.")); return; }
      const rows = items.map((it) => {
        const rm = el("button", { type: "button", class: "danger", "aria-label": `Remove ${it.name || it.root}` }, "Remove");
        rm.addEventListener("click", async () => {
          if (it.pinned && !confirm("This is one of your shares: once removed, peers can fetch it from this browser no more. Remove it?")) return;
          try { await call("remove", it.root); out.replaceChildren(notice("ok", `Removed ${it.name || shortKey(it.root)}.`)); drawList(); } catch (err) {
            out.replaceChildren(notice("error", `Not removed: ${errText(err)}`));
          }
        });
        return el("tr", {},
          el("td", {}, el("a", { href: `/watch/${it.root}` }, it.name || shortKey(it.root))),
          el("td", {}, it.mime || ""),
          el("td", { class: "num" }, bytes(it.size)),
          el("td", { class: "num" }, `${count(it.have)}/${count(it.chunks)}`),
          el("td", {}, it.pinned ? "yes" : "no"),
          el("td", {}, rm));
      });
      list.replaceChildren(el("div", { class: "scroll" }, el("table", {},
        el("caption", { class: "muted", style: "text-align:left" }, "Files in this browser"),
        el("thead", {}, el("tr", {}, ["file", "type", "size", "chunks", "pinned", ""].map((h, i) => el("th", { scope: "col", class: i === 2 || i === 3 ? "num" : "" }, h)))),
        el("tbody", {}, rows))));
    }

    body.replaceChildren(quotaForm,
      el("label", { class: "check", for: "seeding" }, seed, "Seed: serve what this browser holds to peers"),
      el("label", { class: "check", for: "loopback" }, lb, "Loopback only (testing several browsers on one machine)"),
      el("h2", {}, "Stored here"), list);
    drawList();
  }
  draw();
  return box;
}

/** render draws the profile and settings screen. */
export function render(main) {
  main.append(el("h1", {}, "Profile and settings"), keySection(), relaysSection(), storageSection());
}
