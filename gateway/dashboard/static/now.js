// Now: the department at a glance, redrawn on every commit the gateway pushes.
import { get } from "./api.js";
import { h, section, table } from "./dom.js";
import {
  PATIENT_CLASS, PRIORITY, STATUS_MARK, STATUS_WORD, against, goalFor, minutes, minutesSince, time,
} from "./format.js";
import { subscribe } from "./sse.js";

const STATES = { ordered: "Ordered", scheduled_today: "Scheduled today", waiting: "Waiting", in_exam: "In exam", awaiting_report: "Awaiting report" };

async function board() {
  const first = await get("/api/v1/flow/board", { limit: 500 });
  const items = [...first.items];
  let cursor = first.next_cursor;
  while (cursor) {
    const page = await get("/api/v1/flow/board", { limit: 500, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  }
  return { ...first, items };
}

const patient = (item) => (item.patient ? `${item.patient.family_name}, ${item.patient.given_name}` : "–");

function status(value, goal) {
  const kind = against(value, goal);
  return h("span", { class: `status ${kind}` }, `${STATUS_MARK[kind]} ${minutes(value)}`, h("span", { class: "sr" }, ` (${STATUS_WORD[kind]}${goal ? `, goal ${goal} min` : ""})`));
}

function counts(data) {
  const states = Object.keys(STATES);
  const modalities = Object.keys(data.by_modality).sort();
  const rows = modalities.map((m) => [m, ...states.map((s) => h("span", { dataset: { modality: m, state: s } }, data.by_modality[m][s] ?? 0))]);
  rows.push([h("strong", {}, "All"), ...states.map((s) => h("strong", { dataset: { count: s } }, data.counts[s] ?? 0))]);
  return table("Open exams by state and modality", ["Modality", ...Object.values(STATES)], rows, { class: "counts" });
}

function waiting(items, now) {
  const rows = items
    .filter((i) => i.state === "waiting")
    .sort((a, b) => (b.minutes_waiting ?? 0) - (a.minutes_waiting ?? 0))
    .map((i) => [
      patient(i), i.accession, i.scheduled_resource || i.modality, i.procedure_text || i.procedure_code,
      time(i.arrived_at), status(i.minutes_waiting ?? minutesSince(i.arrived_at, now), goalFor("wait", i.modality, i.priority, i.patient_class)),
    ]);
  return table(`Waiting (${rows.length}), longest first`, ["Patient", "Accession", "Where", "Exam", "Arrived", "Waiting"], rows, { id: "waiting" });
}

function inExam(items, now) {
  const rows = items
    .filter((i) => i.state === "in_exam")
    .sort((a, b) => (a.device || "").localeCompare(b.device || ""))
    .map((i) => [i.device || "–", patient(i), i.accession, i.modality, i.procedure_text || i.procedure_code, time(i.exam_started_at), minutes(minutesSince(i.exam_started_at, now))]);
  return table(`In the rooms (${rows.length})`, ["Scanner", "Patient", "Accession", "Modality", "Exam", "Started", "For"], rows, { id: "in-exam" });
}

function rank(item) {
  return (item.priority === "S" ? 0 : 2) + (item.patient_class === "emergency" ? 0 : 1);
}

function awaiting(items, now) {
  const since = (i) => i.exam_completed_at || i.images_available_at || i.since;
  const rows = items
    .filter((i) => i.state === "awaiting_report")
    .sort((a, b) => rank(a) - rank(b) || new Date(since(a)) - new Date(since(b)))
    .map((i) => [
      i.accession, patient(i), i.modality, PRIORITY[i.priority] || i.priority || "–", PATIENT_CLASS[i.patient_class] || i.patient_class || "–",
      i.preliminary_report_at ? "preliminary" : "none", time(since(i)),
      status(minutesSince(since(i), now), goalFor("report_turnaround", i.modality, i.priority, i.patient_class)),
    ]);
  return table(`Awaiting a report (${rows.length}): STAT and ED first`, ["Accession", "Patient", "Modality", "Priority", "Class", "Report", "Completed", "Since completion"], rows, { id: "awaiting" });
}

export async function render(main, { live }) {
  const stamp = h("p", { class: "stamp" });
  const holder = h("div", { class: "now" });
  main.append(h("h2", { class: "view-title" }, "The department now"), stamp, holder);
  let pending = null;
  let generation = -1;
  async function draw(seen) {
    const data = await board();
    const now = new Date(data.now).getTime();
    stamp.textContent = `As of ${time(data.now)}`;
    holder.replaceChildren(
      section("Counts", counts(data)),
      h("div", { class: "columns" }, section("Who waits", waiting(data.items, now)), section("Who is in which room", inExam(data.items, now))),
      section("Awaiting report", awaiting(data.items, now)),
    );
    main.dataset.generation = seen;
  }
  await draw(generation);
  const stop = subscribe(
    (event) => {
      if (event.generation === generation) return;
      generation = event.generation;
      // Commits come in bursts: draw once for a burst, soon enough to be within 2 s.
      clearTimeout(pending);
      pending = setTimeout(() => draw(generation), 150);
    },
    live,
  );
  return {
    dispose() {
      stop();
      clearTimeout(pending);
      live(null);
    },
  };
}
