// The browser side of tests/test_browser_intake.py, bundled by esbuild at test time.
// The OpenTelemetry web SDK exports its spans (OTLP/HTTP JSON) and the shipped snippet sends
// rrweb batches, both straight to `mcp-sessions collect` on another origin.
import { record } from "@rrweb/record";
import { getRecordNetworkPlugin } from "@rrweb/rrweb-plugin-network-record";
import { CompositePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { FetchInstrumentation } from "@opentelemetry/instrumentation-fetch";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, WebTracerProvider } from "@opentelemetry/sdk-trace-web";
import { skipIntakeRequests, startRecording } from "../../mcp_sessions/browser/mcp-sessions-rrweb.js";

const { collector, backend } = window.INTAKE_TEST;

// rrweb first: its network plugin then wraps fetch inside the OpenTelemetry wrapper, so it records the
// traceparent header the instrumentation adds. This script is deferred (as module scripts are): the
// document is parsed, so record() starts at once instead of at the load event.
const recording = startRecording({
  record,
  endpoint: collector,
  userId: "shopper-7",
  flushIntervalMs: 300,
  recordOptions: {
    plugins: [
      getRecordNetworkPlugin({
        initiatorTypes: ["fetch"],
        transformRequestFn: skipIntakeRequests(collector),
        recordHeaders: { request: true, response: false },
        recordBody: false,
      }),
    ],
  },
});

const exporter = new OTLPTraceExporter({ url: `${collector}/v1/traces` });
const provider = new WebTracerProvider({
  resource: resourceFromAttributes({ "service.name": "shop-web", ...recording.resourceAttributes }),
  spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 200 })],
});
provider.register({
  propagator: new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), recording.propagator] }),
});
// A string here must equal the whole URL; a pattern matches every path of the backend.
const backendUrls = new RegExp(`^${backend.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/`);
registerInstrumentations({
  instrumentations: [new FetchInstrumentation({ propagateTraceHeaderCorsUrls: [backendUrls] })],
});

async function call(path, init) {
  const response = await fetch(`${backend}${path}`, init);
  document.querySelector("#status").textContent = `${path}: ${response.status}`;
  return response.status;
}

window.shop = {
  recording,
  addToCart: () => call("/api/cart", { method: "POST", body: JSON.stringify({ sku: "tea" }) }),
  checkout: () => call("/api/checkout", { method: "POST" }),
  flush: async () => {
    await provider.forceFlush();
    await recording.flush();
  },
};
document.body.dataset.ready = "yes";
