// Regenerates node-nested-exception.json: one JS exception recorded by the span that threw it
// and by both spans it propagated through, as the OTel JS SDK exports it (OTLP/JSON).
//
//   cd "$(mktemp -d)" && npm install @opentelemetry/api@1 @opentelemetry/sdk-trace-base@2 \
//       @opentelemetry/resources@2 @opentelemetry/otlp-transformer
//   node <repo>/tests/data/recordings/make_node_nested_exception.mjs > <repo>/tests/data/recordings/node-nested-exception.json
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), "index.js"));
const api = require("@opentelemetry/api");
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require("@opentelemetry/sdk-trace-base");
const { resourceFromAttributes } = require("@opentelemetry/resources");
const { JsonTraceSerializer } = require("@opentelemetry/otlp-transformer");
const { AsyncLocalStorageContextManager } = require("@opentelemetry/context-async-hooks");

api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ "service.name": "cart-node" }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer("cart");

// The pattern the OTel JS docs show for recording errors: record, mark, rethrow, end.
function traced(name, kind, fn) {
  return tracer.startActiveSpan(name, { kind }, (span) => {
    try {
      return fn();
    } catch (err) {
      span.recordException(err);
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: err.message });
      throw err;
    } finally {
      span.end();
    }
  });
}

function parseLine(line) {
  return traced("parse line", api.SpanKind.INTERNAL, () => line.quantity.value * 1);
}
function loadCart(cart) {
  return traced("load cart", api.SpanKind.INTERNAL, () => cart.lines.map(parseLine));
}
try {
  traced("GET /cart", api.SpanKind.SERVER, () => loadCart({ lines: [{ quantity: { value: 2 } }, {}] }));
} catch {}
await provider.forceFlush();
process.stdout.write(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(exporter.getFinishedSpans())));
