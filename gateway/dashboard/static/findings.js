// Integrity findings: each problem's kind, when it began, the order or study it concerns (which
// opens), its modality and its evidence in words; filtered by kind.
import { get, getAll } from "./api.js";
import { h, section, showDetail, table } from "./dom.js";
import { time } from "./format.js";
import { select } from "./window.js";

export const KINDS = {
  "": "All kinds",
  no_images: "Completed or reported, no images",
  unordered_study: "Study with no order",
  patient_mismatch: "Order and study patients disagree",
  open_step: "Step left in progress",
  report_without_order: "Report for an order never placed",
  accession_reused: "Accession used for two patients",
  no_show: "No-show candidate",
  pacs_missing: "Not in the PACS",
  pacs_unordered: "In the PACS for no order",
  pacs_unreachable: "PACS unreachable",
};

const fields = (disagreements) =>
  Object.entries(disagreements).map(([name, v]) => `${name.replace("_", " ")}: order ${v.order}, study ${v.study}`).join("; ");

// The evidence of a finding in a sentence.
export function describe(f) {
  const e = f.evidence;
  switch (f.kind) {
    case "no_images":
      return `${e.status.replace("_", " ")}; ${e.minutes_without_images} min without images`;
    case "unordered_study":
      return `patient ${e.patient_id || "–"}, ${e.instances} images from ${e.device || "–"}; ` +
        (e.suggested_orders.length ? `may be ${e.suggested_orders.join(", ")}` : "no order of that patient and modality within a day");
    case "patient_mismatch":
    case "accession_reused":
      return fields(e.disagreements);
    case "open_step":
      return `step ${e.step} on ${e.station_ae_title || "–"}, in progress for ${e.hours_open} h`;
    case "report_without_order":
      return `${e.reports} report(s) (${e.statuses.join(", ")}), no order message`;
    case "no_show":
      return `appointment ${time(e.scheduled_start, true)}–${time(e.scheduled_end)}${e.resource ? ` on ${e.resource}` : ""}, no arrival`;
    case "pacs_missing":
      return `the PACS holds no study for it (study dates ${e.study_dates.first} to ${e.study_dates.last})`;
    case "pacs_unordered":
      return `patient ${e.patient_id || "–"}, study date ${e.study_date || "–"}, ${e.modalities.join("/") || "–"}`;
    case "pacs_unreachable":
      return e.error;
    default:
      return JSON.stringify(e);
  }
}

// The order or study a finding concerns: a link that opens what the gateway holds of it.
function reference(f) {
  const name = f.accession || f.study_instance_uid || "PACS";
  if (!f.link) return name;
  return h("a", { href: f.link, onclick: async (event) => {
    event.preventDefault();
    const held = await get(f.link);
    const rows = Object.entries(held).filter(([, v]) => v === null || typeof v !== "object").map(([k, v]) => [k, v === null ? "–" : String(v)]);
    showDetail(`${f.accession ? "Order" : "Study"} ${name}`, table("As the gateway holds it", ["Field", "Value"], rows));
  } }, name);
}

// The findings section; `kind` chooses one kind, empty for all.
export async function findingsSection(kind = "") {
  const found = await getAll("/api/v1/integrity", kind ? { kind } : {});
  const holder = h("div");
  const choose = select("Kind", KINDS, kind, async (event) => holder.replaceWith(await findingsSection(event.target.value)));
  const rows = found.map((f) => [
    h("span", { dataset: { kind: f.kind } }, KINDS[f.kind] || f.kind),
    time(f.at, true),
    reference(f),
    f.modality || "–",
    describe(f),
  ]);
  holder.append(section(
    "Integrity findings",
    h("div", { class: "controls" }, choose.wrapped),
    table(`Findings (${found.length})`, ["Kind", "Began", "Order / study", "Modality", "Evidence"], rows, { id: "findings-table" }),
  ));
  return holder;
}
