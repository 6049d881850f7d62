// FloorGate put-wall screen for sorters: the last scan, the cubby to put it into and how many, a wrong scan in red.
"use strict";

const wallId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
let lastKey = "";

function cubbyTile(cubby) {
  const left = unitsLeft(cubby);
  return el("div", { class: `cubby ${cubby.state} ${CUBBY_TONE[cubby.state] || ""}`, dataset: { cubby: cubby.cubby, state: cubby.state } },
    el("div", { class: "cubby-id" }, cubby.cubby),
    el("div", { class: "cubby-order" }, cubby.order_id || "free"),
    cubby.state === "filling" ? el("div", { class: "cubby-left" }, `${left} to put`) : null,
    cubby.state === "done" ? el("div", { class: "cubby-left" }, "take out") : null,
    cubby.state === "removing" ? el("div", { class: "cubby-left" }, "empty it") : null);
}

// A put waits for the sorter while its cubby shows the units the last scan sent there.
function pendingPut(wall) {
  const screen = wall.screen;
  if (screen.error || !screen.cubby) return null;
  const cubby = wall.cubbies.find((c) => c.cubby === screen.cubby);
  const waiting = cubby && cubby.state === "filling" && cubby.light && cubby.light.display === String(screen.qty);
  return waiting ? cubby : null;
}

// What the sorter does now: put into the lit cubby, take out a done one, or scan the next item.
function nextStep(wall, target) {
  const screen = wall.screen;
  if (screen.error) return screen.message || "That item is not for this wall. Put it aside.";
  if (target) return `Put ${screen.qty} into ${target.cubby}, then press its button.`;
  const done = wall.cubbies.filter((c) => c.state === "done").map((c) => c.cubby);
  if (done.length) return `Take out ${done.join(", ")} and press the button.`;
  return wall.batch_id ? "Scan the next item." : "Scan an item of a picked batch to start sorting.";
}

function render() {
  const wall = live.walls.get(wallId);
  $("title").textContent = `Put wall ${wallId}`;
  const key = JSON.stringify(wall || null);
  if (key === lastKey) return;
  lastKey = key;
  if (!wall) {
    $("screen").className = "screen-main";
    $("screen").replaceChildren(el("div", { class: "empty" }, `There is no put wall ${wallId} on this edge.`));
    return;
  }
  const screen = wall.screen;
  const target = pendingPut(wall);
  // After a confirm the last put stays on screen, muted, until the next scan.
  const last = !target && !screen.error && screen.cubby ? screen : null;
  const color = target && target.light ? target.light.color : "blue";
  let banner;
  if (screen.error) banner = el("div", { class: "banner fail", dataset: { testid: "verdict" } }, "WRONG");
  else if (target) banner = el("div", { class: `banner lit c-${color}`, dataset: { testid: "verdict" } }, "PUT");
  else banner = el("div", { class: "banner", dataset: { testid: "verdict" } }, "SCAN ITEM");
  $("screen").className = "screen-main" + (screen.error ? " wrong" : "");
  $("screen").replaceChildren(
    banner,
    el("div", { class: "big-pair" },
      el("div", { class: "big" }, el("div", { class: "label" }, "Cubby"),
        el("div", { class: `value${last ? " muted" : ""}`, dataset: { testid: "cubby" } }, target ? target.cubby : last ? last.cubby : "—"),
        el("div", { class: "sub" }, target && target.order_id ? `order ${target.order_id}` : last ? "last put" : "")),
      el("div", { class: "big" }, el("div", { class: "label" }, "Quantity"),
        el("div", { class: `value${last ? " muted" : ""}`, dataset: { testid: "qty" } }, (target || last) && screen.qty !== null ? String(screen.qty) : "—"),
        el("div", { class: "sub" }, target ? "units to put" : last ? "units put" : ""))),
    el("div", { class: `next${screen.error ? " bad" : ""}`, dataset: { testid: "last-scan" } },
      el("div", { class: "label" }, "Last scan"),
      screen.scan ? `${screen.scan}${screen.sku && screen.sku !== screen.scan ? ` · ${screen.sku}` : ""}` : "nothing yet"),
    el("div", { class: "next", dataset: { testid: "next-step" } }, el("div", { class: "label" }, "What to do next"), nextStep(wall, target)),
    el("div", { class: "muted" }, [wall.batch_id ? `Batch ${wall.batch_id}` : "No batch sorting", wall.operator ? ` · ${wall.operator}` : ""].join("")),
    el("div", { class: "cubbies", dataset: { testid: "cubbies" } }, ...wall.cubbies.map(cubbyTile)));
}

live.onChange(scheduleRender(render));
startLive();
