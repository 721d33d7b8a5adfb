// Integrity: the findings (findings.js), unmatched studies and steps (with linking), refused
// and failed messages by sender and reason (each opens the message), outbox dead letters (each
// retried), and messages per hour per sender over 24 hours.
import { ApiError, get, getAll, send } from "./api.js";
import { field, h, section, showDetail, table } from "./dom.js";
import { facilityZone, time } from "./format.js";
import { bars } from "./chart.js";
import { renderSenders } from "./senders.js";
import { renderDose } from "./dose.js";
import { findingsSection } from "./findings.js";

const sender = (m) => [m.sending_application, m.sending_facility].filter(Boolean).join("^") || m.peer || "(unknown)";
const CLASSES = ["s1", "s2", "s3", "s4", "s5", "s6"];

function linkForm(item, onDone) {
  const accession = h("input", { type: "text", required: true, id: `link-${item.kind}-${item.id}` });
  const message = h("span", { role: "status" });
  return h("form", { class: "controls", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await send("POST", `/api/v1/unmatched/${item.kind}/${item.id}/link`, { accession: accession.value.trim() });
      onDone();
    } catch (error) {
      message.textContent = error instanceof ApiError && error.status === 403 ? "Linking needs the operator role." : error.message;
    }
  } }, field(`Accession for ${item.kind} ${item.id}`, accession), h("button", { type: "submit" }, "Link"), message);
}

function retryButton(row, onDone) {
  const message = h("span", { role: "status" });
  return h("span", {}, h("button", { class: "secondary", onclick: async () => {
    try {
      await send("POST", `/api/v1/outbox/${row.id}/retry`);
      onDone();
    } catch (error) {
      message.textContent = error instanceof ApiError && error.status === 403 ? "Retrying needs the operator role." : error.message;
    }
  } }, `Retry ${row.id}`), message);
}

async function open(id) {
  const m = await get(`/api/v1/messages/${id}`);
  showDetail(`Message ${id}: ${m.message_type || m.protocol} from ${sender(m)}`, h("div", {},
    table("Message", ["Field", "Value"], [["Received", time(m.received_at, true)], ["Outcome", m.outcome], ["ACK", m.ack_code || "–"], ["Error", m.error || "–"], ["Where", m.error_location || "–"], ["Control id", m.control_id || "–"]]),
    h("pre", {}, m.raw.replaceAll("\r", "\n"))));
}

function hourly(messages) {
  const now = Date.now();
  const start = now - 24 * 3600 * 1000;
  const first = Math.floor(start / 3600000) * 3600000;
  const hours = Array.from({ length: 25 }, (_, i) => first + i * 3600000);
  const senders = [...new Set(messages.map(sender))].sort();
  const counts = Object.fromEntries(senders.map((s) => [s, hours.map(() => 0)]));
  for (const m of messages) {
    const at = new Date(m.received_at).getTime();
    if (at >= first) counts[sender(m)][Math.floor((at - first) / 3600000)] += 1;
  }
  const labels = hours.map((t) => new Intl.DateTimeFormat("en-CA", { timeZone: facilityZone(), hour: "2-digit", hourCycle: "h23" }).format(new Date(t)));
  return { labels, senders, counts };
}

export async function render(main) {
  const body = h("div");
  main.append(h("h2", { class: "view-title" }, "Integrity"), body);
  async function draw() {
    const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
    const [findings, unmatched, bad, recent, dead] = await Promise.all([
      findingsSection(),
      getAll("/api/v1/unmatched", { kind: ["study", "procedure_step"] }),
      getAll("/api/v1/messages", { outcome: ["rejected", "failed"] }, 1000),
      getAll("/api/v1/messages", { from: since }, 5000),
      getAll("/api/v1/outbox", { state: "dead" }, 1000),
    ]);
    const groups = new Map();
    for (const m of bad) {
      const key = `${sender(m)}\u0000${m.outcome}\u0000${m.error || "(no reason)"}`;
      groups.set(key, [...(groups.get(key) || []), m]);
    }
    const byReason = [...groups.entries()].sort((a, b) => b[1].length - a[1].length).map(([key, list]) => {
      const [who, outcome, reason] = key.split("\u0000");
      return [who, outcome, reason, h("span", { dataset: { count: "bad" } }, list.length), h("span", {}, list.slice(0, 5).map((m) => h("button", { class: "secondary", onclick: () => open(m.id) }, `Open ${m.id}`)))];
    });
    const { labels, senders, counts } = hourly(recent);
    body.replaceChildren(
      findings,
      section("Unmatched studies and steps", table(`Unmatched (${unmatched.length})`, ["Kind", "Id", "Study / step", "Patient", "Device", "First seen", "Link to an order"],
        unmatched.map((u) => [u.kind, u.id, u.study_instance_uid || u.accession || "–", u.patient_identifier || "–", u.device || "–", time(u.first_seen, true), linkForm(u, draw)]), { id: "unmatched-table" })),
      section("Outbox dead letters", table(`Not delivered, not retried (${dead.length})`, ["Destination", "Event", "For", "Attempts", "Last error", "Committed", "Send again"],
        dead.map((d) => [d.destination, d.type, d.sequence_key, d.attempts, d.last_error || "–", time(d.committed_at, true), retryButton(d, draw)]), { id: "dead-letters" })),
      section("Refused and failed messages", table(`By sender and reason (${bad.length} messages)`, ["Sender", "Outcome", "Reason", "Messages", "Open"], byReason, { id: "bad-table" })),
      section("Messages per hour, last 24 hours",
        bars({ title: "Messages per hour per sender", labels, series: senders.map((s, i) => ({ name: s, cls: CLASSES[i % CLASSES.length], values: counts[s] })) }),
        table("Messages per sender in 24 hours", ["Sender", "Messages"], senders.map((s) => [s, h("span", { dataset: { sender: s } }, counts[s].reduce((a, b) => a + b, 0))]), { id: "senders-table" })),
    );
  }
  await draw();
  await renderSenders(main);
  await renderDose(main);
}
