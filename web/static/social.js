// Social (/social, /social/<note>): microblogging on the node's relay.
// Write a note (with @npub mentions, NIP-27), reply (NIP-10 marked e
// tags), react (NIP-25), repost and quote (NIP-18), follow and unfollow
// (NIP-02 kind 3), read a thread, and a home timeline of the followed
// authors (or everyone's notes, to find people). Names and pictures come
// from kind 0. Events are signed as the other screens sign them (NIP-07
// when present, else the browser key) and published to the node's relay
// through the core; reads come from the node's relay and the user's.

import { el, ago, npub, nevent, shortKey, isHex64, errText } from "./util.js";
import { query, subscribe, validEvent } from "./nostr.js";
import { call, publish, start, state, userPubkey } from "./core.js";
import { avatar, authorName, feedRelays } from "./feed.js";

const PAGE = 50;
const NOTE = 1, CONTACTS = 3, REPOST = 6, REACTION = 7;
const MENTION = /(?:@|nostr:)(npub1[02-9ac-hj-np-z]{58})/g;

function notice(kind, text) { return el("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : null }, text); }

/** rootOf is the id (and author, when the tag names it) of a note's thread root, per NIP-10; null for a root. */
export function rootOf(ev) {
  const es = ev.tags.filter((t) => t[0] === "e" && isHex64(t[1]));
  const marked = es.find((t) => t[3] === "root");
  if (marked) return { id: marked[1], pubkey: isHex64(marked[4]) ? marked[4] : "" };
  if (es.length && !es.some((t) => t[3] === "reply" || t[3] === "mention")) return { id: es[0][1], pubkey: "" }; // positional (deprecated)
  return null;
}

/** parentOf is the id of the note ev replies to, per NIP-10; "" for a root. */
export function parentOf(ev) {
  const es = ev.tags.filter((t) => t[0] === "e" && isHex64(t[1]));
  const reply = es.find((t) => t[3] === "reply");
  if (reply) return reply[1];
  const root = es.find((t) => t[3] === "root");
  if (root) return root[1];
  const positional = es.filter((t) => !t[3]);
  return positional.length ? positional[positional.length - 1][1] : "";
}

/**
 * replyTags are the tags of a reply to parent (NIP-10): the root marked
 * "root", the parent marked "reply" (only "root" when the parent is the
 * root), and a p tag for the parent's author and every user it named,
 * except me.
 */
export function replyTags(parent, relay, me) {
  const root = rootOf(parent);
  const tags = [];
  const withAuthor = (t, pk) => (isHex64(pk) ? [...t, pk] : t);
  if (root && root.id !== parent.id) {
    tags.push(withAuthor(["e", root.id, relay, "root"], root.pubkey));
    tags.push(["e", parent.id, relay, "reply", parent.pubkey]);
  } else {
    tags.push(["e", parent.id, relay, "root", parent.pubkey]);
  }
  const ps = [parent.pubkey, ...parent.tags.filter((t) => t[0] === "p" && isHex64(t[1])).map((t) => t[1])];
  for (const pk of new Set(ps)) if (pk !== me) tags.push(["p", pk]);
  return tags;
}

/** follows is the set of pubkeys a kind 3 names. */
export function follows(contacts) {
  return new Set((contacts?.tags || []).filter((t) => t[0] === "p" && isHex64(t[1])).map((t) => t[1]));
}

/**
 * contactsAfter is the kind 3 template that follows (on) or unfollows pk,
 * keeping the rest of the list (its other tags, petnames, relay hints and
 * content), dated after the list it replaces.
 */
export function contactsAfter(contacts, pk, on, now = Math.floor(Date.now() / 1000)) {
  const tags = (contacts?.tags || []).filter((t) => !(t[0] === "p" && t[1] === pk));
  if (on) tags.push(["p", pk]);
  return { kind: CONTACTS, tags, content: contacts?.content || "", created_at: Math.max(now, (contacts?.created_at || 0) + 1) };
}

/** mentions turns @npub1… and nostr:npub1… in text into nostr:npub1… with a p tag each (NIP-27). */
async function mentions(text) {
  const tags = [];
  const out = [];
  let last = 0;
  for (const m of text.matchAll(MENTION)) {
    let pk = "";
    try { const d = await call("decode", m[1]); if (d?.type === "npub") pk = d.data; } catch { /* not an npub: left as text */ }
    out.push(text.slice(last, m.index), pk ? `nostr:${m[1]}` : m[0]);
    last = m.index + m[0].length;
    if (isHex64(pk) && !tags.some((t) => t[1] === pk)) tags.push(["p", pk]);
  }
  out.push(text.slice(last));
  return { content: out.join(""), tags };
}

/** A session of the screen: who I am, what I follow, names, counts. */
class Social {
  constructor(main) {
    this.main = main;
    this.me = "";
    this.contacts = null;
    this.profiles = new Map(); // pubkey -> kind 0 content (null while asked or none)
    this.events = new Map(); // id -> event (notes shown, quoted, reposted)
    this.counts = new Map(); // id -> { likes, reposts, liked, reposted }
    this.out = el("div", { "aria-live": "polite" });
    this.stopped = false;
    this.closers = [];
  }

  relay() { return state.relay; }

  async urls() { return feedRelays(); }

  async init() {
    await start();
    this.me = await userPubkey();
    await this.loadContacts();
  }

  async loadContacts() {
    const { events } = await query([this.relay()], [{ kinds: [CONTACTS], authors: [this.me], limit: 1 }]);
    this.contacts = events[0] || null;
  }

  following(pk) { return follows(this.contacts).has(pk); }

  async loadProfiles(pubkeys) {
    const want = [...new Set(pubkeys)].filter((p) => isHex64(p) && !this.profiles.has(p));
    if (!want.length) return;
    for (const p of want) this.profiles.set(p, null);
    const { events } = await query(await this.urls(), [{ kinds: [0], authors: want }]);
    for (const ev of events.reverse()) { // oldest first: the newest wins
      try {
        const meta = JSON.parse(ev.content);
        if (meta && typeof meta === "object") this.profiles.set(ev.pubkey, meta);
      } catch { /* a profile that is not JSON is skipped */ }
    }
  }

  /** prepare loads what notes show: reposted and quoted notes, names, likes and reposts. */
  async prepare(notes) {
    const urls = await this.urls();
    for (const ev of notes) this.events.set(ev.id, ev);
    const inner = [];
    for (const ev of notes) {
      if (ev.kind === REPOST) {
        const r = repostOf(ev);
        if (r) { this.events.set(r.id, r); inner.push(r); }
      }
    }
    const quoted = [...notes, ...inner].flatMap((ev) => ev.tags.filter((t) => t[0] === "q" && isHex64(t[1])).map((t) => t[1]))
      .filter((id) => !this.events.has(id));
    if (quoted.length) {
      const { events } = await query(urls, [{ ids: quoted }]);
      for (const ev of events) this.events.set(ev.id, ev);
    }
    const all = [...this.events.values()];
    await this.loadProfiles([...all.map((e) => e.pubkey), ...all.flatMap((e) => e.tags.filter((t) => t[0] === "p").map((t) => t[1]))]);
    const ids = [...notes, ...inner].map((e) => e.id);
    if (!ids.length) return;
    const { events } = await query(urls, [{ kinds: [REACTION, REPOST], "#e": ids }]);
    for (const id of ids) this.counts.set(id, { likes: 0, reposts: 0, liked: false, reposted: false });
    for (const ev of events) {
      const target = [...ev.tags].reverse().find((t) => t[0] === "e" && this.counts.has(t[1]))?.[1];
      const c = this.counts.get(target);
      if (!c) continue;
      if (ev.kind === REACTION && ev.content !== "-") { c.likes++; if (ev.pubkey === this.me) c.liked = true; }
      if (ev.kind === REPOST) { c.reposts++; if (ev.pubkey === this.me) c.reposted = true; }
    }
  }

  name(pk) { return authorName(this.profiles.get(pk), pk); }

  /** text shows a note's content with its nostr:npub mentions as @names. */
  text(ev) {
    let s = ev.content.slice(0, 4000);
    for (const t of ev.tags) {
      if (t[0] === "p" && isHex64(t[1])) s = s.split(`nostr:${npub(t[1])}`).join(`@${this.name(t[1])}`);
    }
    return s;
  }

  head(ev) {
    const when = new Date(ev.created_at * 1000);
    return el("header", {}, avatar(this.profiles.get(ev.pubkey)),
      el("span", { class: "who", title: npub(ev.pubkey) }, this.name(ev.pubkey)),
      el("time", { dateTime: when.toISOString(), title: when.toLocaleString("en") }, ago(ev.created_at)));
  }

  /** note draws one note (or repost) with its actions; onchange runs after an action. */
  note(ev, onchange) {
    if (ev.kind === REPOST) {
      const inner = repostOf(ev);
      const by = el("p", { class: "muted reposted" }, `↻ ${this.name(ev.pubkey)} reposted`);
      if (!inner) return el("li", { class: "card post", "data-id": ev.id }, by, el("p", { class: "muted" }, "a note this relay does not have"));
      const li = this.note(inner, onchange);
      li.prepend(by);
      li.dataset.repost = ev.id;
      return li;
    }
    const li = el("li", { class: "card post note", "data-id": ev.id, "data-author": ev.pubkey });
    li.append(this.head(ev));
    const parent = parentOf(ev);
    if (parent) {
      const to = ev.tags.find((t) => t[0] === "p" && isHex64(t[1]));
      li.append(el("p", { class: "muted context" }, "replying", to ? ` to @${this.name(to[1])}` : "", " · ",
        el("a", { href: `/social/${rootOf(ev)?.id || parent}` }, "thread")));
    }
    li.append(el("p", { class: "content" }, this.text(ev)));
    const q = ev.tags.find((t) => t[0] === "q" && isHex64(t[1]));
    if (q) {
      const quoted = this.events.get(q[1]);
      li.append(quoted
        ? el("blockquote", { class: "quote", "data-id": quoted.id }, el("strong", {}, this.name(quoted.pubkey)), " ", this.text(quoted).slice(0, 500),
          " ", el("a", { href: `/social/${quoted.id}` }, "open"))
        : el("p", {}, el("a", { href: `/social/${q[1]}` }, "the quoted note")));
    }
    li.append(this.actions(ev, li, onchange));
    return li;
  }

  actions(ev, li, onchange) {
    const c = this.counts.get(ev.id) || { likes: 0, reposts: 0 };
    const run = (btn, what, fn) => async () => {
      btn.disabled = true;
      try { await fn(); this.out.replaceChildren(notice("ok", what)); onchange(); } catch (e) {
        this.out.replaceChildren(notice("error", `Not done: ${errText(e)}`));
      } finally { btn.disabled = false; }
    };
    const reply = el("button", { type: "button", class: "secondary small", "data-act": "reply" }, "Reply");
    reply.addEventListener("click", () => this.composer(li, ev, "reply", onchange));
    const like = el("button", { type: "button", class: "secondary small", "data-act": "like", "aria-pressed": c.liked ? "true" : "false" }, `♥ ${c.likes}`);
    like.addEventListener("click", run(like, "Liked.", () => publish({ kind: REACTION, content: "+",
      tags: [["e", ev.id, this.relay(), ev.pubkey], ["p", ev.pubkey], ["k", String(ev.kind)]] })));
    const repost = el("button", { type: "button", class: "secondary small", "data-act": "repost", "aria-pressed": c.reposted ? "true" : "false" }, `↻ ${c.reposts}`);
    repost.addEventListener("click", run(repost, "Reposted.", () => publish({ kind: REPOST, content: JSON.stringify(ev),
      tags: [["e", ev.id, this.relay()], ["p", ev.pubkey]] })));
    const quote = el("button", { type: "button", class: "secondary small", "data-act": "quote" }, "Quote");
    quote.addEventListener("click", () => this.composer(li, ev, "quote", onchange));
    const row = el("div", { class: "row actions" }, reply, like, repost, quote, el("a", { href: `/social/${ev.id}` }, "Thread"));
    if (ev.pubkey !== this.me) {
      const on = this.following(ev.pubkey);
      const f = el("button", { type: "button", class: on ? "secondary small" : "small", "data-act": on ? "unfollow" : "follow" },
        on ? `Unfollow ${this.name(ev.pubkey)}` : `Follow ${this.name(ev.pubkey)}`);
      f.addEventListener("click", run(f, on ? `Unfollowed ${this.name(ev.pubkey)}.` : `Following ${this.name(ev.pubkey)}.`, () => this.setFollow(ev.pubkey, !on)));
      row.append(f);
    }
    return row;
  }

  /** composer opens a reply or quote form under a note. */
  composer(li, ev, mode, onchange) {
    li.querySelector("form.compose")?.remove();
    const id = `${mode}-${ev.id.slice(0, 8)}`;
    const area = el("textarea", { id, class: `${mode}-text`, rows: 2, maxLength: 4000, required: true });
    const send = el("button", { type: "submit" }, mode === "reply" ? "Reply" : "Quote");
    const form = el("form", { class: "compose" }, el("label", { for: id, class: "muted" },
      mode === "reply" ? `Reply to ${this.name(ev.pubkey)}` : `Quote ${this.name(ev.pubkey)}'s note`), el("div", { class: "row" }, area, send));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = area.value.trim();
      if (!text) { area.focus(); return; }
      send.disabled = true;
      try {
        const m = await mentions(text);
        const tmpl = mode === "reply"
          ? { kind: NOTE, content: m.content, tags: [...replyTags(ev, this.relay(), this.me), ...m.tags.filter((t) => !hasP(ev, t[1]) && t[1] !== ev.pubkey)] }
          : { kind: NOTE, content: `${m.content}\n\nnostr:${nevent(ev.id, this.relay(), ev.pubkey)}`,
            tags: [["q", ev.id, this.relay(), ev.pubkey], ["p", ev.pubkey], ...m.tags.filter((t) => t[1] !== ev.pubkey)] };
        await publish(tmpl);
        form.remove();
        this.out.replaceChildren(notice("ok", mode === "reply" ? "Reply posted." : "Quote posted."));
        onchange();
      } catch (err) {
        this.out.replaceChildren(notice("error", `Not posted: ${errText(err)}`));
        send.disabled = false;
      }
    });
    li.append(form);
    area.focus();
  }

  async setFollow(pk, on) {
    await this.loadContacts(); // the newest list, so a follow made elsewhere is kept
    const ev = await publish(contactsAfter(this.contacts, pk, on));
    this.contacts = ev;
  }

  live(filters, onevent) {
    const close = subscribe(this.relay(), filters, onevent, () => { /* reloads on the next action */ });
    this.closers.push(close);
  }

  close() { this.stopped = true; for (const c of this.closers) c(); }
}

