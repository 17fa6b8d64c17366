/**
 * mcp-sessions browser snippet: record the page with @rrweb/record, send the events to
 * `mcp-sessions collect` (POST /v1/rrweb), and name the session on the page's own requests
 * so that the backend's traces join it.
 *
 *   import { record } from "@rrweb/record";
 *   import { startRecording } from "./mcp-sessions-rrweb.js";
 *
 *   const recording = startRecording({ record, endpoint: "http://127.0.0.1:4318" });
 *   fetch("/api/cart", { headers: recording.headers() });   // x-session-id + baggage session.id
 *
 * With rrweb's network plugin, leave the receiver's own requests out of the recording:
 *   getRecordNetworkPlugin({ transformRequestFn: skipIntakeRequests(endpoint), ... })
 *
 * Batches: {"session_id", "page_id", "seq", "user_id"?, "events"}. One page id per page load,
 * `seq` counting its batches from 0. A batch is sent every `flushIntervalMs`, as soon as
 * `maxBatchBytes` of events wait, and when the page is hidden or left (navigator.sendBeacon,
 * else fetch with keepalive: both survive the page, both carry at most 64 KiB, hence the
 * batch size). Batches go one at a time, gzip-compressed where the browser can, and a batch
 * that got no answer or a 5xx/429 is sent again unchanged (the receiver stores it once).
 * The session id lives in sessionStorage: one per tab, across reloads and pages of the site.
 *
 * Options: record (required: rrweb's `record`), endpoint, sessionId (your own session id),
 * userId, flushIntervalMs (5000), maxBatchBytes (48 KiB), recordOptions (passed to record;
 * inputs are masked in the browser unless you set maskAllInputs: false).
 *
 * Returned: sessionId, pageId, headers(), propagator (an OpenTelemetry TextMapPropagator
 * that adds the same headers to instrumented requests), resourceAttributes ({"session.id"}
 * for the web tracer's resource), flush() (a promise), stop().
 */

const STORAGE_KEY = "mcp-sessions.session-id";
const BEACON_LIMIT = 60 * 1024;

