// The web app's entry: theme, header, routing between screens without a
// reload, and the browser core's start in the background.

import { settings, el } from "./util.js";
import { onState, start, holdCore } from "./core.js";

const HOLD_CORE_MS = 1500; // longest the core waits for the watch page's first frame

const routes = [
  { re: /^\/$/, load: () => import("./feed.js"), title: "Feed" },
  { re: /^\/watch\/([^/]+)$/, load: () => import("./player.js"), title: "Watch" },
  { re: /^\/social$/, load: () => import("./social.js"), title: "Social" },
  { re: /^\/social\/([^/]+)$/, load: () => import("./social.js"), title: "Thread" },
  { re: /^\/upload$/, load: () => import("./upload.js"), title: "Upload" },
  { re: /^\/rooms$/, load: () => import("./rooms.js"), title: "Rooms" },
  { re: /^\/rooms\/([^/]+)$/, load: () => import("./rooms.js"), title: "Room" },
  { re: /^\/profile$/, load: () => import("./profile.js"), title: "Profile and settings" },
  { re: /^\/dashboard$/, load: () => import("./dashboard.js"), title: "Node dashboard" },
  { re: /^\/credits$/, load: () => import("./credits.js"), title: "Credits" },
];

// Theme: follow prefers-color-scheme until the user picks one with the toggle.
const darkQuery = matchMedia("(prefers-color-scheme: dark)");

function effectiveTheme() {
  const t = settings.get("theme", "");
  return t === "light" || t === "dark" ? t : darkQuery.matches ? "dark" : "light";
}

function applyTheme() {
  const t = settings.get("theme", "");
  if (t === "light" || t === "dark") document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
  const btn = document.getElementById("theme");
  if (btn) {
    const next = effectiveTheme() === "dark" ? "light" : "dark";
    btn.setAttribute("aria-label", `Switch to ${next} theme`);
    btn.title = `Switch to ${next} theme`;
  }
}

let cleanup = null;
let navSeq = 0;

async function render() {
  const seq = ++navSeq;
  const main = document.getElementById("main");
  if (cleanup) { try { cleanup(); } catch { /* a screen's cleanup must not stop navigation */ } cleanup = null; }
  const path = location.pathname.replace(/\/+$/, "") || "/";
  for (const a of document.querySelectorAll(".top nav a")) {
    const here = a.getAttribute("href") === path;
    if (here) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const route = routes.find((r) => r.re.test(path));
  if (!route) {
    document.title = "Not found · cairn";
    main.replaceChildren(el("h1", { tabIndex: -1 }, "Page not found"),
      el("p", {}, "There is nothing at ", el("code", {}, path), ". ", el("a", { href: "/", "data-nav": true }, "Go to the feed"), "."));
    focusHeading(main);
    return;
  }
  const params = route.re.exec(path).slice(1).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  document.title = `${route.title} · cairn`;
  main.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  let mod;
  try { mod = await route.load(); } catch (e) {
    main.replaceChildren(el("div", { class: "notice error", role: "alert" }, `This screen did not load: ${e.message}. Reload the page.`));
    return;
  }
  if (seq !== navSeq) return;
  main.replaceChildren();
  try {
    cleanup = mod.render(main, ...params) || null;
  } catch (e) {
    main.append(el("div", { class: "notice error", role: "alert" }, `This screen failed: ${e.message}`));
  }
  focusHeading(main);
}

let firstRender = true;

function focusHeading(main) {
  if (firstRender) { firstRender = false; return; }
  const h = main.querySelector("h1");
  if (h) { h.tabIndex = -1; h.focus({ preventScroll: true }); }
  window.scrollTo(0, 0);
}

/** navigate moves to path without a reload. */
export function navigate(path) {
  if (path === location.pathname + location.search) return;
  history.pushState(null, "", path);
  render();
}

function onClick(e) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest?.("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  const path = url.pathname.replace(/\/+$/, "") || "/";
  if (!routes.some((r) => r.re.test(path))) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
}

function init() {
  applyTheme();
  darkQuery.addEventListener("change", applyTheme);
  document.getElementById("theme").addEventListener("click", () => {
    settings.set("theme", effectiveTheme() === "dark" ? "light" : "dark");
    applyTheme();
  });
  const banner = document.getElementById("corestate");
  onState((s) => {
    banner.dataset.phase = s.phase;
    banner.textContent = s.phase === "ready" ? `${s.message} · relay ${s.relay}` : s.message;
  });
  document.addEventListener("click", onClick);
  addEventListener("popstate", render);
  // The watch page's head start runs before the core (player.js releases it at the first frame).
  if (location.pathname.startsWith("/watch/")) holdCore(HOLD_CORE_MS);
  render();
  start();
}

init();