function hasP(ev, pk) { return ev.tags.some((t) => t[0] === "p" && t[1] === pk); }

/** repostOf is the note a kind 6 carries in its content, when it is one. */
function repostOf(ev) {
  try {
    const inner = JSON.parse(ev.content);
    if (validEvent(inner) && inner.kind === NOTE && inner.id === ev.tags.find((t) => t[0] === "e")?.[1]) return inner;
  } catch { /* an empty or foreign content: not shown inline */ }
  return null;
}

/**
 * redrawer debounces redraws of list by draw; while a reply or quote is
 * being written in it, it holds them (a redraw would drop the draft) and
 * shows the button instead, which draws on click.
 */
function redrawer(list, button, draw) {
  let timer = null;
  button.addEventListener("click", () => { button.hidden = true; draw(); });
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if ([...list.querySelectorAll("form.compose textarea")].some((a) => a.value.trim())) { button.hidden = false; return; }
      button.hidden = true;
      draw();
    }, 150);
  };
}

function refreshButton() { return el("button", { type: "button", class: "small", hidden: true, id: "refresh" }, "New activity: show it"); }

/** render draws the timeline (no id) or a thread (a note's id, note1… or nevent1…). */
export function render(main, id) {
  const s = new Social(main);
  if (id === undefined) timeline(s);
  else thread(s, id);
  return () => s.close();
}

