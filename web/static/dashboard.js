// FloorGate dashboard: opens the live stream with a token, renders zones and lit bins, events, exceptions.
"use strict";

const state = { locations: new Map(), zones: [], exceptions: new Map(), role: null, seq: 0, times: [] };
const $ = (id) => document.getElementById(id);
let socket = null;
let retry = 500;

function token() {
  const fromUrl = new URLSearchParams(location.search).get("token");
  if (fromUrl) { sessionStorage.setItem("fg-token", fromUrl); history.replaceState(null, "", location.pathname); }
  return sessionStorage.getItem("fg-token");
}

function showLogin(message) {
  $("floor").hidden = true; $("login").hidden = false; $("login-error").textContent = message || "";
}

function connect() {
  const t = token();
  if (!t) { showLogin(); return; }
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const after = state.seq ? `&after=${state.seq}` : "";
  socket = new WebSocket(`${proto}://${location.host}/api/v1/stream?token=${encodeURIComponent(t)}${after}`);
  let opened = false;
  socket.onmessage = (msg) => { opened = true; retry = 500; apply(JSON.parse(msg.data)); };
  socket.onclose = (ev) => {
    setConnected(false);
    if (ev.code === 1008 || (!opened && ev.code === 1006 && !state.seq)) {
      sessionStorage.removeItem("fg-token"); showLogin("That token was refused."); return;
    }
    setTimeout(connect, retry); retry = Math.min(retry * 2, 10000);
  };
}

function setConnected(on) { const c = $("conn"); c.textContent = on ? "live" : "offline"; c.className = "pill " + (on ? "on" : "off"); }

function apply(msg) {
  setConnected(true);
  $("login").hidden = true; $("floor").hidden = false;
  if (msg.type === "snapshot") {
    state.role = msg.role || state.role;
    state.zones = msg.zones; state.locations.clear(); state.exceptions.clear();
    msg.locations.forEach((l) => state.locations.set(l.code, l));
    msg.exceptions.forEach((x) => state.exceptions.set(x.id, x));
    $("events").innerHTML = ""; state.times = [];
    (msg.recent_events || []).forEach(addEvent);
    renderZones();
  } else {
    msg.locations.forEach((l) => { state.locations.set(l.code, l); renderBin(l); });
    msg.exceptions.forEach((x) => x.status === "open" ? state.exceptions.set(x.id, x) : state.exceptions.delete(x.id));
    msg.events.forEach(addEvent);
  }
  state.seq = msg.seq;
  renderExceptions(); renderKpis();
}

function renderZones() {
  const root = $("zones"); root.innerHTML = "";
  for (const zone of state.zones) {
    const section = document.createElement("section");
    section.className = "zone"; section.dataset.zone = zone.id;
    const title = document.createElement("h2");
    title.textContent = zone.name && zone.name !== zone.id ? zone.name : `Zone ${zone.id}`;
    const grid = document.createElement("div"); grid.className = "grid";
    section.append(title, grid);
    root.appendChild(section);
  }
  for (const loc of state.locations.values()) renderBin(loc);
}

function renderBin(loc) {
  let el = document.querySelector(`[data-location="${CSS.escape(loc.code)}"]`);
  if (!el) {
    const grid = document.querySelector(`[data-zone="${CSS.escape(loc.zone)}"] .grid`);
    if (!grid) return;
    el = document.createElement("div"); el.dataset.location = loc.code; el.dataset.module = loc.module || "";
    grid.appendChild(el);
  }
  const light = loc.light;
  el.className = "bin" + (light ? ` lit c-${light.color} blink-${light.blink}` : "") + (loc.online === false ? " offline" : "");
  el.title = `${loc.code} · module ${loc.module || "-"} · ${loc.sku || "no sku"} · on hand ${loc.on_hand ?? "?"}`;
  const code = document.createElement("div"); code.className = "code"; code.textContent = loc.code;
  const qty = document.createElement("div"); qty.className = "qty"; qty.dataset.testid = "display";
  qty.textContent = light ? light.display : "";
  el.replaceChildren(code, qty);
}

function renderExceptions() {
  const ul = $("exceptions"); ul.innerHTML = "";
  const canResolve = state.role === "supervisor" || state.role === "admin";
  for (const x of state.exceptions.values()) {
    const li = document.createElement("li"); li.dataset.exception = x.id;
    li.textContent = `${x.kind}: ${x.message}` + (x.count > 1 ? ` (×${x.count})` : "");
    if (canResolve) {
      const b = document.createElement("button"); b.textContent = "Resolve";
      b.onclick = () => resolve(x.id, b); li.appendChild(b);
    }
    ul.appendChild(li);
  }
}

async function resolve(id, button) {
  button.disabled = true;
  const r = await fetch(`/api/v1/exceptions/${id}/resolve`, { method: "POST", headers: { Authorization: `Bearer ${token()}`, "Content-Type": "application/json" }, body: "{}" });
  if (!r.ok) { button.disabled = false; button.textContent = `failed (${r.status})`; }
}

function addEvent(e) {
  state.times.push(Date.parse(e.timestamp));
  if (state.times.length > 500) state.times.shift();
  const li = document.createElement("li"); li.className = "new";
  const d = e.data;
  const subject = d.order || d.device || d.location || "";
  const line = d.line ? ` line ${d.line}` : "";
  const qty = d.picked !== undefined ? ` picked ${d.picked}/${d.qty}` : "";
  li.textContent = `#${e.seq} ${e.type} ${subject}${line}${qty}`;
  const ol = $("events"); ol.prepend(li);
  while (ol.children.length > 60) ol.lastChild.remove();
}

function renderKpis() {
  const lit = [...state.locations.values()].filter((l) => l.light).length;
  const since = Date.now() - 60000;
  const lastMinute = state.times.filter((t) => t >= since).length;
  $("kpis").textContent = `${lit} lit · ${state.exceptions.size} open exceptions · ${(lastMinute / 60).toFixed(1)} events/s (last minute) · seq ${state.seq}`;
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault(); sessionStorage.setItem("fg-token", $("token").value); connect();
});
connect();
