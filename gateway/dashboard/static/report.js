// The month report for leadership: one printable page, and its CSV, with volumes, turnaround
// against goals and uptime by modality.
import { get, getAll } from "./api.js";
import { field, h, section, table } from "./dom.js";
import { monthWindow, number, percent, today } from "./format.js";
import { bars } from "./chart.js";
import { MEASURES } from "./volumes.js";

const COLUMNS = ["Modality", ...Object.values(MEASURES), "Report p50 (min)", "Report p90 (min)", "Reports within goal", "Availability", "Utilization"];

async function figures(month) {
  const window = monthWindow(month);
  const [volumes, turnaround, uptime] = await Promise.all([
    getAll("/api/v1/flow/volumes", { ...window, interval: "day", group_by: "modality" }, 20000),
    get("/api/v1/flow/turnaround", { ...window, figure: "report_turnaround", group_by: "modality", limit: 500 }),
    get("/api/v1/equipment/uptime", { ...window, group_by: "modality" }),
  ]);
  const rows = new Map();
  const row = (modality) => rows.get(modality) || rows.set(modality, { modality, ordered: 0, performed: 0, reported: 0, cancelled: 0, no_shows: 0 }).get(modality);
  for (const v of volumes) for (const k of Object.keys(MEASURES)) row(v.group || "(none)")[k] += v[k];
  for (const t of turnaround.items) Object.assign(row(t.group || "(none)"), { p50: t.p50, p90: t.p90, share: t.share_within_goal });
  for (const g of uptime.groups) Object.assign(row(g.key || "(none)"), { availability: g.figures.availability, utilization: g.figures.utilization });
  return [...rows.values()].sort((a, b) => a.modality.localeCompare(b.modality));
}

const cells = (r) => [r.modality, ...Object.keys(MEASURES).map((k) => r[k]), number(r.p50), number(r.p90), percent(r.share), percent(r.availability), percent(r.utilization)];

function csv(rows) {
  const quote = (v) => `"${String(v).replaceAll('"', '""')}"`;
  const raw = (v) => (v === null || v === undefined ? "" : v);
  const lines = [COLUMNS, ...rows.map((r) => [r.modality, ...Object.keys(MEASURES).map((k) => r[k]), raw(r.p50), raw(r.p90), raw(r.share), raw(r.availability), raw(r.utilization)])];
  return lines.map((l) => l.map(quote).join(",")).join("\r\n") + "\r\n";
}

export async function render(main) {
  const [y, m] = today();
  const input = h("input", { type: "month", value: `${y}-${String(m).padStart(2, "0")}`, required: true });
  const body = h("div", { class: "report-page" });
  const download = h("a", { class: "button", download: "" }, "Download CSV");
  main.append(
    h("h2", { class: "view-title" }, "Month report"),
    h("div", { class: "controls" }, field("Month", input), h("button", { type: "button", onclick: () => window.print() }, "Print"), download),
    body,
  );
  async function draw() {
    const rows = await figures(input.value);
    const blob = new Blob([csv(rows)], { type: "text/csv" });
    if (download.href) URL.revokeObjectURL(download.href);
    download.href = URL.createObjectURL(blob);
    download.download = `imaging-month-${input.value}.csv`;
    body.replaceChildren(
      h("h2", {}, `Imaging department, ${input.value}`),
      section("By modality", table("Volumes, report turnaround against goals, and uptime", COLUMNS, rows.map(cells), { id: "report-table" })),
      section("Volumes", bars({ title: "Exams performed and reported by modality", labels: rows.map((r) => r.modality), series: [{ name: "Performed", cls: "s3", values: rows.map((r) => r.performed) }, { name: "Reported", cls: "s2", values: rows.map((r) => r.reported) }] })),
      section("Report turnaround", bars({ title: "Report turnaround p50 and p90 in minutes by modality", labels: rows.map((r) => r.modality), series: [{ name: "p50", cls: "s1", values: rows.map((r) => r.p50 ?? null) }, { name: "p90", cls: "s2", values: rows.map((r) => r.p90 ?? null) }] })),
    );
  }
  input.addEventListener("change", () => draw());
  await draw();
}
