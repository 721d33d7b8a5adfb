// Turnaround: p50 and p90 against the goal and the share within goal, by group; a daily trend;
// a bar opens the orders behind it.
import { get, getAll } from "./api.js";
import { h, section, showDetail, table } from "./dom.js";
import { PATIENT_CLASS, PRIORITY, goalsOf, minutes, number, percent, time } from "./format.js";
import { bars, lines } from "./chart.js";
import { WINDOWS, lastDays, select } from "./window.js";

export const FIGURES = {
  report_turnaround: "Report turnaround", preliminary_turnaround: "Preliminary turnaround",
  total_turnaround: "Total turnaround", access: "Access", wait: "Wait", start_delay: "Start delay",
  exam_duration: "Exam duration",
};
// The milestone each figure ends at: shown beside each order behind a bar.
const END = {
  report_turnaround: "final_report", preliminary_turnaround: "preliminary_report", total_turnaround: "final_report",
  access: "exam_started", wait: "exam_started", start_delay: "exam_started", exam_duration: "exam_completed",
};
const GROUPS = { modality: "Modality", priority: "Priority", patient_class: "Patient class" };
const POSITION = { modality: 1, priority: 2, patient_class: 3 };
const label = (groupBy, g) => (groupBy === "priority" ? PRIORITY[g] || g : groupBy === "patient_class" ? PATIENT_CLASS[g] || g : g) || "(none)";

function goalText(figure, groupBy, group) {
  const found = goalsOf(figure, POSITION[groupBy], group);
  if (!found.length) return "–";
  return found.length === 1 ? `${found[0]} min` : `${found[0]}–${found.at(-1)} min (by class)`;
}

// The orders the figure counted for this group, as the gateway selects them.
async function behind(figure, groupBy, group, window) {
  const params = { figure, from: window.from, to: window.to, [groupBy]: group ?? "" };
  const orders = await getAll("/api/v1/flow/turnaround/orders", params, 1000);
  showDetail(
    `${FIGURES[figure]}: ${label(groupBy, group)} (${orders.length} orders)`,
    table("Orders behind the bar", ["Accession", "Patient", "Modality", "Priority", "Patient class", "Status", "Ended"],
      orders.map((o) => [o.accession, o.patient ? `${o.patient.family_name}, ${o.patient.given_name}` : "–", o.modality,
        PRIORITY[o.priority] || o.priority || "–", PATIENT_CLASS[o.patient_class] || o.patient_class || "–", o.status, time(o.milestones[END[figure]], true)]),
      { id: "orders-behind" }),
  );
}

export async function render(main) {
  const state = { figure: "report_turnaround", groupBy: "modality", days: "7" };
  const body = h("div");
  const redraw = () => draw().catch((e) => body.replaceChildren(h("p", { class: "error", role: "alert" }, e.message)));
  const figure = select("Figure", FIGURES, state.figure, (e) => { state.figure = e.target.value; redraw(); });
  const group = select("Group by", GROUPS, state.groupBy, (e) => { state.groupBy = e.target.value; redraw(); });
  const days = select("Window", WINDOWS, state.days, (e) => { state.days = e.target.value; redraw(); });
  main.append(h("h2", { class: "view-title" }, "Turnaround"), h("div", { class: "controls" }, figure.wrapped, group.wrapped, days.wrapped), body);

  async function draw() {
    const window = lastDays(Number(state.days));
    const common = { ...window, figure: state.figure, limit: 500 };
    const [grouped, daily] = await Promise.all([
      get("/api/v1/flow/turnaround", { ...common, group_by: state.groupBy }),
      get("/api/v1/flow/turnaround", { ...common, group_by: "day" }),
    ]);
    const rows = grouped.items;
    const name = FIGURES[state.figure];
    const singleGoal = (g) => { const f = goalsOf(state.figure, POSITION[state.groupBy], g); return f.length === 1 ? f[0] : null; };
    const chart = bars({
      title: `${name} p50 and p90 in minutes by ${GROUPS[state.groupBy].toLowerCase()}`,
      labels: rows.map((r) => label(state.groupBy, r.group)),
      series: [{ name: "p50", cls: "s1", values: rows.map((r) => r.p50) }, { name: "p90", cls: "s2", values: rows.map((r) => r.p90) }],
      goal: rows.length && rows.every((r) => singleGoal(r.group) === singleGoal(rows[0].group)) ? singleGoal(rows[0]?.group) : null,
      onBar: (i) => behind(state.figure, state.groupBy, rows[i].group, window),
    });
    const figures = table(`${name} by ${GROUPS[state.groupBy].toLowerCase()}`, [GROUPS[state.groupBy], "Exams", "p50", "p90", "p95", "Goal", "Within goal"],
      rows.map((r) => [label(state.groupBy, r.group), h("span", { dataset: { group: r.group ?? "", col: "count" } }, r.count),
        h("span", { dataset: { group: r.group ?? "", col: "p50" } }, number(r.p50)), h("span", { dataset: { group: r.group ?? "", col: "p90" } }, number(r.p90)),
        number(r.p95), goalText(state.figure, state.groupBy, r.group),
        h("span", { dataset: { group: r.group ?? "", col: "share" } }, `${percent(r.share_within_goal)} (${r.within_goal}/${r.with_goal})`)]),
      { id: "turnaround-table" });
    const days = daily.items;
    const trend = lines({
      title: `${name} by day, p50 and p90 in minutes`,
      labels: days.map((r) => r.group.slice(5)),
      series: [{ name: "p50", cls: "s1", values: days.map((r) => r.p50) }, { name: "p90", cls: "s2", values: days.map((r) => r.p90) }],
    });
    const trendTable = table("Daily figures", ["Day", "Exams", "p50", "p90", "Within goal"], days.map((r) => [r.group, r.count, minutes(r.p50), minutes(r.p90), percent(r.share_within_goal)]), { id: "trend-table" });
    body.replaceChildren(
      section(`By ${GROUPS[state.groupBy].toLowerCase()}`, rows.length ? chart : h("p", {}, "No figures in this window."), h("p", { class: "stamp" }, "Select a bar (click, or Tab then Enter) to list the orders behind it."), figures),
      section("Daily trend", days.length ? trend : h("p", {}, "No figures in this window."), trendTable),
    );
  }
  await draw();
}
