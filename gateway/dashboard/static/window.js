// A window of whole local days ending today, as the API's from/to instants.
import { h, field } from "./dom.js";
import { localMidnight, today } from "./format.js";

export function lastDays(days) {
  const [y, m, d] = today();
  const end = new Date(Date.UTC(y, m - 1, d + 1));
  const start = new Date(Date.UTC(y, m - 1, d + 1 - days));
  const iso = (t) => localMidnight(t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate());
  return { from: iso(start), to: iso(end) };
}

export function select(label, options, value, onchange) {
  const node = h("select", { onchange }, Object.entries(options).map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
  return { node, wrapped: field(label, node) };
}

export const WINDOWS = { 1: "Today", 7: "Last 7 days", 30: "Last 30 days", 90: "Last 90 days" };
