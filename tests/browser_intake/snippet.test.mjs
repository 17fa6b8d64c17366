// The shipped snippet's batching, resending and unload path, in Node with the browser's globals stubbed
// (run by test_browser_intake.py: node --test). The real browser path is the Chromium test beside it.
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { test } from "node:test";
import { skipIntakeRequests, startRecording } from "../../mcp_sessions/browser/mcp-sessions-rrweb.js";

function browser({ answers = [] } = {}) {
  const sent = [];
  const beacons = [];
  const listeners = {};
  globalThis.sessionStorage = new Map([["mcp-sessions.session-id", "s-fixed"]]);
  sessionStorage.getItem = sessionStorage.get;
  sessionStorage.setItem = sessionStorage.set;
  globalThis.addEventListener = (name, fn) => (listeners[name] = fn);
  globalThis.removeEventListener = () => {};
  globalThis.document = { visibilityState: "visible", addEventListener: () => {}, removeEventListener: () => {} };
  Object.defineProperty(globalThis, "navigator", {
    configurable: true,
    value: { sendBeacon: (url, text) => (beacons.push({ url, text }), text.length < 64 * 1024) },
  });
  globalThis.fetch = async (url, init) => {
    const body = typeof init.body === "string" ? init.body : gunzipSync(init.body).toString();
    sent.push({ url, init, doc: JSON.parse(body) });
    const status = answers.length ? answers.shift() : 200;
    return { ok: status < 300, status, headers: { get: () => "0" }, text: async () => "" };
  };
  let emit;
  const record = (options) => {
    emit = options.emit;
    return () => {};
  };
  return { sent, beacons, listeners, record, emit: (e) => emit(e) };
}

const event = (i, pad = 10) => ({ type: 3, timestamp: 1700000000000 + i, data: { source: 2, type: 2, id: i, pad: "x".repeat(pad) } });

test("batches carry the session, a page id and numbers from 0; big ones go gzip-compressed", async () => {
  const b = browser();
  const recording = startRecording({ record: b.record, endpoint: "http://127.0.0.1:4318/", flushIntervalMs: 60000 });
  b.emit(event(1));
  await recording.flush();
  for (let i = 2; i < 40; i++) b.emit(event(i, 100));
  await recording.stop();
  assert.equal(b.sent.length, 2);
  assert.deepEqual(b.sent.map((s) => s.doc.seq), [0, 1]);
  assert.ok(b.sent.every((s) => s.url === "http://127.0.0.1:4318/v1/rrweb"));
  assert.ok(b.sent.every((s) => s.doc.session_id === "s-fixed" && s.doc.page_id === recording.pageId));
  assert.equal(b.sent[1].init.headers["content-encoding"], "gzip");
  assert.equal(b.sent[1].doc.events.length, 38);
  assert.deepEqual(recording.headers(), { "x-session-id": "s-fixed", baggage: "session.id=s-fixed" });
});

test("a batch answered 503 is sent again unchanged; one answered 400 is not", async () => {
  const b = browser({ answers: [503, 200, 400] });
  const recording = startRecording({ record: b.record, flushIntervalMs: 60000 });
  b.emit(event(1));
  await recording.flush();
  b.emit(event(2));
  await recording.flush();
  await recording.stop();
  assert.deepEqual(b.sent.map((s) => s.doc.seq), [0, 0, 1]);
  assert.deepEqual(b.sent[0].doc, b.sent[1].doc);
});

test("leaving the page sends what waits by beacon, in pieces under 64 KiB", () => {
  const b = browser();
  const recording = startRecording({ record: b.record, flushIntervalMs: 60000, maxBatchBytes: 10 ** 9 });
  for (let i = 0; i < 30; i++) b.emit(event(i, 5000));
  b.listeners.pagehide();
  recording.stop();
  assert.ok(b.beacons.length >= 3);
  const docs = b.beacons.map((x) => JSON.parse(x.text));
  assert.ok(b.beacons.every((x) => x.text.length < 64 * 1024));
  assert.deepEqual(docs.map((d) => d.seq), docs.map((_, i) => i));
  assert.equal(docs.reduce((n, d) => n + d.events.length, 0), 30);
});

test("the network plugin filter drops the receiver's own requests only", () => {
  const keep = skipIntakeRequests("http://127.0.0.1:4318");
  assert.equal(keep({ name: "http://127.0.0.1:4318/v1/rrweb" }), undefined);
  assert.equal(keep({ name: "http://127.0.0.1:4318/v1/traces" }), undefined);
  assert.deepEqual(keep({ name: "http://127.0.0.1:8000/api/cart" }), { name: "http://127.0.0.1:8000/api/cart" });
});
