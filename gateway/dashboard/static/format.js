// Times in the facility time zone, minutes, shares, and the flow goals as the gateway states them.
let zone = "UTC";
let goals = {};

export function configure(config) {
  zone = config.timezone;
  goals = config.goals;
}

export const facilityZone = () => zone;

export function time(iso, withDate = false) {
  if (!iso) return "–";
  const options = { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (withDate) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
  return new Intl.DateTimeFormat("en-CA", options).format(new Date(iso));
}

export function minutes(value) {
  if (value === null || value === undefined) return "–";
  if (value >= 120) return `${Math.floor(value / 60)} h ${Math.round(value % 60)} min`;
  return `${Math.round(value)} min`;
}

export const minutesSince = (iso, now = Date.now()) => (now - new Date(iso).getTime()) / 60000;
export const percent = (share) => (share === null || share === undefined ? "–" : `${Math.round(share * 100)} %`);
export const number = (n, digits = 1) => (n === null || n === undefined ? "–" : Number(n).toFixed(digits));

// The most specific goal that matches (fewest "*"), in minutes, or null.
export function goalFor(figure, modality = "*", priority = "*", patientClass = "*") {
  let best = null;
  let bestStars = 5;
  const wanted = [modality, priority, patientClass];
  for (const [key, value] of Object.entries(goals)) {
    const [name, ...parts] = key.split("/");
    if (name !== figure) continue;
    if (!parts.every((p, i) => p === "*" || wanted[i] === "*" || p === wanted[i])) continue;
    const stars = parts.filter((p) => p === "*").length;
    if (stars < bestStars) [best, bestStars] = [value, stars];
  }
  return best;
}

// The distinct goals a group could meet (a group by modality spans several classes).
export function goalsOf(figure, position, value) {
  const found = new Set();
  for (const [key, minutes] of Object.entries(goals)) {
    const parts = key.split("/");
    if (parts[0] === figure && (parts[position] === "*" || parts[position] === value)) found.add(minutes);
  }
  return [...found].sort((a, b) => a - b);
}

// "ok", "near" or "over" a goal: colour is paired with a word and an icon, never alone.
export function against(value, goal) {
  if (goal === null || value === null || value === undefined) return "none";
  if (value > goal) return "over";
  return value > goal * 0.75 ? "near" : "ok";
}

export const STATUS_WORD = { ok: "within goal", near: "near goal", over: "over goal", none: "no goal" };
export const STATUS_MARK = { ok: "✓", near: "!", over: "✕", none: "" };

// Offset in minutes of `zone` at a UTC instant.
function offsetAt(utcMillis) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
    hour: "numeric", minute: "numeric", second: "numeric",
  }).formatToParts(new Date(utcMillis));
  const v = Object.fromEntries(parts.map((p) => [p.type, Number(p.value)]));
  return (Date.UTC(v.year, v.month - 1, v.day, v.hour, v.minute, v.second) - utcMillis) / 60000;
}

// The UTC instant (ISO) of local midnight on year-month-day in the facility zone.
export function localMidnight(year, month, day) {
  const guess = Date.UTC(year, month - 1, day);
  let at = guess - offsetAt(guess) * 60000;
  at = guess - offsetAt(at) * 60000;
  return new Date(at).toISOString();
}

// The local month "YYYY-MM" as the API's from/to instants.
export function monthWindow(month) {
  const [y, m] = month.split("-").map(Number);
  return { from: localMidnight(y, m, 1), to: localMidnight(m === 12 ? y + 1 : y, m === 12 ? 1 : m + 1, 1) };
}

// Today's local date in the facility zone as [year, month, day].
export function today() {
  const text = new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date());
  return text.split("-").map(Number);
}

export const PATIENT_CLASS = { emergency: "ED", inpatient: "Inpatient", outpatient: "Outpatient" };
export const PRIORITY = { S: "STAT", A: "ASAP", R: "Routine", P: "Pre-op", T: "Timing critical" };
