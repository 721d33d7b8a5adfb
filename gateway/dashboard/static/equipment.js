// Equipment: availability, utilization, MTBF and MTTR per device; a timeline of up, down,
// planned and unknown per day; declaring and ending downtime (operator role).
import { ApiError, get, send } from "./api.js";
import { field, h, section, table } from "./dom.js";
import { number, percent, time } from "./format.js";
import { timeline } from "./chart.js";
import { WINDOWS, lastDays, select } from "./window.js";

const KINDS = [
  { key: "up_hours", name: "Up", cls: "up" }, { key: "down_hours", name: "Down", cls: "down" },
  { key: "planned_hours", name: "Planned", cls: "planned" }, { key: "unknown_hours", name: "Unknown", cls: "unknown" },
];
const hours = (v) => (v === null || v === undefined ? "–" : `${number(v)} h`);

function downtimeForm(devices, onDone) {
  const device = h("select", {}, devices.map((d) => h("option", { value: d.ae_title }, `${d.ae_title} ${d.name || ""}`)));
  const start = h("input", { type: "datetime-local", required: true });
  const end = h("input", { type: "datetime-local" });
  const planned = h("input", { type: "checkbox" });
  const reason = h("input", { type: "text", maxlength: 255 });
  const message = h("p", { role: "status" });
  const form = h("form", { class: "controls", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await send("POST", `/api/v1/devices/${encodeURIComponent(device.value)}/downtime`, {
        start: new Date(start.value).toISOString(), end: end.value ? new Date(end.value).toISOString() : null,
        planned: planned.checked, reason: reason.value,
      });
      message.textContent = "Downtime declared.";
      onDone();
    } catch (error) {
      message.textContent = error instanceof ApiError && error.status === 403 ? "Declaring downtime needs the operator role." : error.message;
    }
  } }, field("Device", device), field("Start (local to this browser)", start), field("End (optional)", end), h("span", { class: "field" }, h("label", {}, planned, " Planned")), field("Reason", reason), h("button", { type: "submit" }, "Declare downtime"));
  return h("div", {}, form, message);
}

async function downtimeList(devices, onDone) {
  const lists = await Promise.all(devices.map((d) => get(`/api/v1/devices/${encodeURIComponent(d.ae_title)}/downtime`)));
  const rows = lists.flatMap((l) => l.items).map((d) => [d.ae_title, time(d.starts_at, true), d.ends_at ? time(d.ends_at, true) : "open", d.planned ? "planned" : "unplanned", d.reason || "–",
    d.ends_at ? "" : h("button", { class: "secondary", onclick: async () => {
      await send("PATCH", `/api/v1/devices/${encodeURIComponent(d.ae_title)}/downtime/${d.id}`, { end: new Date().toISOString() }).catch((e) => alert(e.message));
      onDone();
    } }, `End downtime ${d.id} now`)]);
  return table("Declared downtime", ["Device", "From", "Until", "Kind", "Reason", "Action"], rows, { id: "downtime-table" });
}

export async function render(main) {
  const state = { days: "7" };
  const body = h("div");
  const redraw = () => draw().catch((e) => body.replaceChildren(h("p", { class: "error", role: "alert" }, e.message)));
  const days = select("Window", WINDOWS, state.days, (e) => { state.days = e.target.value; redraw(); });
  main.append(h("h2", { class: "view-title" }, "Equipment"), h("div", { class: "controls" }, days.wrapped), body);

  async function draw() {
    const window = lastDays(Number(state.days));
    const devices = (await get("/api/v1/devices")).items;
    const reports = await Promise.all(devices.map((d) => get(`/api/v1/devices/${encodeURIComponent(d.ae_title)}/uptime`, window)));
    const rows = devices.map((d, i) => {
      const f = reports[i].figures;
      const cell = (col, text) => h("span", { dataset: { device: d.ae_title, col } }, text);
      return [d.ae_title, d.modality || "–", d.state || "never probed", cell("availability", percent(f.availability)), cell("utilization", percent(f.utilization)),
        cell("mtbf", hours(f.mtbf_hours)), cell("mttr", hours(f.mttr_hours)), f.failures, f.exams];
    });
    body.replaceChildren(
      section("Per device", table("Figures over the window", ["Device", "Modality", "State now", "Availability", "Utilization", "MTBF", "MTTR", "Failures", "Exams"], rows, { id: "equipment-table" })),
      section("Timeline", timeline({
        title: "Hours up, down, planned and unknown per device and day",
        rows: devices.map((d, i) => ({ label: d.ae_title, spans: reports[i].daily.map((day) => ({ parts: day.figures })) })),
        kinds: KINDS,
      })),
      section("Downtime", downtimeForm(devices, redraw), await downtimeList(devices, redraw)),
    );
  }
  await draw();
}
