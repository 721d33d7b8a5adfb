// Small inline-SVG charts: grouped bars, lines, and stacked time rows. Each chart is an image
// with a text alternative; its numbers are also in a table beside it.
const NS = "http://www.w3.org/2000/svg";
const W = 720;
const H = 240;
const PAD = { left: 48, right: 12, top: 16, bottom: 40 };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function frame(title, height = H) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", class: "chart", "aria-label": title });
  root.append(svg("title", {}, title));
  return root;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

function axis(root, max, height = H) {
  const plot = height - PAD.top - PAD.bottom;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + plot - (plot * i) / 4;
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }));
    root.append(svg("text", { x: PAD.left - 6, y: y + 4, class: "tick", "text-anchor": "end" }, String(Math.round((max * i) / 4))));
  }
  return (v) => PAD.top + plot - (plot * v) / max;
}

function labelsBelow(root, labels, xOf, width) {
  const every = Math.max(1, Math.ceil(labels.length / 14));
  labels.forEach((label, i) => {
    if (i % every) return;
    root.append(svg("text", { x: xOf(i) + width / 2, y: H - PAD.bottom + 16, class: "tick", "text-anchor": "middle" }, label));
  });
}

function legend(root, series) {
  let x = PAD.left;
  for (const s of series) {
    root.append(svg("rect", { x, y: H - 14, width: 10, height: 10, class: `fill-${s.cls}` }));
    root.append(svg("text", { x: x + 14, y: H - 5, class: "tick" }, s.name));
    x += 24 + s.name.length * 7;
  }
}

function goalLine(root, y, goal) {
  root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(goal), y2: y(goal), class: "goal" }));
  root.append(svg("text", { x: W - PAD.right, y: y(goal) - 4, class: "tick", "text-anchor": "end" }, `goal ${goal} min`));
}

// Grouped bars: series [{name, cls, values}], one group per label. onBar(index) makes each group
// a button (click, Enter or Space).
export function bars({ title, labels, series, goal = null, onBar = null }) {
  const root = frame(title);
  // An image may not hold buttons (WCAG 4.1.2): a chart whose bars open orders is a group.
  if (onBar) root.setAttribute("role", "group");
  const max = niceMax(Math.max(goal || 0, ...series.flatMap((s) => s.values.map((v) => v || 0))));
  const y = axis(root, max);
  const slot = (W - PAD.left - PAD.right) / Math.max(1, labels.length);
  const bar = Math.max(2, (slot * 0.8) / series.length);
  const xOf = (i) => PAD.left + i * slot + slot * 0.1;
  labels.forEach((label, i) => {
    const group = svg("g", { class: "bar" });
    const said = series.map((s) => `${s.name} ${s.values[i] ?? "none"}`).join(", ");
    group.append(svg("title", {}, `${label}: ${said}`));
    series.forEach((s, k) => {
      const v = s.values[i] || 0;
      group.append(svg("rect", { x: xOf(i) + k * bar, y: y(v), width: bar - 1, height: y(0) - y(v), class: `fill-${s.cls}` }));
    });
    if (onBar) {
      Object.entries({ tabindex: 0, role: "button", "aria-label": `${label}: ${said}. Show orders`, "data-label": label })
        .forEach(([k, v]) => group.setAttribute(k, v));
      group.addEventListener("click", () => onBar(i));
      group.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          onBar(i);
        }
      });
    }
    root.append(group);
  });
  labelsBelow(root, labels, xOf, slot * 0.8);
  if (goal) goalLine(root, y, goal);
  legend(root, series);
  return root;
}

// Lines: series [{name, cls, values}] over labels; gaps where a value is null.
export function lines({ title, labels, series, goal = null }) {
  const root = frame(title);
  const max = niceMax(Math.max(goal || 0, ...series.flatMap((s) => s.values.map((v) => v || 0))));
  const y = axis(root, max);
  const step = (W - PAD.left - PAD.right) / Math.max(1, labels.length - 1);
  const xOf = (i) => PAD.left + i * step;
  for (const s of series) {
    let d = "";
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      d += `${d && s.values[i - 1] !== null && s.values[i - 1] !== undefined ? "L" : "M"}${xOf(i)},${y(v)} `;
      root.append(svg("circle", { cx: xOf(i), cy: y(v), r: 3, class: `dot-${s.cls}` }));
    });
    root.append(svg("path", { d, class: `line-${s.cls}` }));
  }
  labelsBelow(root, labels, (i) => xOf(i) - 10, 20);
  if (goal) goalLine(root, y, goal);
  legend(root, series);
  return root;
}

// Stacked rows: rows [{label, spans: [{parts: {up, down, planned, unknown}}]}], one span per day.
export function timeline({ title, rows, kinds }) {
  const rowH = 22;
  const height = PAD.top + rows.length * (rowH + 6) + 30;
  const root = frame(title, height);
  const left = 90;
  const width = W - left - PAD.right;
  rows.forEach((row, r) => {
    const top = PAD.top + r * (rowH + 6);
    root.append(svg("text", { x: left - 6, y: top + 15, class: "tick", "text-anchor": "end" }, row.label));
    const spanW = width / Math.max(1, row.spans.length);
    row.spans.forEach((span, d) => {
      const total = kinds.reduce((sum, k) => sum + (span.parts[k.key] || 0), 0) || 1;
      let x = left + d * spanW;
      for (const k of kinds) {
        const w = (spanW * (span.parts[k.key] || 0)) / total;
        if (w > 0) root.append(svg("rect", { x, y: top, width: w, height: rowH, class: `fill-${k.cls}` }));
        x += w;
      }
    });
  });
  let x = left;
  for (const k of kinds) {
    root.append(svg("rect", { x, y: height - 16, width: 10, height: 10, class: `fill-${k.cls}` }));
    root.append(svg("text", { x: x + 14, y: height - 7, class: "tick" }, k.name));
    x += 30 + k.name.length * 7;
  }
  return root;
}