function randomId(prefix) {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function tabSessionId() {
  try {
    let id = sessionStorage.getItem(STORAGE_KEY);
    if (!id) {
      id = randomId("s-");
      sessionStorage.setItem(STORAGE_KEY, id);
    }
    return id;
  } catch {
    return randomId("s-"); // storage refused (privacy mode, sandboxed frame): one session per page
  }
}

async function gzip(text) {
  if (typeof CompressionStream === "undefined") return null;
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// fetch as the browser made it: the snippet's own requests must not become OpenTelemetry spans
// (fetch instrumentation) or recorded requests (rrweb's network plugin) that are sent again.
function plainFetch(...args) {
  let fetchApi = globalThis.fetch;
  while (typeof fetchApi.__original === "function" || typeof fetchApi.__rrweb_original__ === "function") {
    fetchApi = fetchApi.__original || fetchApi.__rrweb_original__;
  }
  return fetchApi.apply(globalThis, args);
}

/**
 * A `transformRequestFn` for @rrweb/rrweb-plugin-network-record that leaves out the requests
 * sent to the receiver itself (these batches, the OpenTelemetry exporter's), which would
 * otherwise be recorded, sent, recorded again...
 */
export function skipIntakeRequests(endpoint = "http://127.0.0.1:4318") {
  const prefix = endpoint.replace(/\/+$/, "") + "/v1/";
  return (request) => (String(request.name || "").startsWith(prefix) ? undefined : request);
}

export function startRecording(options) {
  const {
    record,
    endpoint = "http://127.0.0.1:4318",
    sessionId = tabSessionId(),
    userId = undefined,
    flushIntervalMs = 5000,
    maxBatchBytes = 48 * 1024,
    recordOptions = {},
  } = options;
  if (typeof record !== "function") throw new TypeError("startRecording: pass rrweb's record function as `record`");
  const url = endpoint.replace(/\/+$/, "") + "/v1/rrweb";
  const pageId = randomId("p-");
  const head = `{"session_id":${JSON.stringify(sessionId)},"page_id":${JSON.stringify(pageId)}` +
    (userId ? `,"user_id":${JSON.stringify(String(userId))}` : "");
  let seq = 0;
  const waiting = []; // each event as JSON text: stringified once, measured once
  let waitingBytes = 0;
  let sending = Promise.resolve();

  // The waiting events as one batch, or as the first of several when `limit` characters are reached.
  function nextBatch(limit = Infinity) {
    if (!waiting.length) return null;
    let n = 0;
    let size = 0;
    while (n < waiting.length && (n === 0 || size + waiting[n].length < limit)) size += waiting[n++].length;
    const events = waiting.splice(0, n);
    waitingBytes -= size;
    return `${head},"seq":${seq++},"events":[${events.join(",")}]}`;
  }

  async function send(text) {
    const packed = text.length > 1024 ? await gzip(text) : null;
    for (let attempt = 0; attempt < 6; attempt++) {
      let wait = 1000 * 2 ** attempt;
      try {
        const body = packed || text;
        const response = await plainFetch(url, {
          method: "POST",
          mode: "cors",
          keepalive: body.length < BEACON_LIMIT,
          headers: { "content-type": "application/json", ...(packed ? { "content-encoding": "gzip" } : {}) },
          body,
        });
        if (response.ok) return;
        const retryable = response.status >= 500 || response.status === 429 || response.status === 408;
        if (!retryable) {
          console.warn(`mcp-sessions: the receiver refused a batch (${response.status}): ${await response.text()}`);
          return;
        }
        const after = Number(response.headers.get("retry-after"));
        if (after > 0) wait = after * 1000;
      } catch {
        // the receiver is not reachable (yet): try again later
      }
      await sleep(wait);
    }
  }

  function flush() {
    const text = nextBatch();
    if (text !== null) sending = sending.then(() => send(text));
    return sending;
  }

  function flushNow() {
    // The page is going away: no time to compress or to wait for the batches before. A beacon
    // carries at most 64 KiB, so what waits goes in pieces under that.
    for (let text = nextBatch(BEACON_LIMIT - 1024); text !== null; text = nextBatch(BEACON_LIMIT - 1024)) {
      const queued = text.length < BEACON_LIMIT && navigator.sendBeacon && navigator.sendBeacon(url, text);
      if (!queued) {
        const init = { method: "POST", mode: "cors", keepalive: true, body: text, headers: { "content-type": "text/plain" } };
        plainFetch(url, init).catch(() => {});
      }
    }
  }

  const stopRecording = record({
    maskAllInputs: true,
    ...recordOptions,
    emit(event) {
      const text = JSON.stringify(event);
      waiting.push(text);
      waitingBytes += text.length;
      if (waitingBytes >= maxBatchBytes) flush();
    },
  });
  const timer = setInterval(flush, flushIntervalMs);
  const onHidden = () => {
    if (document.visibilityState === "hidden") flushNow();
  };
  addEventListener("pagehide", flushNow);
  document.addEventListener("visibilitychange", onHidden);

  const headers = () => ({
    "x-session-id": sessionId,
    baggage: `session.id=${encodeURIComponent(sessionId)}`,
  });

  return {
    sessionId,
    pageId,
    headers,
    resourceAttributes: { "session.id": sessionId },
    propagator: {
      inject(context, carrier, setter) {
        for (const [name, value] of Object.entries(headers())) setter.set(carrier, name, value);
      },
      extract(context) {
        return context;
      },
      fields() {
        return ["x-session-id", "baggage"];
      },
    },
    flush,
    stop() {
      if (stopRecording) stopRecording();
      clearInterval(timer);
      removeEventListener("pagehide", flushNow);
      document.removeEventListener("visibilitychange", onHidden);
      return flush();
    },
  };
}
