// The recorder a page embeds, bundled by esbuild at test time (tests/test_browser_capture.py):
// @rrweb/record with its console and network plugins, as their READMEs show them, each event
// handed to the Playwright binding `__rrwebEmit` (record.mjs writes them to a file).
import { record } from "@rrweb/record";
import { getRecordConsolePlugin } from "@rrweb/rrweb-plugin-console-record";
import { getRecordNetworkPlugin } from "@rrweb/rrweb-plugin-network-record";

record({
  emit: (event) => window.__rrwebEmit(event),
  plugins: [getRecordConsolePlugin(), getRecordNetworkPlugin({ recordInitialRequests: true })],
});
document.body.dataset.recording = "yes";
