// FloorGate supervisor view: KPIs, zones with live lights, put walls, pickers, pack stations, counts and
// putaways (inventory.js), exceptions, devices, events.
"use strict";

const resolving = new Set();
const resolveFailures = new Map();
const exceptionKeys = new Map();
const overrideDraft = { station: null, reason: "", error: "" };
const stationCardKeys = new Map();

function renderHeader() {
  $("site").textContent = live.site ? `site ${live.site}` : "";
  $("role").textContent = live.role ? `role: ${live.role}` : "";
  $("clock").textContent = `seq ${live.seq}`;
}

function kpiCard(label, main, sub, tone, testid) {
  return el("div", { class: `kpi ${tone || ""}`, dataset: { testid } },
    el("div", { class: "kpi-label" }, label),
    el("div", { class: "kpi-value" }, main),
    el("div", { class: "kpi-sub" }, sub));
}

function renderKpis() {
  const k = live.kpis;
  if (!k) return;
  const w = k.last_15m, s = k.shift;
  const online = [...live.devices.values()].filter((d) => d.online).length;
  const accuracyTone = w.pick_accuracy !== null && w.pick_accuracy < 0.98 ? "warn" : "";
  $("kpis").replaceChildren(
    kpiCard("Lines / hour · 15 min", w.lines_per_hour.toFixed(0), `${w.lines} lines · shift ${s.lines_per_hour.toFixed(0)}/h, ${s.lines} lines`, "", "kpi-lines"),
    kpiCard("Pick accuracy · 15 min", percent(w.pick_accuracy), `${w.rejected_picks} refused picks · shift ${percent(s.pick_accuracy)}`, accuracyTone, "kpi-accuracy"),
    kpiCard("Shorts · 15 min", String(w.shorts), `shift ${s.shorts}`, w.shorts ? "warn" : "", "kpi-shorts"),
    kpiCard("Weight-check failures · 15 min", `${w.weight_failures} / ${w.weight_checks}`, `shift ${s.weight_failures} / ${s.weight_checks} · ${s.overrides} overridden`, w.weight_failures ? "bad" : "", "kpi-weight"),
    kpiCard("Events / s · 15 min", w.events_per_s.toFixed(1), `shift ${s.events_per_s.toFixed(1)}/s · ${s.events} events`, "", "kpi-events"),
    kpiCard("Open exceptions", String(live.exceptions.size), `${online}/${live.devices.size} devices online`, live.exceptions.size ? "bad" : "", "kpi-exceptions"),
    inventoryKpiCard(s),
  );
}

function renderZones() {
  const root = $("zones");
  root.replaceChildren(...live.zones.map((zone) => el("section", { class: "panel zone", dataset: { zone: zone.id } },
    el("h2", {},
      zone.name && zone.name !== zone.id ? zone.name : `Zone ${zone.id}`,
      el("a", { class: "screen-link", href: `/zones/${encodeURIComponent(zone.id)}` }, "zone screen ↗"),
      el("span", { class: "zone-stats", dataset: { zoneStats: zone.id } })),
    el("div", { class: "grid" }))));
  for (const loc of live.locations.values()) renderBin(loc);
  renderZoneStats();
}

function renderZoneStats() {
  for (const zone of live.zones) {
    const node = document.querySelector(`[data-zone-stats="${CSS.escape(zone.id)}"]`);
    if (!node) continue;
    const locs = [...live.locations.values()].filter((l) => l.zone === zone.id);
    const lit = locs.filter((l) => l.light).length;
    const offline = locs.filter((l) => l.online === false).length;
    node.textContent = `${lit} lit · ${locs.length} bins` + (offline ? ` · ${offline} offline` : "");
    node.className = "zone-stats" + (offline ? " bad-text" : "");
  }
}

