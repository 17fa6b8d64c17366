// An Express app under the OpenTelemetry Node SDK (@opentelemetry/sdk-node) with the http and
// express instrumentations, exporting OTLP/JSON through @opentelemetry/exporter-trace-otlp-http to
// the capture server. Client calls from the same process make client → server traces; one route
// fails with a 500, one calls a downstream service, one starts work that outlives the response.
// Run: node express_otlp.js BASE_URL   (versions pinned in package-lock.json)
'use strict';

const base = process.argv[2];
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const sdk = new NodeSDK({
  resource: resourceFromAttributes({ 'service.name': 'catalog-node' }),
  traceExporter: new OTLPTraceExporter({ url: `${base}/v1/traces` }),
  instrumentations: [new HttpInstrumentation(), new ExpressInstrumentation()],
});
sdk.start();

const http = require('http');
const express = require('express');
const api = require('@opentelemetry/api');

const tracer = api.trace.getTracer('corpus.catalog');
const downstream = base.replace(/\/[^/]*$/, '/downstream');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); }).on('error', reject);
  });
}

const app = express();
app.get('/api/products/:id', async (req, res) => {
  const status = await get(`${downstream}/catalog/${req.params.id}`);
  res.json({ id: req.params.id, catalog: status });
});
app.get('/api/fail', () => {
  throw new Error('catalog index is corrupt');
});
app.post('/api/reindex', (req, res) => {
  res.status(202).json({ accepted: true });
  // the work goes on after the response: its spans outlive the request's server span
  tracer.startActiveSpan('reindex', async (span) => {
    for (let shard = 0; shard < 3; shard++) {
      await tracer.startActiveSpan(`reindex shard ${shard}`, async (child) => {
        await sleep(15);
        child.end();
      });
    }
    span.end();
  });
});
app.use((err, req, res, next) => res.status(500).json({ error: err.message }));

const server = app.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const local = `http://127.0.0.1:${port}`;
  await get(`${local}/api/products/1YMWWN1N4O`);
  await get(`${local}/api/products/L9ECAV7KIM`);
  await get(`${local}/api/fail`);
  await new Promise((resolve, reject) => {
    const req = http.request(`${local}/api/reindex`, { method: 'POST' }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
  await sleep(80);
  server.closeAllConnections();
  server.close();
  await sdk.shutdown();
});
