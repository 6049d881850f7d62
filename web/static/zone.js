// FloorGate zone screen for pickers: each picker's colour, current order, lines left and the bins to visit.
"use strict";

const zoneId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());

// A line's chip: done once picked or shorted, in the picker's colour while its bin is lit, plain until then.
function chipState(line, color) {
  if (line.status === "picked" || line.status === "short") return "done";
  return line.status === "lit" ? `lit c-${color}` : "";
}

function render() {
  const zone = live.zones.find((z) => z.id === zoneId);
  $("title").textContent = zone ? (zone.name && zone.name !== zone.id ? zone.name : `Zone ${zone.id}`) : `Zone ${zoneId}`;
  if (!zone) {
    $("screen").replaceChildren(el("div", { class: "empty" }, `There is no zone ${zoneId} on this edge.`));
    return;
  }
  const pickers = pickerWalks().filter((p) => p.zone === zoneId);
  if (!pickers.length) {
    $("screen").replaceChildren(el("div", { class: "empty", dataset: { testid: "no-picker" } }, "No order in progress. Scan a tote at the start station to begin."));
    return;
  }
  $("screen").replaceChildren(...pickers.map((p) => el("div", { class: "picker-card", dataset: { picker: p.picker, testid: "picker-card" } },
    el("div", { class: `colour c-${p.color}` }, p.color.toUpperCase()),
    el("div", { class: "body" },
      el("div", { class: "order" }, `${p.picker} · order ${p.order}${p.tote ? ` · tote ${p.tote}` : ""}`),
      el("div", {}, el("span", { class: "left", dataset: { testid: "lines-left" } }, String(p.left)), el("span", { class: "muted" }, p.left === 1 ? " line left" : " lines left"),
        el("span", { class: "muted" }, ` of ${p.lines.length}`)),
      el("div", { class: "bins" }, ...p.lines.map((l) => el("span", { class: `chip ${chipState(l, p.color)}`, dataset: { testid: "line-chip" } },
        `${l.location || "?"} × ${l.qty}`)))))));
}

live.onChange(scheduleRender(render));
startLive();
