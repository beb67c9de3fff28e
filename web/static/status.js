// Shows /api/status and refreshes it every few seconds.
const el = document.getElementById("status");

function row(name, value) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value;
  return [dt, dd];
}

async function refresh() {
  try {
    const res = await fetch("/api/status", { cache: "no-store" });
    const s = await res.json();
    el.replaceChildren(
      ...row("Relay", s.urls.relay),
      ...row("Node key", s.npub),
      ...row("Events stored", String(s.store.events)),
      ...row("Connections", `${s.relay.connections} (${s.relay.subscriptions} subscriptions)`),
      ...row("Version", s.version),
    );
  } catch (err) {
    el.replaceChildren(...row("Status", `unreachable: ${err.message}`));
  }
}

refresh();
setInterval(refresh, 5000);