function timeline(s) {
  const main = s.main;
  const text = el("textarea", { id: "post-text", rows: 3, maxLength: 4000, placeholder: "What is happening? Mention someone with @npub1…" });
  const post = el("button", { type: "submit" }, "Post");
  const compose = el("form", { class: "compose" }, el("label", { for: "post-text" }, "New note"), el("div", { class: "row" }, text, post));
  const who = el("input", { type: "text", id: "follow-key", placeholder: "npub1…", spellcheck: false, autocomplete: "off" });
  const followForm = el("form", {}, el("label", { for: "follow-key" }, "Follow someone"), el("div", { class: "row" }, who, el("button", { type: "submit", class: "secondary" }, "Follow")));
  const pname = el("input", { type: "text", id: "profile-name", autocomplete: "nickname" });
  const ppic = el("input", { id: "profile-picture", type: "url", placeholder: "https://…" });
  const profileForm = el("form", {}, el("label", { for: "profile-name" }, "Name"), pname,
    el("label", { for: "profile-picture" }, "Picture URL"), ppic, el("div", { class: "row" }, el("button", { type: "submit", class: "secondary" }, "Save profile")));
  const homeTab = el("button", { type: "button", class: "secondary small", "aria-pressed": "true", id: "tab-home" }, "Following");
  const allTab = el("button", { type: "button", class: "secondary small", "aria-pressed": "false", id: "tab-all" }, "Everyone");
  const list = el("ul", { class: "feed social", "aria-label": "Notes" });
  const status = el("p", { class: "muted", role: "status" }, "Loading…");
  const mine = el("p", { class: "muted", id: "me" });
  const fresh = refreshButton();
  main.append(el("h1", {}, "Social"), mine, compose, s.out,
    el("details", {}, el("summary", {}, "Your profile, and following"), profileForm, followForm),
    el("div", { class: "row", role: "group", "aria-label": "Timeline" }, homeTab, allTab), status, fresh, list);
  let mode = "home";
  let drawing = 0;

  async function draw() {
    const seq = ++drawing;
    try {
      const filter = { kinds: [NOTE, REPOST], limit: PAGE };
      if (mode === "home") {
        const authors = [...follows(s.contacts), s.me];
        filter.authors = authors;
      }
      const res = await query(await s.urls(), [filter]);
      await s.prepare(res.events);
      if (seq !== drawing || s.stopped) return;
      list.replaceChildren(...res.events.map((ev) => s.note(ev, redraw)));
      const n = follows(s.contacts).size;
      status.textContent = mode === "home"
        ? (n ? `Notes of the ${n} ${n === 1 ? "person" : "people"} you follow, and yours.` : "You follow nobody yet: your own notes are here. See Everyone to find people to follow.")
        : "Every note on these relays.";
      if (res.errors.length) s.out.replaceChildren(...res.errors.map((e) => notice("warn", `A relay failed: ${e}`)));
    } catch (e) {
      status.textContent = `The timeline did not load: ${errText(e)}`;
    }
  }
  const redraw = redrawer(list, fresh, draw);
  const pick = (m) => { mode = m; homeTab.setAttribute("aria-pressed", String(m === "home")); allTab.setAttribute("aria-pressed", String(m === "all")); draw(); };
  homeTab.addEventListener("click", () => pick("home"));
  allTab.addEventListener("click", () => pick("all"));

  compose.addEventListener("submit", async (e) => {
    e.preventDefault();
    const t = text.value.trim();
    if (!t) { s.out.replaceChildren(notice("error", "Write something first.")); text.focus(); return; }
    post.disabled = true;
    try {
      const m = await mentions(t);
      await publish({ kind: NOTE, content: m.content, tags: m.tags });
      text.value = "";
      s.out.replaceChildren(notice("ok", "Posted."));
      redraw();
    } catch (err) {
      s.out.replaceChildren(notice("error", `Not posted: ${errText(err)}`));
    } finally { post.disabled = false; }
  });
  followForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    let pk = "";
    try { const d = await call("decode", who.value.trim()); if (d?.type === "npub") pk = d.data; } catch { /* said below */ }
    if (isHex64(who.value.trim())) pk = who.value.trim();
    if (!isHex64(pk)) { s.out.replaceChildren(notice("error", "That is not a public key: paste an npub1… (or 64 hex digits).")); who.focus(); return; }
    if (pk === s.me) { s.out.replaceChildren(notice("error", "That is your own key.")); return; }
    try {
      await s.setFollow(pk, true);
      who.value = "";
      await s.loadProfiles([pk]);
      s.out.replaceChildren(notice("ok", `Following ${s.name(pk)}.`));
      redraw();
    } catch (err) { s.out.replaceChildren(notice("error", `Not followed: ${errText(err)}`)); }
  });
  profileForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = pname.value.trim();
    const picture = ppic.value.trim();
    if (picture && !/^https?:\/\//.test(picture)) { s.out.replaceChildren(notice("error", "A picture URL starts with https://")); ppic.focus(); return; }
    try {
      const meta = { ...(s.profiles.get(s.me) || {}), name };
      if (picture) meta.picture = picture; else delete meta.picture;
      await publish({ kind: 0, content: JSON.stringify(meta) });
      s.profiles.set(s.me, meta);
      mine.textContent = `You are ${s.name(s.me)} (${shortKey(npub(s.me))}).`;
      s.out.replaceChildren(notice("ok", "Profile saved."));
      redraw();
    } catch (err) { s.out.replaceChildren(notice("error", `Profile not saved: ${errText(err)}`)); }
  });

  s.init().then(async () => {
    await s.loadProfiles([s.me]);
    const meta = s.profiles.get(s.me);
    pname.value = typeof meta?.name === "string" ? meta.name : "";
    ppic.value = typeof meta?.picture === "string" ? meta.picture : "";
    mine.textContent = `You are ${s.name(s.me)} (${shortKey(npub(s.me))}).`;
    const owner = state.node?.personal?.owner;
    if (isHex64(owner) && owner !== s.me) {
      mine.after(notice("warn", `This is a personal node: only its owner, ${shortKey(npub(owner))}, can publish here. ` +
        "To post as the owner, import their key in Profile or use their Nostr extension; you can still read."));
    }
    await draw();
    // New notes, likes and reposts on the node's relay redraw the timeline.
    s.live([{ kinds: [NOTE, REPOST, REACTION, CONTACTS], since: Math.floor(Date.now() / 1000) }], (ev) => {
      if (ev.kind === CONTACTS) { if (ev.pubkey === s.me) { s.contacts = ev; redraw(); } return; }
      redraw();
    });
  }, (e) => { status.textContent = `The browser node did not start: ${errText(e)}`; });
}

