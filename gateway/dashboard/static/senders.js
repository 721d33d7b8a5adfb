// The sender scorecard (GET /api/v1/quality/senders): for each sending application and
// facility over the last 7 days, messages by type, the share refused or failed and why,
// recommended fields left empty, how late messages arrive, resends and reused control ids.
import { get } from "./api.js";
import { h, section, table } from "./dom.js";
import { percent } from "./format.js";

const DAYS = 7;

const who = (s) => [s.sending_application, s.sending_facility].filter(Boolean).join("^") || "(unknown)";

// Seconds as a person reads a delay: seconds under two minutes, then minutes, then hours.
export function delay(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const abs = Math.abs(seconds);
  const sign = seconds < 0 ? "−" : "";
  if (abs < 120) return `${sign}${Math.round(abs)} s`;
  if (abs < 7200) return `${sign}${Math.round(abs / 60)} min`;
  return `${sign}${(abs / 3600).toFixed(1)} h`;
}

const list = (entries) => entries.map(([name, n]) => `${name} ${n}`).join(", ") || "–";

function cell(sender, col, value) {
  return h("span", { dataset: { sender, col } }, value);
}

function row(s, fields) {
  const name = who(s);
  const refusals = s.refusals.slice(0, 3).map((r) => `${r.field || "–"}: ${r.reason} (${r.count})`).join("; ") || "–";
  const missing = fields.filter((f) => s.missing_fields[f]).map((f) => [f, s.missing_fields[f]]);
  return [
    name,
    cell(name, "messages", s.messages),
    cell(name, "types", list(Object.entries(s.by_type))),
    cell(name, "refused", percent(s.refused_share)),
    cell(name, "reasons", refusals),
    cell(name, "missing", list(missing)),
    cell(name, "late-p50", delay(s.lateness.p50_seconds)),
    cell(name, "late-p90", delay(s.lateness.p90_seconds)),
    cell(name, "resends", s.resends),
    cell(name, "reused", s.reused_control_ids),
  ];
}

export async function renderSenders(main) {
  const since = new Date(Date.now() - DAYS * 24 * 3600 * 1000).toISOString();
  const card = await get("/api/v1/quality/senders", { since });
  main.append(section("Data quality per sender",
    h("p", {}, `Last ${DAYS} days, by first arrival. Lateness is from the message's own time (MSH-7) to its arrival.`),
    table(`Sender scorecard (${card.items.length} senders)`,
      ["Sender", "Messages", "By type", "Refused or failed", "Why (field: reason)", "Recommended fields missing", "Late p50", "Late p90", "Resends", "Reused control ids"],
      card.items.map((s) => row(s, card.fields)), { id: "sender-scorecard" })));
}
