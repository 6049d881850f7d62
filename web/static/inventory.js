// FloorGate supervisor view, stock work: cycle counts with the variance of each bin, putaways waiting and
// done, and the inventory-accuracy KPI card. The stream keeps live.counts and live.putaways (live.js).
"use strict";

// Finished work a dashboard keeps besides what is open (as many as a new dashboard's snapshot brings).
const FINISHED_COUNTS_KEPT = 5;
const FINISHED_PUTAWAYS_KEPT = 20;
const PUTAWAY_ROWS = 12;
const OPEN_PUTAWAY = new Set(["queued", "lit"]);

// Children of `root` for `items`, in order, keyed by `idOf` (in `attr`, a data attribute): an item's node is
// built again only when the item changed, so a card or row is not swapped under the supervisor's pointer
// on every message (the stream sends one every second).
function keyedChildren(root, items, attr, idOf, build, keys) {
  const kept = new Map();
  for (const node of root.children) if (node.dataset[attr]) kept.set(node.dataset[attr], node);
  const wanted = new Set(items.map(idOf));
  for (const [id, node] of kept) if (!wanted.has(id)) { node.remove(); keys.delete(id); }
  for (const node of [...root.children]) if (!node.dataset[attr]) node.remove();
  let previous = null;
  for (const item of items) {
    const id = idOf(item), key = JSON.stringify(item);
    let node = kept.get(id);
    if (!node || keys.get(id) !== key) {
      const fresh = build(item);
      if (node && node.isConnected) node.replaceWith(fresh);
      node = fresh;
      keys.set(id, key);
    }
    const expected = previous ? previous.nextSibling : root.firstChild;
    if (node !== expected) root.insertBefore(node, expected);
    previous = node;
  }
}

const countCardKeys = new Map();
const putawayRowKeys = new Map();

function signed(n) {
  return n > 0 ? `+${n}` : String(n);
}

// Open work stays; of the finished, only the latest `keep` (by when they finished) are kept.
function pruneFinished(map, isOpen, keep) {
  const finished = [...map.values()].filter((x) => !isOpen(x))
    .sort((a, b) => (a.finished_at || "").localeCompare(b.finished_at || ""));
  for (const x of finished.slice(0, Math.max(0, finished.length - keep))) map.delete(x.count_id || x.task_id);
}

function inventoryKpiCard(s) {
  const tone = s.bins_with_variance ? "warn" : "";
  return kpiCard("Inventory accuracy · shift", percent(s.inventory_accuracy),
    `${s.bins_counted} bin${s.bins_counted === 1 ? "" : "s"} counted · ${s.bins_with_variance} with a variance · net ${signed(s.net_adjustment)} · ${s.putaways} put away`,
    tone, "kpi-inventory");
}

function countBinChip(bin) {
  const counted = bin.status === "counted";
  const off = counted && bin.variance !== null && bin.variance !== 0;
  const tone = !counted ? `pending s-${bin.status}` : off ? "off" : "ok";
  let figure = bin.status === "lit" ? "counting…" : bin.status === "queued" ? "waiting" : bin.status;
  if (counted) {
    figure = bin.expected === null || bin.variance === null ? `${bin.counted} (no record)`
      : `${bin.counted} of ${bin.counted - bin.variance} · ${signed(bin.variance)}`;
  }
  return el("span", { class: `bin-chip ${tone}`, dataset: { countBin: bin.location },
    title: `${bin.location} · ${bin.sku || "no sku"}${bin.recounts ? ` · recount ${bin.recounts}` : ""}` },
    el("b", {}, bin.location), " ", el("span", { dataset: { testid: "bin-variance" } }, figure));
}

function countCard(c) {
  const counted = c.bins.filter((b) => b.status === "counted").length;
  const toCount = c.bins.filter((b) => b.status !== "cancelled").length;
  return el("div", { class: `task-card st-${c.status}`, dataset: { count: c.count_id } },
    el("div", { class: "task-head" },
      el("strong", {}, c.count_id),
      el("span", { class: "muted" }, `${c.zone ? `zone ${c.zone}` : "bins"}${c.blind ? " · blind" : ""}`),
      el("span", { class: `task-status st-${c.status}`, dataset: { testid: "count-status" } }, c.status)),
    el("div", { class: "task-figures", dataset: { testid: "count-progress" } },
      `${counted} / ${toCount} bins counted · ${c.bins_with_variance} with a variance · net ${signed(c.net_adjustment)}`),
    el("div", { class: "bin-chips" }, c.bins.filter((b) => b.status !== "cancelled").map(countBinChip)));
}

function renderCounts() {
  const isOpen = (c) => c.status === "counting";
  pruneFinished(live.counts, isOpen, FINISHED_COUNTS_KEPT);
  const counts = [...live.counts.values()]
    .sort((a, b) => isOpen(b) - isOpen(a) || (b.started_at || "").localeCompare(a.started_at || ""));
  const open = counts.filter(isOpen).length;
  $("count-summary").textContent = `${open} in progress`;
  if (!counts.length) { $("counts").replaceChildren(el("p", { class: "muted" }, "No cycle counts yet.")); return; }
  keyedChildren($("counts"), counts, "count", (c) => c.count_id, countCard, countCardKeys);
}

function putawayRow(p) {
  const amount = p.status === "put" ? `${p.put} of ${p.qty}` : String(p.qty);
  return el("tr", { dataset: { putaway: p.task_id }, class: OPEN_PUTAWAY.has(p.status) ? "" : "done-row" },
    el("td", {}, p.task_id), el("td", {}, p.sku), el("td", {}, p.location),
    el("td", { class: "num" }, amount),
    el("td", {}, el("span", { class: `task-status st-${p.status}`, dataset: { testid: "putaway-status" } }, p.status)));
}

function renderPutaways() {
  const isOpen = (p) => OPEN_PUTAWAY.has(p.status);
  pruneFinished(live.putaways, isOpen, FINISHED_PUTAWAYS_KEPT);
  const rank = { lit: 0, queued: 1, put: 2, cancelled: 3 };
  const all = [...live.putaways.values()];
  const waiting = all.filter(isOpen).length;
  const put = all.filter((p) => p.status === "put").length;
  $("putaway-summary").textContent = `${waiting} waiting · ${put} done`;
  const shown = all.sort((a, b) => rank[a.status] - rank[b.status]
    || (b.finished_at || b.created_at || "").localeCompare(a.finished_at || a.created_at || "")).slice(0, PUTAWAY_ROWS);
  if (!shown.length) {
    $("putaways").replaceChildren(...labelled($("putaways"), [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No putaways yet."))]));
    return;
  }
  const row = (p) => labelled($("putaways"), [putawayRow(p)])[0];
  keyedChildren($("putaways"), shown, "putaway", (p) => p.task_id, row, putawayRowKeys);
}