function renderBin(loc) {
  let node = document.querySelector(`[data-location="${CSS.escape(loc.code)}"]`);
  if (!node) {
    const grid = document.querySelector(`[data-zone="${CSS.escape(loc.zone)}"] .grid`);
    if (!grid) return;
    node = el("div", { dataset: { location: loc.code, module: loc.module || "" } });
    grid.append(node);
  }
  const light = loc.light;
  const unacked = loc.module && live.awaitingAck[loc.module];
  node.className = "bin" + (light ? ` lit c-${light.color} blink-${light.blink}` : "")
    + (loc.online === false ? " offline" : "") + (unacked ? " unacked" : "");
  node.title = `${loc.code} · module ${loc.module || "-"} · ${loc.sku || "no sku"} · on hand ${loc.on_hand ?? "?"}`
    + (light ? ` · order ${light.order_id} line ${light.line_id}` : "");
  node.replaceChildren(...[
    el("div", { class: "code" }, loc.code),
    el("div", { class: "qty", dataset: { testid: "display" } }, light ? light.display : ""),
    loc.online === false ? el("div", { class: "health" }, "offline") : null,
    unacked ? el("div", { class: "health", title: "command awaiting ack" }, "⟳") : null,
  ].filter(Boolean));
}

// A put wall: each cubby in its state's colour with its order and the units still to come.
function renderWalls() {
  const walls = [...live.walls.values()].sort((a, b) => a.id.localeCompare(b.id));
  $("walls").replaceChildren(...walls.map((wall) => {
    const count = (state) => wall.cubbies.filter((c) => c.state === state).length;
    const screen = wall.screen;
    return el("section", { class: "panel wall", dataset: { wall: wall.id } },
      el("h2", {}, `Put wall ${wall.id}`,
        el("a", { class: "screen-link", href: `/walls/${encodeURIComponent(wall.id)}` }, "wall screen ↗"),
        el("span", { class: "zone-stats", dataset: { testid: "wall-stats" } },
          `${wall.batch_id ? `batch ${wall.batch_id}` : "no batch sorting"} · ${count("filling")} filling · ${count("done")} done · ${count("free")} free`)),
      screen.scan ? el("p", { class: `wall-scan${screen.error ? " bad-text" : ""}`, dataset: { testid: "wall-scan" } },
        `last scan ${screen.scan}` + (screen.error ? ` refused: ${screen.message}` : screen.cubby ? ` → ${screen.cubby} × ${screen.qty}` : "")) : null,
      el("div", { class: "cubbies" }, ...wall.cubbies.map((c) => {
        const left = unitsLeft(c);
        return el("div", { class: `cubby ${c.state} ${CUBBY_TONE[c.state] || ""}`, dataset: { cubby: c.cubby, state: c.state },
          title: `${c.cubby} · ${c.state}` + (c.order_id ? ` · order ${c.order_id}` : "") + (c.lines_left.length ? ` · left ${c.lines_left.map((l) => `${l.sku} × ${l.qty}`).join(", ")}` : "") },
          el("div", { class: "cubby-id" }, c.cubby),
          el("div", { class: "cubby-order" }, c.order_id || "free"),
          c.order_id ? el("div", { class: "cubby-left", dataset: { testid: "lines-left" } },
            c.state === "done" ? "done" : `${c.lines_left.length} line${c.lines_left.length === 1 ? "" : "s"} · ${left} left`) : null);
      })));
  }));
}

// Each cell carries its column's heading (data-label): on a phone a row is shown as a card of labelled cells.
function labelled(tbody, rows) {
  const headings = [...tbody.closest("table").querySelectorAll("thead th")].map((th) => th.textContent);
  for (const row of rows) {
    [...row.cells].forEach((cell, i) => { if (cell.colSpan === 1) cell.dataset.label = headings[i]; });
  }
  return rows;
}

function renderPickers() {
  const byPicker = new Map();
  for (const p of (live.kpis ? live.kpis.last_15m.pickers : [])) byPicker.set(p.picker, p);
  const rows = pickerWalks().map((p) => {
    const stats = byPicker.get(p.picker);
    const pct = p.lines.length ? Math.round((p.done / p.lines.length) * 100) : 0;
    return el("tr", { dataset: { picker: p.picker } },
      el("td", {}, el("span", { class: `swatch c-${p.color}` }), p.picker),
      el("td", {}, p.zone),
      el("td", {}, p.order),
      el("td", {}, el("div", { class: "progress" }, el("div", { class: `bar c-${p.color}`, style: { width: `${pct}%` } })),
        el("span", { class: "progress-text" }, `${p.done}/${p.lines.length} lines`)),
      el("td", { class: "num" }, stats ? stats.lines_per_hour.toFixed(0) : "—"),
      el("td", { class: "num" }, stats ? percent(stats.pick_accuracy) : "—"),
      el("td", { class: "num" }, stats ? String(stats.shorts) : "0"));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "Nobody is picking right now.")));
  $("pickers").replaceChildren(...labelled($("pickers"), rows));
}

