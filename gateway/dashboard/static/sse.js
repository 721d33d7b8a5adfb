// The gateway's commit stream, read with fetch so the bearer token can go with it (EventSource
// cannot send headers). Reconnects after the stream ends; stop() ends it for good.
import { authHeaders } from "./api.js";

export function subscribe(onCommit, onState = () => {}) {
  const control = new AbortController();
  let stopped = false;
  async function run() {
    while (!stopped) {
      try {
        const response = await fetch("/api/v1/events", {
          headers: authHeaders({ Accept: "text/event-stream" }),
          signal: control.signal,
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        onState(true);
        await read(response.body, onCommit);
      } catch (error) {
        if (stopped) return;
      }
      onState(false);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  run();
  return () => {
    stopped = true;
    control.abort();
  };
}

async function read(body, onCommit) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5));
      if (data.length) onCommit(JSON.parse(data.join("\n")));
    }
  }
}
