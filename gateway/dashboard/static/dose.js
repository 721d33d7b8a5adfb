// Dose against reference levels (GET /api/v1/dose): CTDIvol and DLP p50 and p75 per protocol
// beside the level set for it, and the exams above their level.
import { get } from "./api.js";
import { h, section, table } from "./dom.js";
import { number, time } from "./format.js";

const level = (value) => (value === null || value === undefined ? "–" : number(value, 1));
const ratio = (value) => (value === null || value === undefined ? "–" : `${Math.round(value * 100)} %`);

function cell(group, col, value) {
  return h("span", { dataset: { protocol: group, col } }, value);
}

export async function renderDose(main) {
  const dose = await get("/api/v1/dose", { group_by: "protocol" });
  const rows = dose.groups.map((g) => [
    g.group,
    cell(g.group, "exams", g.exams),
    cell(g.group, "ctdivol-p50", level(g.ctdivol.p50)),
    cell(g.group, "ctdivol-p75", level(g.ctdivol.p75)),
    level(g.reference && g.reference.ctdivol),
    ratio(g.ctdivol_p50_to_reference),
    cell(g.group, "dlp-p50", level(g.dlp.p50)),
    cell(g.group, "dlp-p75", level(g.dlp.p75)),
    level(g.reference && g.reference.dlp),
    ratio(g.dlp_p50_to_reference),
  ]);
  const above = dose.above_reference.map((e) => [
    e.accession || e.study_instance_uid, e.protocol, e.device, time(e.performed_at, true),
    level(e.ctdivol), level(e.reference.ctdivol), level(e.dlp), level(e.reference.dlp),
  ]);
  main.append(section("Dose against reference levels",
    table(`CT dose per protocol (${dose.groups.length} protocols)`,
      ["Protocol", "Exams", "CTDIvol p50 (mGy)", "CTDIvol p75", "CTDIvol level", "p50 / level", "DLP p50 (mGy·cm)", "DLP p75", "DLP level", "p50 / level"],
      rows, { id: "dose-table" }),
    table(`Exams above their reference level (${above.length})`,
      ["Exam", "Protocol", "Device", "When", "CTDIvol", "CTDIvol level", "DLP", "DLP level"],
      above, { id: "dose-above" })));
}