const VERDICT_TEXT = { verified: "PASS", rejected: "FAIL", overridden: "ACCEPTED", weighing: "WEIGHING", idle: "IDLE", blocked: "BLOCKED" };

function stationCard(st) {
  const reading = st.scale || {};
  const card = el("div", { class: `station phase-${st.state}`, dataset: { station: st.id } },
    el("div", { class: "station-head" },
      el("strong", {}, st.id),
      el("span", { class: `verdict v-${st.state}`, dataset: { testid: "verdict" } }, VERDICT_TEXT[st.state] || st.state),
      el("a", { class: "screen-link", href: `/stations/${encodeURIComponent(st.id)}` }, "packer screen ↗")),
    el("div", { class: "station-order" }, st.order_id ? `order ${st.order_id}` : "no order"),
    el("div", { class: "weights" },
      el("div", {}, el("span", { class: "muted" }, "expected "), el("b", {}, grams(st.expected_g)), st.tolerance_applied_g !== null ? el("span", { class: "muted" }, ` ± ${grams(st.tolerance_applied_g)}`) : null),
      el("div", {}, el("span", { class: "muted" }, "measured "), el("b", {}, grams(st.measured_g)),
        st.delta_g !== null ? el("span", { class: st.verdict === "rejected" ? "bad-text" : "muted" }, ` (${st.delta_g > 0 ? "+" : ""}${grams(st.delta_g)})`) : null),
      el("div", { class: "muted" }, `scale ${reading.grams === null || reading.grams === undefined ? "—" : grams(reading.grams)}${reading.stable ? " stable" : ""}${reading.condition && reading.condition !== "ok" ? ` · ${reading.condition}` : ""}`)),
    st.message ? el("div", { class: "station-msg" }, st.message) : null);
  if (st.overridable && live.canAct()) card.append(overrideForm(st));
  return card;
}

function overrideForm(st) {
  if (overrideDraft.station !== st.id) {
    return el("button", { class: "act", dataset: { testid: "override" }, onclick: () => {
      overrideDraft.station = st.id; overrideDraft.reason = ""; overrideDraft.error = "";
      stationCardKeys.clear(); renderStations();
      const input = document.querySelector(`[data-station="${CSS.escape(st.id)}"] input`);
      if (input) input.focus();
    } }, "Override weight check…");
  }
  const input = el("input", { type: "text", placeholder: "reason (required)", maxlength: 200, value: overrideDraft.reason, dataset: { testid: "override-reason" },
    oninput: (ev) => { overrideDraft.reason = ev.target.value; } });
  input.value = overrideDraft.reason;
  const submit = async (ev) => {
    ev.preventDefault();
    const reason = overrideDraft.reason.trim();
    if (!reason) { overrideDraft.error = "Say why the carton is accepted."; stationCardKeys.clear(); renderStations(); return; }
    const result = await api("POST", `/stations/${encodeURIComponent(st.id)}/override`, { order_id: st.order_id, reason });
    if (result.ok) { overrideDraft.station = null; overrideDraft.error = ""; }
    else overrideDraft.error = `Refused (${result.status}): ${result.detail}`;
    stationCardKeys.clear(); renderStations();
  };
  return el("form", { class: "override", onsubmit: submit },
    input,
    el("button", { type: "submit", class: "act", dataset: { testid: "override-confirm" } }, `Accept order ${st.order_id}`),
    el("button", { type: "button", class: "ghost", onclick: () => { overrideDraft.station = null; stationCardKeys.clear(); renderStations(); } }, "Cancel"),
    overrideDraft.error ? el("p", { class: "bad-text", role: "alert" }, overrideDraft.error) : null);
}

