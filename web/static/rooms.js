// Rooms (/rooms and /rooms/<id>): the rooms the node hosts, one room's
// chat with live updates, its members and roles, and moderation for those
// who may. The tab replays the room's authority log itself with the
// browser core (package room, as every member does); the events come from
// the node's relay, where the log is enforced too.

import { el, ago, npub, shortKey, isHex64, errText } from "./util.js";
import { query, subscribe } from "./nostr.js";
import { call, load, nodeStatus, publish, relayURL, state, userPubkey } from "./core.js";
import { navigate } from "./app.js";

const LOG_KINDS = [9007, 9000, 9001, 9002, 9009, 9018];
const CHAT = 9;
const DELETE = 9005;
const JOIN_REQUEST = 9021;
const LEAVE_REQUEST = 9022;
const MESSAGES = 200;

function notice(kind, text) { return el("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text); }

async function nodeRelay() {
  return state.relay || relayURL(await nodeStatus().catch(() => null));
}

function tagOf(ev, name) { const t = ev.tags.find((t) => t[0] === name); return t ? t[1] ?? "" : ""; }

export function render(main, id) {
  if (id === undefined) return renderList(main);
  if (!isHex64(id)) {
    main.append(el("h1", {}, "Room"), notice("error", `"${id}" is not a room id: a room id is 64 hex digits. Pick a room from the list.`),
      el("p", {}, el("a", { href: "/rooms" }, "All rooms")));
    return null;
  }
  return renderRoom(main, id);
}

function renderList(main) {
  let stopped = false;
  const list = el("ul", { class: "feed rooms", "aria-label": "Rooms on this node" });
  const status = el("p", { class: "muted", role: "status", "aria-live": "polite" }, "Loading the rooms…");
  const out = el("div", { "aria-live": "polite" });
  const name = el("input", { type: "text", id: "room-name", maxLength: 64, required: true, placeholder: "lobby", autocomplete: "off" });
  const open = el("input", { type: "checkbox", id: "room-open", checked: true });
  const create = el("button", { type: "submit" }, "Create");
  const form = el("form", { class: "card", "aria-labelledby": "h-create" },
    el("h2", { id: "h-create" }, "Create a room"),
    el("label", { for: "room-name" }, "Name"), el("div", { class: "row" }, name, create),
    el("label", { class: "check" }, open, " Anyone may join (otherwise moderators add members)"),
    el("p", { class: "muted" }, "You own the room for good. Only members post; moderators can remove and ban."), out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const n = name.value.trim();
    if (!n) { out.replaceChildren(notice("error", "Give the room a name.")); name.focus(); return; }
    create.disabled = true;
    out.replaceChildren(notice("info", "Creating…"));
    try {
      await load();
      const creator = await userPubkey();
      const tmpl = await call("roomGenesis", n, { creator, open: open.checked });
      const ev = await publish(tmpl);
      navigate(`/rooms/${tagOf(ev, "h")}`);
    } catch (err) {
      out.replaceChildren(notice("error", `Not created: ${errText(err)}`));
    } finally {
      create.disabled = false;
    }
  });
  main.append(el("h1", {}, "Rooms"), list, status, form);

  (async () => {
    try {
      const { events, errors } = await query([await nodeRelay()], [{ kinds: [9007], limit: 200 }]);
      if (stopped) return;
      if (errors.length) status.replaceWith(notice("warn", `The relay failed: ${errors.join("; ")}`));
      for (const ev of events) {
        const h = tagOf(ev, "h");
        if (!isHex64(h)) continue;
        list.append(el("li", { class: "card" },
          el("a", { href: `/rooms/${h}`, class: "title" }, tagOf(ev, "name") || "Unnamed room"),
          el("span", { class: "muted" }, ` · by ${shortKey(npub(ev.pubkey))} · ${ago(ev.created_at)}`)));
      }
      if (!errors.length) status.textContent = events.length ? "" : "No rooms on this node yet. Create the first one.";
    } catch (e) {
      status.textContent = `The rooms did not load: ${errText(e)}`;
    }
  })();
  return () => { stopped = true; };
}

function renderRoom(main, id) {
  let stopped = false;
  let me = "";
  let view = null;
  let mayDelete = false;
  let channel = "general"; // the channel shown and written to
  const code = new URLSearchParams(location.search).get("code") || "";
  const deleted = new Set();
  const log = new Map(); // id -> event of the authority log
  const seen = new Set();
  const title = el("h1", {}, "Room");
  const policy = el("p", { class: "muted" });
  const out = el("div", { "aria-live": "polite" });
  const messages = el("ol", { class: "chat", "aria-label": "Messages", "aria-live": "polite" });
  const text = el("textarea", { id: "room-text", rows: 2, maxLength: 4000, placeholder: "Write a message", "aria-label": "Message" });
  const send = el("button", { type: "submit" }, "Send");
  const form = el("form", { class: "row compose" }, text, send);
  const join = el("div");
  const invite = el("div");
  const sequencer = el("div");
  const inviteOut = el("div", { "aria-live": "polite" });
  const channels = el("nav", { class: "channels row", "aria-label": "Channels" });
  const channelForm = el("div");
  const members = el("ul", { class: "members", "aria-label": "Members" });
  const history = el("ol", { class: "history" });
  main.append(el("p", {}, el("a", { href: "/rooms" }, "← All rooms")), title, policy, out,
    el("div", { class: "room" },
      el("section", { class: "chatbox", "aria-labelledby": "h-chat" }, el("h2", { id: "h-chat" }, "Chat"), channels, messages, join, form, channelForm),
      el("section", { "aria-labelledby": "h-members" }, el("h2", { id: "h-members" }, "Members"), members, invite, inviteOut, sequencer,
        el("details", {}, el("summary", {}, "Authority log"), history))));

  const say = (kind, msg) => out.replaceChildren(notice(kind, msg));
  const name = (pk) => shortKey(npub(pk));

  // A deletion the node accepted (it checks the author or the delete
  // capability) hides the messages it names.
  function applyDelete(ev) {
    for (const t of ev.tags) {
      if (t[0] !== "e" || !isHex64(t[1])) continue;
      deleted.add(t[1]);
      messages.querySelector(`li[data-id="${t[1]}"]`)?.remove();
    }
  }

  async function remove(ev) {
    try {
      const del = await publish({ kind: DELETE, tags: [["h", id], ["e", ev.id]], content: "" });
      applyDelete(del);
      say("ok", "Message deleted.");
    } catch (e) {
      say("error", `Not deleted: ${errText(e)}`);
    }
  }

  function message(ev) {
    const when = new Date(ev.created_at * 1000);
    const del = el("button", { type: "button", class: "secondary small delete", onclick: () => remove(ev) }, "Delete");
    del.hidden = !(ev.pubkey === me || mayDelete);
    const ch = tagOf(ev, "channel") || "general";
    return el("li", { class: "msg", "data-id": ev.id, "data-pubkey": ev.pubkey, "data-channel": ch, hidden: ch !== channel },
      el("span", { class: "who", title: npub(ev.pubkey) }, name(ev.pubkey)), " ",
      el("time", { dateTime: when.toISOString(), title: when.toLocaleString("en") }, ago(ev.created_at)), " ", del,
      el("p", { class: "content" }, ev.content.slice(0, 4000)));
  }

  function addMessage(ev) {
    if (ev.kind === DELETE) { applyDelete(ev); return; }
    if (seen.has(ev.id) || ev.kind !== CHAT || deleted.has(ev.id)) return;
    seen.add(ev.id);
    const li = message(ev);
    const after = [...messages.children].find((c) => Number(c.dataset.at) > ev.created_at);
    li.dataset.at = String(ev.created_at);
    messages.insertBefore(li, after || null);
  }

  async function act(op, target, label) {
    try {
      const tmpl = await call("roomEntry", id, view.tip, { op, target });
      await publish(tmpl);
      say("ok", `${label}: done.`);
    } catch (e) {
      say("error", `${label}: ${errText(e)}`);
    }
    await replay();
  }

  // Show one channel: its messages, and the compose box writes to it.
  function showChannel(c) {
    channel = c;
    for (const li of messages.children) li.hidden = li.dataset.channel !== channel;
    if (view) draw();
  }

  async function addChannel(e) {
    e.preventDefault();
    const f = e.target;
    const cid = f.elements["channel-id"].value.trim(), cname = f.elements["channel-name"].value.trim() || cid;
    try {
      const ev = await publish(await call("roomEntry", id, view.tip, { op: "channel", channel: cid, name: cname }));
      log.set(ev.id, ev); // replay with it now, whether or not the subscription has brought it yet
      f.reset();
      say("ok", `Channel ${cname} made.`);
      await replay();
      showChannel(cid);
    } catch (err) {
      say("error", `No channel made: ${errText(err)}`);
    }
  }

  // The creator's sequence entries: countersign, sequencer mode on or off.
  async function sequence(action, label) {
    try {
      const ev = await publish(await call("roomEntry", id, view.tip, action));
      log.set(ev.id, ev);
      say("ok", `${label}: done.`);
    } catch (e) {
      say("error", `${label}: ${errText(e)}`);
    }
    await replay();
  }

  async function makeInvite() {
    const bytes = crypto.getRandomValues(new Uint8Array(9));
    const c = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
    try {
      await publish(await call("roomEntry", id, view.tip, { op: "invite", code: c }));
      const link = `${location.origin}/rooms/${id}?code=${encodeURIComponent(c)}`;
      const field = el("input", { type: "text", readOnly: true, value: link, class: "mono invite-link", "aria-label": "Invite link" });
      inviteOut.replaceChildren(el("p", {}, "Anyone with this link can join while you may invite:"), field);
      field.select();
    } catch (e) {
      say("error", `No invite made: ${errText(e)}`);
    }
    await replay();
  }

  async function request(kind, label, withCode = "") {
    try {
      const tags = [["h", id]];
      if (withCode) tags.push(["code", withCode]);
      await publish({ kind, tags, content: "" });
      say("ok", `${label}: done.`);
    } catch (e) {
      say("error", `${label}: ${errText(e)}`);
    }
    await replay();
  }

  function draw() {
    const v = view;
    title.textContent = v.name || "Unnamed room";
    document.title = `${v.name || "Room"} · cairn`;
    policy.textContent = [v.open ? "Anyone may join" : "Moderators add members", v.unrestricted ? "anyone not banned posts" : "members post",
      `${v.entries.length} log entries${v.rejected - v.pending.length ? `, ${v.rejected - v.pending.length} refused` : ""}${v.pending.length ? `, ${v.pending.length} pending` : ""}`,
      ...(v.sequencer_minutes ? [`sequencer mode: changes wait for the creator (alone after ${v.sequencer_minutes} min of absence)`] : [])].join(" · ");
    const mine = v.users.find((u) => u.pubkey === me);
    const caps = (mine?.caps || "").split(",");
    const canBan = mine && mine.role !== "banned" && caps.includes("ban");
    mayDelete = !!mine && mine.role !== "banned" && caps.includes("delete");
    for (const li of messages.children) {
      const b = li.querySelector("button.delete");
      if (b) b.hidden = !(li.dataset.pubkey === me || mayDelete);
    }
    const cur = v.channels.find((c) => c.id === channel) || { id: channel, name: channel };
    channels.replaceChildren(...v.channels.map((c) => el("button", {
      type: "button", class: c.id === channel ? "small" : "secondary small", "data-channel": c.id,
      "aria-current": c.id === channel ? "true" : "false", onclick: () => showChannel(c.id),
    }, `# ${c.name}${c.archived ? " (archived)" : ""}`)));
    send.disabled = !!cur.archived;
    text.placeholder = cur.archived ? "This channel is archived" : `Write in # ${cur.name}`;
    channelForm.replaceChildren();
    if (mine && mine.role !== "banned" && caps.includes("manage-channels")) {
      channelForm.append(el("form", { class: "row new-channel", onsubmit: addChannel },
        el("input", { name: "channel-id", required: true, pattern: "[a-z0-9_\\-]{1,32}", maxLength: 32, placeholder: "channel id (a-z, 0-9)", "aria-label": "New channel id" }),
        el("input", { name: "channel-name", maxLength: 64, placeholder: "name people see", "aria-label": "New channel name" }),
        el("button", { type: "submit", class: "secondary small" }, "Add channel")));
    }
    sequencer.replaceChildren();
    if (me && me === v.creator) {
      if (v.pending.length) {
        sequencer.append(el("button", { type: "button", class: "small", onclick: () => sequence({ op: "countersign", ids: v.pending.slice(0, 27) }, "Countersign") },
          `Countersign ${v.pending.length} pending change${v.pending.length > 1 ? "s" : ""}`));
      }
      sequencer.append(" ", el("button", { type: "button", class: "secondary small", onclick: () => sequence({ op: "sequencer", minutes: v.sequencer_minutes ? 0 : 30 }, "Sequencer mode") },
        v.sequencer_minutes ? "Turn sequencer mode off" : "Sequencer mode: countersign others' changes"));
    }
    invite.replaceChildren();
    if (mine && caps.includes("invite")) {
      invite.append(el("button", { type: "button", class: "secondary small", onclick: makeInvite }, "Make an invite link"));
    }
    members.replaceChildren(...v.users.map((u) => {
      const li = el("li", { "data-pubkey": u.pubkey },
        el("span", { class: "who", title: npub(u.pubkey) }, name(u.pubkey), u.pubkey === me ? " (you)" : ""), " ",
        el("span", { class: `role role-${u.role}` }, u.role));
      if (canBan && u.pubkey !== me && u.rank < mine.rank && u.pubkey !== v.creator) {
        if (u.role !== "banned") {
          li.append(" ", el("button", { type: "button", class: "secondary small", onclick: () => act("revoke", u.pubkey, `Remove ${name(u.pubkey)}`) }, "Remove"),
            " ", el("button", { type: "button", class: "secondary small", onclick: () => act("ban", u.pubkey, `Ban ${name(u.pubkey)}`) }, "Ban"));
        }
      }
      if (canBan && u.role === "banned") {
        li.append(" ", el("button", { type: "button", class: "secondary small", onclick: () => act("unban", u.pubkey, `Unban ${name(u.pubkey)}`) }, "Unban"));
      }
      return li;
    }));
    const member = mine && mine.role !== "banned";
    join.replaceChildren();
    if (mine?.role === "banned") join.append(notice("warn", "You are banned from this room."));
    else if (!member && (v.open || code)) join.append(el("button", { type: "button", onclick: () => request(JOIN_REQUEST, "Join", code) }, code ? "Join with this invite" : "Join this room"));
    else if (!member && !v.unrestricted) join.append(notice("info", "Only members post here; a moderator can add you."));
    else if (member && me !== v.creator) join.append(el("button", { type: "button", class: "secondary small", onclick: () => request(LEAVE_REQUEST, "Leave") }, "Leave"));
    history.replaceChildren(...v.entries.map((e) => el("li", {},
      `${e.seq}. ${name(e.author)} ${e.op}${e.target ? ` ${name(e.target)}` : ""}${e.role ? ` (${e.role})` : ""}`,
      e.placer ? el("span", { class: "muted" }, ` placed by ${name(e.placer)}`) : "",
      e.error ? el("span", { class: "muted" }, v.pending.includes(e.id) ? " — pending: waits for the creator's countersignature" : ` — refused: ${e.error}`) : "")));
  }

  let replaying = null;
  async function replay() {
    if (replaying) return replaying;
    replaying = (async () => {
      try {
        view = await call("roomReplay", id, [...log.values()]);
        if (!stopped) draw();
      } catch (e) {
        if (!stopped) say("error", `The room's log did not replay: ${errText(e)}`);
      } finally {
        replaying = null;
      }
    })();
    return replaying;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const content = text.value.trim();
    if (!content) { text.focus(); return; }
    send.disabled = true;
    try {
      const tags = [["h", id]];
      if (channel !== "general") tags.push(["channel", channel]);
      const ev = await publish({ kind: CHAT, tags, content });
      text.value = "";
      out.replaceChildren();
      addMessage(ev);
    } catch (err) {
      say("error", `Not sent: ${errText(err)}`);
    } finally {
      send.disabled = false;
    }
  });

  let unsub = () => {};
  (async () => {
    try {
      await load();
      me = await userPubkey().catch(() => "");
      const url = await nodeRelay();
      const res = await query([url], [{ kinds: LOG_KINDS, "#h": [id] }, { kinds: [CHAT], "#h": [id], limit: MESSAGES }, { kinds: [DELETE], "#h": [id] }]);
      if (stopped) return;
      for (const ev of res.events.filter((e) => e.kind === DELETE)) applyDelete(ev);
      for (const ev of res.events) {
        if (LOG_KINDS.includes(ev.kind)) log.set(ev.id, ev);
        else if (ev.kind === CHAT) addMessage(ev);
      }
      if (!log.size) { say("error", "This room is not on this node (no log found). Check the link."); return; }
      await replay();
      let again = null;
      unsub = subscribe(url, [{ kinds: [...LOG_KINDS, CHAT, DELETE], "#h": [id], since: Math.floor(Date.now() / 1000) - 5 }], (ev) => {
        if (ev.kind === CHAT || ev.kind === DELETE) { addMessage(ev); return; }
        if (log.has(ev.id)) return;
        log.set(ev.id, ev);
        clearTimeout(again);
        again = setTimeout(replay, 100); // a burst of entries replays once
      }, (e) => { if (!stopped) say("warn", `Live updates stopped: ${errText(e)}. Reload the page.`); });
    } catch (e) {
      if (!stopped) say("error", `The room did not load: ${errText(e)}`);
    }
  })();
  return () => { stopped = true; unsub(); };
}