function thread(s, ref) {
  const main = s.main;
  const status = el("p", { class: "muted", role: "status" }, "Loading the thread…");
  const list = el("ul", { class: "feed social thread", "aria-label": "Thread" });
  const fresh = refreshButton();
  main.append(el("h1", {}, "Thread"), el("p", {}, el("a", { href: "/social" }, "Back to the timeline")), s.out, status, fresh, list);

  async function resolve() {
    if (isHex64(ref)) return ref;
    const d = await call("decode", ref);
    if (d?.type === "note" && isHex64(d.data)) return d.data;
    if (d?.type === "nevent" && isHex64(d.data?.id)) return d.data.id;
    throw new Error(`"${ref}" is not a note: give its id (64 hex digits), note1… or nevent1…`);
  }

  let id = "";
  async function draw() {
    try {
      const urls = await s.urls();
      const { events: found } = await query(urls, [{ ids: [id] }]);
      const ev = found[0];
      if (!ev) { status.textContent = "These relays do not have this note."; return; }
      const root = rootOf(ev)?.id || ev.id;
      const { events } = await query(urls, [{ ids: [root] }, { kinds: [NOTE], "#e": [root] }]);
      const notes = events.filter((e) => e.kind === NOTE);
      if (!notes.some((e) => e.id === ev.id)) notes.push(ev);
      await s.prepare(notes);
      if (s.stopped) return;
      const children = new Map();
      const byId = new Map(notes.map((e) => [e.id, e]));
      const tops = [];
      for (const e of [...notes].sort((a, b) => a.created_at - b.created_at)) {
        const p = e.id === root ? "" : parentOf(e);
        if (p && byId.has(p) && p !== e.id) {
          if (!children.has(p)) children.set(p, []);
          children.get(p).push(e);
        } else tops.push(e);
      }
      const drawn = new Set();
      const branch = (e, depth) => {
        if (drawn.has(e.id) || depth > 50) return null;
        drawn.add(e.id);
        const li = s.note(e, redraw);
        if (e.id === id) li.classList.add("here");
        const kids = (children.get(e.id) || []).map((k) => branch(k, depth + 1)).filter(Boolean);
        if (kids.length) li.append(el("ul", { class: "feed replies" }, kids));
        return li;
      };
      list.replaceChildren(...tops.map((e) => branch(e, 0)).filter(Boolean));
      const n = notes.length - 1;
      status.textContent = byId.has(root) ? `${n} ${n === 1 ? "reply" : "replies"}.` : "The start of this thread is not on these relays.";
    } catch (e) {
      status.textContent = `The thread did not load: ${errText(e)}`;
    }
  }
  const redraw = redrawer(list, fresh, draw);

  s.init().then(async () => {
    id = await resolve();
    await draw();
    s.live([{ kinds: [NOTE, REACTION, REPOST], since: Math.floor(Date.now() / 1000) }], redraw);
  }).catch((e) => { status.textContent = errText(e); });
}