function renderStations() {
  const root = $("stations");
  const stations = [...live.stations.values()].sort((a, b) => a.id.localeCompare(b.id));
  if (!stations.length) { root.replaceChildren(el("p", { class: "muted" }, "No pack stations on this edge.")); stationCardKeys.clear(); return; }
  const seen = new Set();
  for (const st of stations) {
    seen.add(st.id);
    // Rebuild a card only when its station changed: a supervisor may be typing an override reason in it.
    const key = JSON.stringify(st) + live.role;
    if (stationCardKeys.get(st.id) === key && root.querySelector(`[data-station="${CSS.escape(st.id)}"]`)) continue;
    stationCardKeys.set(st.id, key);
    const focused = document.activeElement && document.activeElement.closest(`[data-station="${CSS.escape(st.id)}"]`) && document.activeElement.tagName === "INPUT";
    const card = stationCard(st);
    const old = root.querySelector(`[data-station="${CSS.escape(st.id)}"]`);
    if (old) old.replaceWith(card); else root.append(card);
    if (focused) { const input = card.querySelector("input"); if (input) input.focus(); }
  }
  for (const node of [...root.children]) if (!seen.has(node.dataset.station)) node.remove();
}

function exceptionItem(x) {
  const li = el("li", { dataset: { exception: x.id } },
    el("div", { class: "x-head" }, el("span", { class: "x-kind" }, x.kind), el("span", { class: "muted" }, ` ${clock(x.last_at || x.raised_at)}`),
      x.count > 1 ? el("span", { class: "count" }, `×${x.count}`) : null),
    el("div", { class: "x-msg" }, x.message));
  if (live.canAct()) {
    const failure = resolveFailures.get(x.id);
    li.append(el("button", { class: "act", disabled: resolving.has(x.id), dataset: { testid: "resolve" }, onclick: async () => {
      resolving.add(x.id); resolveFailures.delete(x.id); renderExceptions();
      const result = await api("POST", `/exceptions/${x.id}/resolve`, {});
      resolving.delete(x.id);
      if (!result.ok) resolveFailures.set(x.id, `Resolve failed (${result.status}): ${result.detail}`);
      renderExceptions();
    } }, "Resolve"));
    if (failure) li.append(el("p", { class: "bad-text", role: "alert" }, failure));
  }
  return li;
}

// Keyed: an exception's item is rebuilt only when it changed, and new ones are inserted around the
// others, so a Resolve button is never swapped for another one under the supervisor's pointer.
function renderExceptions() {
  $("exception-count").textContent = live.exceptions.size ? String(live.exceptions.size) : "";
  const root = $("exceptions");
  const open = [...live.exceptions.values()].sort((a, b) => b.id - a.id);
  for (const id of resolveFailures.keys()) if (!live.exceptions.has(id)) resolveFailures.delete(id);
  if (!open.length) { root.replaceChildren(el("li", { class: "muted" }, "No open exceptions.")); exceptionKeys.clear(); return; }
  const kept = new Map();
  for (const node of root.children) if (node.dataset.exception) kept.set(Number(node.dataset.exception), node);
  let previous = null;
  for (const x of open) {
    const key = JSON.stringify(x) + live.role + resolving.has(x.id) + (resolveFailures.get(x.id) || "");
    let node = kept.get(x.id);
    if (!node || exceptionKeys.get(x.id) !== key) {
      const fresh = exceptionItem(x);
      if (node) node.replaceWith(fresh);
      node = fresh;
      exceptionKeys.set(x.id, key);
    }
    const expected = previous ? previous.nextSibling : root.firstChild;
    if (node !== expected) root.insertBefore(node, expected);
    previous = node;
  }
  for (const node of [...root.children]) if (!node.dataset.exception || !live.exceptions.has(Number(node.dataset.exception))) node.remove();
  for (const id of exceptionKeys.keys()) if (!live.exceptions.has(id)) exceptionKeys.delete(id);
}

