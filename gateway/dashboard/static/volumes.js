// Volumes: ordered, performed, reported, cancelled and no-shows per hour, day or week.
import { getAll } from "./api.js";
import { h, section, table } from "./dom.js";
import { bars } from "./chart.js";
import { facilityZone } from "./format.js";
import { WINDOWS, lastDays, select } from "./window.js";

export const MEASURES = { ordered: "Ordered", performed: "Performed", reported: "Reported", cancelled: "Cancelled", no_shows: "No-shows" };
const INTERVALS = { hour: "Per hour", day: "Per day", week: "Per week" };
const CLASSES = ["s1", "s3", "s2", "s4", "s5"];

function bucketLabel(iso, interval) {
  const options = interval === "hour" ? { timeZone: facilityZone(), month: "2-digit", day: "2-digit", hour: "2-digit", hourCycle: "h23" } : { timeZone: facilityZone(), month: "2-digit", day: "2-digit" };
  return new Intl.DateTimeFormat("en-CA", options).format(new Date(iso));
}

export async function render(main) {
  const state = { interval: "hour", days: "1" };
  const body = h("div");
  const redraw = () => draw().catch((e) => body.replaceChildren(h("p", { class: "error", role: "alert" }, e.message)));
  const interval = select("Interval", INTERVALS, state.interval, (e) => { state.interval = e.target.value; redraw(); });
  const days = select("Window", WINDOWS, state.days, (e) => { state.days = e.target.value; redraw(); });
  main.append(h("h2", { class: "view-title" }, "Volumes"), h("div", { class: "controls" }, interval.wrapped, days.wrapped), body);

  async function draw() {
    const items = await getAll("/api/v1/flow/volumes", { ...lastDays(Number(state.days)), interval: state.interval });
    const labels = items.map((r) => bucketLabel(r.bucket, state.interval));
    const keys = Object.keys(MEASURES);
    const totals = Object.fromEntries(keys.map((k) => [k, items.reduce((s, r) => s + r[k], 0)]));
    body.replaceChildren(
      section(
        "Exams",
        bars({ title: `Exams ${INTERVALS[state.interval].toLowerCase()}`, labels, series: keys.map((k, i) => ({ name: MEASURES[k], cls: CLASSES[i], values: items.map((r) => r[k]) })) }),
        table("Exams per bucket", ["Bucket", ...Object.values(MEASURES)], [
          ...items.map((r, i) => [labels[i], ...keys.map((k) => r[k])]),
          [h("strong", {}, "Total"), ...keys.map((k) => h("strong", { dataset: { total: k } }, totals[k]))],
        ], { id: "volumes-table" }),
      ),
    );
  }
  await draw();
}
