// FloorGate live client shared by every page: token login, the stream (snapshot, deltas, resume), the
// floor state it keeps, and DOM helpers that only ever set text (data never goes through innerHTML).
"use strict";

const ACTIVE_ORDER = new Set(["open", "picking"]);
const ACTING_ROLES = new Set(["supervisor", "admin"]);

const live = {
  role: null, site: "", seq: 0, connected: false,
  zones: [], locations: new Map(), orders: new Map(), exceptions: new Map(),
  devices: new Map(), stations: new Map(), putaways: new Map(), counts: new Map(), walls: new Map(),
  awaitingAck: {}, kpis: null, events: [],
  listeners: [],
  canAct() { return ACTING_ROLES.has(this.role); },
  onChange(fn) { this.listeners.push(fn); },
};

const $ = (id) => document.getElementById(id);

// el("div", {class: "x", dataset: {a: 1}, onclick}, "text", child...): text children become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style") Object.assign(node.style, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function showLogin(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

function setConnected(on, text) {
  live.connected = on;
  const pill = $("conn");
  if (!pill) return;
  pill.textContent = text || (on ? "live" : "reconnecting…");
  pill.className = "pill " + (on ? "on" : "off");
}

let socket = null;
let retryMs = 500;

function connect() {
  // The token is the session cookie (HttpOnly: this script never sees it), sent with the handshake.
  const proto = location.protocol === "https:" ? "wss" : "ws";
  // Resume from the last seq seen: the edge sends what was missed, or a fresh snapshot if it cannot.
  const after = live.seq ? `?after=${live.seq}` : "";
  socket = new WebSocket(`${proto}://${location.host}/api/v1/stream${after}`);
  socket.onmessage = (msg) => { retryMs = 500; apply(JSON.parse(msg.data)); };
  socket.onclose = (ev) => {
    if (ev.code === 1008) {
      setConnected(false, "signed out");
      showLogin(ev.reason === "missing token" ? "" : "That token was refused. Enter a valid access token.");
      return;
    }
    setConnected(false, live.seq ? "reconnecting…" : "cannot reach the edge, retrying…");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

function upsert(map, entries, key, keep) {
  for (const entry of entries || []) {
    if (keep && !keep(entry)) map.delete(entry[key]);
    else map.set(entry[key], entry);
  }
}

function apply(msg) {
  setConnected(true);
  $("login").hidden = true;
  $("app").hidden = false;
  if (msg.type === "snapshot") {
    live.role = msg.role || live.role;
    live.site = msg.site || live.site;
    live.zones = msg.zones;
    for (const map of [live.locations, live.orders, live.exceptions, live.devices, live.stations, live.putaways, live.counts, live.walls]) map.clear();
    live.events = [];
    for (const e of msg.recent_events || []) live.events.push(e);
  }
  upsert(live.locations, msg.locations, "code");
  upsert(live.orders, msg.orders, "order_id", (o) => ACTIVE_ORDER.has(o.status));
  upsert(live.exceptions, msg.exceptions, "id", (x) => x.status === "open");
  upsert(live.devices, msg.devices, "id");
  upsert(live.stations, msg.stations, "id");
  upsert(live.putaways, msg.putaways, "task_id");
  upsert(live.counts, msg.counts, "count_id");
  upsert(live.walls, msg.walls, "id");
  if (msg.awaiting_ack) live.awaitingAck = msg.awaiting_ack;
  if (msg.kpis) live.kpis = msg.kpis;
  if (msg.type !== "snapshot") for (const e of msg.events || []) live.events.push(e);
  if (live.events.length > 200) live.events.splice(0, live.events.length - 200);
  live.seq = msg.seq;
  for (const fn of live.listeners) fn(msg);
}

async function api(method, path, body) {
  const response = await fetch(`/api/v1${path}`, {
    method,
    headers: { "Content-Type": "application/json" },  // the session cookie carries the token
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let detail = "";
  if (!response.ok) {
    try { const data = await response.json(); detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail); }
    catch (err) { detail = response.statusText; }
  }
  return { ok: response.ok, status: response.status, detail };
}

// The pickers at work: one row per zone run of an order being picked, with its progress in that zone.
function activePickers() {
  const rows = [];
  for (const order of live.orders.values()) {
    for (const run of order.zones || []) {
      if (run.done) continue;
      const lines = order.lines.filter((l) => {
        const loc = live.locations.get(l.location);
        return !loc || loc.zone === run.zone;
      });
      const done = lines.filter((l) => l.status === "picked" || l.status === "short").length;
      rows.push({
        picker: run.operator || run.picker, zone: run.zone, color: run.color, order: order.order_id,
        tote: order.tote, lines, done, left: lines.length - done,
      });
    }
  }
  rows.sort((a, b) => a.zone.localeCompare(b.zone) || a.picker.localeCompare(b.picker));
  return rows;
}

// The pickers at work, a batch picker's orders (one picker, zone and colour) as one walk: each bin once,
// with the orders' quantities there summed, as the bin shows it.
function pickerWalks() {
  const walks = new Map();
  for (const p of activePickers()) {
    const key = `${p.picker}\u0000${p.zone}\u0000${p.color}`;
    const walk = walks.get(key);
    if (walk) { walk.orders.push(p); } else walks.set(key, { ...p, orders: [p] });
  }
  return [...walks.values()].map((walk) => {
    if (walk.orders.length === 1) return walk;
    // Named by its first order id, whichever order the stream delivered the orders in.
    walk.orders.sort((a, b) => a.order.localeCompare(b.order));
    const bins = new Map();
    for (const line of walk.orders.flatMap((p) => p.lines)) {
      const bin = bins.get(line.location);
      if (!bin) { bins.set(line.location, { ...line }); continue; }
      bin.qty += line.qty;
      if (line.status === "lit" || bin.status === "lit") bin.status = "lit";
      else if (!(line.status === "picked" || line.status === "short")) bin.status = line.status;
    }
    // A batch lights its bins itself (its orders' lines stay open): lit is what the bin shows, in its colour.
    for (const bin of bins.values()) {
      const loc = live.locations.get(bin.location);
      const shown = loc && loc.light && loc.light.color === walk.color;
      if (shown && !(bin.status === "picked" || bin.status === "short")) bin.status = "lit";
    }
    const lines = [...bins.values()];
    const done = lines.filter((l) => l.status === "picked" || l.status === "short").length;
    return { ...walk, order: `${walk.orders[0].order} + ${walk.orders.length - 1} more`, lines, done, left: lines.length - done };
  });
}

function grams(value) {
  if (value === null || value === undefined) return "—";
  return `${Number(value).toLocaleString("en-US", { maximumFractionDigits: 1 })} g`;
}

function percent(value) {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)} %`;
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString("en-GB", { hour12: false }) : "";
}

// Re-render at most once per animation frame however many messages arrive.
function scheduleRender(fn) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; fn(); });
  };
}

function startLive() {
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    // Posted, never put in a URL: the edge answers with the HttpOnly session cookie.
    fetch("/session", { method: "POST", body: new URLSearchParams({ token: $("token").value.trim() }) })
      .then((response) => {
        $("token").value = "";
        if (response.ok) connect();
        else showLogin("That token was refused. Enter a valid access token.");
      })
      .catch(() => showLogin("Cannot reach the edge. Try again."));
  });
  connect();
}

// A cubby's lines left, in units: what its order still waits for at the wall.
function unitsLeft(cubby) {
  return (cubby.lines_left || []).reduce((sum, line) => sum + line.qty, 0);
}

// The colour class of a cubby's state: free dark, filling in the put colour, done green, removing vermillion.
const CUBBY_TONE = { free: "", filling: "c-blue", done: "c-green", removing: "c-vermillion" };