function renderDevices() {
  const devices = [...live.devices.values()];
  const online = devices.filter((d) => d.online).length;
  const offline = devices.filter((d) => d.online === false);
  const waiting = Object.keys(live.awaitingAck);
  $("device-summary").textContent = `${online} of ${devices.length} online · ${offline.length} offline · ${waiting.length} command${waiting.length === 1 ? "" : "s"} awaiting ack`;
  $("device-summary").className = "summary" + (offline.length ? " bad-text" : "");
  const rank = (d) => (d.online === false ? 0 : live.awaitingAck[d.id] ? 1 : d.kind !== "ptl" ? 2 : 3);
  devices.sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id));
  const shown = devices.slice(0, 10);
  const rows = shown.map((d) => {
    const pending = live.awaitingAck[d.id];
    return el("tr", { dataset: { device: d.id }, class: d.online === false ? "bad-row" : "" },
      el("td", {}, d.id), el("td", {}, d.kind),
      el("td", {}, el("span", { class: `dot ${d.online ? "on" : d.online === false ? "off" : ""}` }), d.online ? "online" : d.online === false ? "offline" : "unknown"),
      el("td", {}, ago(d.last_seen)),
      el("td", {}, pending ? `seq ${pending.seq} · ${pending.attempts} tries · ${pending.age_s.toFixed(1)} s` : "—"));
  });
  if (devices.length > shown.length) rows.push(el("tr", {}, el("td", { colspan: 5, class: "muted" }, `+ ${devices.length - shown.length} more, all online with nothing awaiting ack`)));
  $("devices").replaceChildren(...labelled($("devices"), rows));
}

function describe(e) {
  const d = e.data || {};
  const bits = [];
  if (d.order) bits.push(d.order);
  if (d.line) bits.push(`line ${d.line}`);
  if (d.location) bits.push(`@ ${d.location}`);
  if (d.count_id) bits.push(d.count_id);
  if (d.task_id) bits.push(d.task_id);
  if (d.picked !== undefined && d.qty !== undefined) bits.push(`${d.picked}/${d.qty}`);
  if (d.put !== undefined && d.put !== null) bits.push(`put ${d.put}`);
  if (d.counted !== undefined) bits.push(`counted ${d.counted}` + (d.variance ? ` (${d.variance > 0 ? "+" : ""}${d.variance})` : ""));
  if (d.reason && d.on_hand !== undefined) bits.push(`${d.previous ?? "?"} → ${d.on_hand} (${d.reason})`);
  if (d.operator) bits.push(`by ${d.operator}`);
  if (d.station) bits.push(`at ${d.station}`);
  if (d.measured_g !== undefined && d.measured_g !== null) bits.push(`${grams(d.measured_g)} vs ${grams(d.expected_g)}`);
  if (d.device && !d.location) bits.push(d.device);
  if (d.message) bits.push(d.message);
  return bits.join(" ");
}

function renderEvents() {
  const items = live.events.slice(-40).reverse().map((e) => el("li", { class: `ev t-${e.type.split(".")[0]}`, dataset: { seq: e.seq } },
    el("span", { class: "ev-time" }, clock(e.timestamp)),
    el("span", { class: "ev-type" }, e.type),
    el("span", { class: "ev-text" }, describe(e))));
  $("events").replaceChildren(...items);
}

let zonesDirty = true;
const renderAll = scheduleRender(() => {
  renderHeader();
  if (zonesDirty) { renderZones(); zonesDirty = false; }
  renderKpis(); renderZoneStats(); renderWalls(); renderPickers(); renderStations(); renderCounts(); renderPutaways(); renderExceptions(); renderDevices(); renderEvents();
});

live.onChange((msg) => {
  if (msg.type === "snapshot") { zonesDirty = true; stationCardKeys.clear(); }
  else {
    for (const loc of msg.locations || []) renderBin(loc);
    // Bins whose modules gained or lost a waiting command: redraw their ack marker.
    if (msg.awaiting_ack) for (const loc of live.locations.values()) if (loc.module) {
      const node = document.querySelector(`[data-location="${CSS.escape(loc.code)}"]`);
      if (node && node.classList.contains("unacked") !== Boolean(live.awaitingAck[loc.module])) renderBin(loc);
    }
  }
  renderAll();
});

startLive();
