// FloorGate pack-station screen for packers: big expected vs measured, a clear pass/fail, what to do next.
"use strict";

const stationId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
const draft = { open: false, reason: "", error: "" };
let lastKey = "";

// phase -> banner text and tone
const BANNER = {
  idle: ["SCAN ORDER", ""], weighing: ["WEIGH", "wait"], verified: ["PASS", "pass"],
  rejected: ["FAIL", "fail"], overridden: ["ACCEPTED", "accepted"], blocked: ["STOP", "hold"],
};

function nextStep(st) {
  const reading = st.scale || {};
  switch (st.state) {
    case "idle": return "Scan the next order or tote.";
    case "weighing":
      if (reading.grams && !reading.stable) return "Hold still: waiting for a stable weight…";
      return `Put the carton for order ${st.order_id} on the scale.`;
    case "verified": return "Seal the carton, take it off the scale, then scan the next order.";
    case "rejected": {
      const what = st.delta_g > 0 ? `${grams(st.delta_g)} too heavy: look for an extra item` : `${grams(-st.delta_g)} too light: look for a missing item`;
      return `${what}. Fix the carton, take it off the scale and weigh it again — or call a supervisor.`;
    }
    case "overridden": return "Accepted by a supervisor. Take the carton off the scale and scan the next order.";
    case "blocked": return `${st.message || "This station needs a person."} Call a supervisor.`;
    default: return st.message || "";
  }
}

function render() {
  const st = live.stations.get(stationId);
  $("title").textContent = `Pack station ${stationId}`;
  const key = JSON.stringify(st || null) + live.role + JSON.stringify(draft);
  if (key === lastKey) return;
  const typing = document.activeElement && document.activeElement.tagName === "INPUT";
  lastKey = key;
  if (!st) {
    $("screen").replaceChildren(el("div", { class: "empty" }, `There is no pack station ${stationId} on this edge.`));
    return;
  }
  const [text, tone] = BANNER[st.state] || [st.state.toUpperCase(), ""];
  const reading = st.scale || {};
  const measured = st.measured_g !== null ? st.measured_g : reading.grams;
  const children = [
    el("div", { class: `banner ${tone}`, dataset: { testid: "verdict" } }, text),
    el("div", { class: "big-pair" },
      el("div", { class: "big" }, el("div", { class: "label" }, "Expected"),
        el("div", { class: "value", dataset: { testid: "expected" } }, grams(st.expected_g)),
        el("div", { class: "sub" }, st.tolerance_applied_g !== null ? `± ${grams(st.tolerance_applied_g)}` : "scan an order")),
      el("div", { class: "big" }, el("div", { class: "label" }, st.measured_g !== null ? "Measured" : "On the scale"),
        el("div", { class: "value", dataset: { testid: "measured" } }, grams(measured)),
        el("div", { class: "sub" }, st.delta_g !== null ? `${st.delta_g > 0 ? "+" : ""}${grams(st.delta_g)} from expected` : reading.stable ? "stable" : reading.grams ? "settling…" : ""))),
    el("div", { class: "next", dataset: { testid: "next-step" } }, el("div", { class: "label" }, "What to do next"), nextStep(st)),
    el("div", { class: "muted" }, st.order_id ? `Order ${st.order_id}` : ""),
  ];
  if (st.overridable && live.canAct()) children.push(overrideControls(st));
  $("screen").replaceChildren(...children);
  if (typing) { const input = $("screen").querySelector("input"); if (input) input.focus(); }
}

function overrideControls(st) {
  if (!draft.open) {
    return el("div", {}, el("button", { class: "act", dataset: { testid: "override" }, onclick: () => { draft.open = true; draft.error = ""; render(); $("screen").querySelector("input").focus(); } }, "Supervisor: accept this carton…"));
  }
  const input = el("input", { type: "text", placeholder: "reason (required)", maxlength: 200, dataset: { testid: "override-reason" }, oninput: (ev) => { draft.reason = ev.target.value; } });
  input.value = draft.reason;
  return el("form", { class: "override", onsubmit: async (ev) => {
    ev.preventDefault();
    if (!draft.reason.trim()) { draft.error = "Say why the carton is accepted."; render(); return; }
    const result = await api("POST", `/stations/${encodeURIComponent(st.id)}/override`, { order_id: st.order_id, reason: draft.reason.trim() });
    if (result.ok) { draft.open = false; draft.reason = ""; draft.error = ""; } else draft.error = `Refused (${result.status}): ${result.detail}`;
    render();
  } },
    input,
    el("button", { type: "submit", class: "act", dataset: { testid: "override-confirm" } }, `Accept order ${st.order_id}`),
    el("button", { type: "button", class: "ghost", onclick: () => { draft.open = false; render(); } }, "Cancel"),
    draft.error ? el("p", { class: "bad-text", role: "alert" }, draft.error) : null);
}

live.onChange(scheduleRender(render));
startLive();
