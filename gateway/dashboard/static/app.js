// The dashboard's shell: token, settings, the view chosen by the address's #fragment, live state.
import { get, token, askToken } from "./api.js";
import { configure, facilityZone, time } from "./format.js";

const VIEWS = ["now", "turnaround", "volumes", "equipment", "integrity", "report"];
let current = null;

async function show() {
  const name = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "now";
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  current?.dispose?.();
  current = null;
  const main = document.getElementById("view");
  main.replaceChildren();
  main.setAttribute("aria-busy", "true");
  document.title = `${name[0].toUpperCase()}${name.slice(1)} · Imaging department dashboard`;
  const module = await import(`./${name}.js`);
  try {
    current = await module.render(main, { live: setLive });
  } catch (error) {
    main.append(Object.assign(document.createElement("p"), { className: "error", role: "alert", textContent: `Could not load: ${error.message}` }));
  }
  main.setAttribute("aria-busy", "false");
  main.dataset.ready = name;
}

function setLive(connected) {
  const badge = document.getElementById("live");
  badge.textContent = connected === null ? "" : connected ? "● Live" : "○ Reconnecting…";
  badge.className = connected ? "live on" : "live off";
}

function tick() {
  document.getElementById("clock").textContent = `${time(new Date().toISOString())} ${facilityZone()}`;
}

async function start() {
  // The settings call is the first to need a token: the API answers 401 and the page asks once.
  if (!token()) {
    const probe = await fetch("/api/v1/dashboard/config");
    if (probe.status === 401) await askToken();
  }
  configure(await get("/api/v1/dashboard/config"));
  document.getElementById("token-dialog").close();
  tick();
  setInterval(tick, 30000);
  window.addEventListener("hashchange", () => {
    show();
    document.getElementById("view").focus();
  });
  await show();
}

start();
