// Records one visit to a page in Debian's Chromium, driven by playwright-core: the page's own
// rrweb recording (page.js) to rrweb.json and Playwright's HAR (recordHar) to page.har.
//   node record.mjs <page url> <output directory>
import { writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [url, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const context = await browser.newContext({ recordHar: { path: `${out}/page.har` }, viewport: { width: 900, height: 600 } });
const events = [];
await context.exposeFunction("__rrwebEmit", (event) => {
  events.push(event);
});
const page = await context.newPage();
const problems = [];
page.on("pageerror", (error) => problems.push(String(error)));
await page.goto(url);
await page.waitForSelector("body[data-recording=yes]");
await page.waitForTimeout(300);
for (let n = 1; n <= 3; n += 1) {
  // three separate clicks, each loading the list once: never "duplicate calls"
  await page.click("#load");
  await page.waitForSelector(`#status:has-text("loaded ${n}")`);
  await page.waitForTimeout(400);
}
await page.hover("#list");
await page.mouse.wheel(0, 300); // the list scrolls
await page.waitForTimeout(300);
await page.evaluate(() => document.querySelector("#list").scrollBy(0, 200));
await page.waitForTimeout(1500);
await page.hover("h1");
await page.evaluate(() => window.scrollBy(0, 400)); // then the page itself
await page.waitForTimeout(300);
await page.click("#save");
await page.waitForSelector('#status:has-text("saved")');
await page.click("#fail");
await page.waitForSelector('#status:has-text("failed 500")');
await page.waitForTimeout(800); // the network plugin reports a request once its timing entry is there
await context.close(); // writes the HAR
await browser.close();
writeFileSync(`${out}/rrweb.json`, JSON.stringify(events));
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
