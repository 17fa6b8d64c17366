#!/usr/bin/env node
// The official MCP conformance suite's server scenarios against a running mcp-sessions HTTP server.
//
//   node conformance.mjs http://127.0.0.1:8000/mcp [--output-dir DIR]
//
// Runs every scenario in APPLICABLE and fails if one fails. Every server scenario the installed suite knows
// must be either APPLICABLE or EXCLUDED (with the reason, mirrored in README.md), so upgrading the suite
// makes someone decide about each new scenario. The suite only speaks Streamable HTTP and sends no
// Authorization header: point it at a loopback server without --token.

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";

export const APPLICABLE = [
  "server-initialize",
  "ping",
  "tools-list",
  "resources-list", // the SDK advertises resources and answers an empty list
  "prompts-list", // likewise for prompts
  "server-sse-multiple-streams",
  "dns-rebinding-protection",
];

const FIXTURE_TOOL = "calls a tool of the suite's reference server that a real server does not have";
export const EXCLUDED = {
  "logging-set-level": "no logging capability (logs go to stderr, not to the client)",
  "completion-complete": "no completion capability (no prompts or resource templates to complete)",
  "tools-call-simple-text": `${FIXTURE_TOOL} (test_simple_text); it 'passes' only on the unknown-tool error`,
  "tools-call-image": `${FIXTURE_TOOL} (test_image_content); our tools return text only`,
  "tools-call-audio": `${FIXTURE_TOOL} (test_audio_content); our tools return text only`,
  "tools-call-embedded-resource": `${FIXTURE_TOOL} (test_embedded_resource); no resources`,
  "tools-call-mixed-content": `${FIXTURE_TOOL} (test_multiple_content_types); our tools return text only`,
  "tools-call-with-logging": `${FIXTURE_TOOL} (test_tool_with_logging); no logging capability`,
  "tools-call-error": `${FIXTURE_TOOL} (test_error_handling); it 'passes' only on the unknown-tool error`,
  "tools-call-with-progress": `${FIXTURE_TOOL} (test_tool_with_progress); our tools answer at once`,
  "tools-call-sampling": `${FIXTURE_TOOL} (test_sampling); the server never asks the client's model`,
  "tools-call-elicitation": `${FIXTURE_TOOL} (test_elicitation); the server never asks the user`,
  "json-schema-2020-12": `${FIXTURE_TOOL} (json_schema_2020_12_tool); pending in the suite`,
  "elicitation-sep1034-defaults": "needs elicitation, which the server never uses",
  "elicitation-sep1330-enums": "needs elicitation, which the server never uses",
  "server-sse-polling": `${FIXTURE_TOOL} (test_reconnection); pending in the suite; needs an SSE event store`,
  "resources-read-text": "reads the reference server's test://static-text; we offer no resources",
  "resources-read-binary": "reads the reference server's test://static-binary; we offer no resources",
  "resources-templates-read": "reads the reference server's resource template; we offer no resources",
  "resources-subscribe": "no resource subscriptions (the server advertises subscribe: false)",
  "resources-unsubscribe": "no resource subscriptions (the server advertises subscribe: false)",
  "prompts-get-simple": "gets the reference server's test_simple_prompt; we offer no prompts",
  "prompts-get-with-args": "gets the reference server's test_prompt_with_arguments; we offer no prompts",
  "prompts-get-embedded-resource": "gets the reference server's test_prompt_with_embedded_resource; no prompts",
  "prompts-get-with-image": "gets the reference server's test_prompt_with_image; we offer no prompts",
};

const manifest = createRequire(import.meta.url).resolve("@modelcontextprotocol/conformance/package.json");
const suite = join(dirname(manifest), JSON.parse(readFileSync(manifest, "utf8")).bin.conformance);

function serverScenarios() {
  const listing = execFileSync(process.execPath, [suite, "list", "--server"], { encoding: "utf8" });
  return [...listing.matchAll(/^\s+- (\S+)/gm)].map((m) => m[1]);
}

function runScenario(url, scenario, outputDir) {
  const argv = [suite, "server", "--url", url, "--scenario", scenario, "--output-dir", outputDir];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("close", (status) => resolve({ status, output }));
  });
}

function checksOf(outputDir, scenario) {
  const dir = readdirSync(outputDir).find((name) => name.startsWith(`server-${scenario}-`));
  return dir ? JSON.parse(readFileSync(join(outputDir, dir, "checks.json"), "utf8")) : [];
}

async function main() {
  const { values, positionals } = parseArgs({
    options: { "output-dir": { type: "string" } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) {
    console.error("usage: node conformance.mjs URL [--output-dir DIR]");
    return 2;
  }
  const [url] = positionals;
  const outputDir = values["output-dir"] ?? mkdtempSync(join(tmpdir(), "mcp-conformance-"));

  const known = serverScenarios();
  const undecided = known.filter((name) => !APPLICABLE.includes(name) && !(name in EXCLUDED));
  const gone = [...APPLICABLE, ...Object.keys(EXCLUDED)].filter((name) => !known.includes(name));
  if (undecided.length || gone.length) {
    console.error(
      `FAILED (conformance): update APPLICABLE/EXCLUDED in tests/interop/conformance.mjs and the README: ` +
        `new scenarios: ${undecided.join(", ") || "none"}; no longer in the suite: ${gone.join(", ") || "none"}`,
    );
    return 1;
  }

  // Scenarios are independent (each opens its own MCP session), so they run at once.
  const runs = await Promise.all(APPLICABLE.map((scenario) => runScenario(url, scenario, outputDir)));
  const failed = [];
  for (const [i, scenario] of APPLICABLE.entries()) {
    const { status, output } = runs[i];
    const checks = checksOf(outputDir, scenario);
    const bad = checks.filter((c) => c.status === "FAILURE");
    const ok = status === 0 && checks.length > 0 && bad.length === 0;
    const counts = `${checks.filter((c) => c.status === "SUCCESS").length} passed, ${bad.length} failed`;
    console.log(`${ok ? "pass" : "FAIL"} ${scenario}: ${counts}`);
    for (const check of bad) console.log(`     ${check.id}: ${check.errorMessage}`);
    if (!ok) {
      failed.push(scenario);
      if (!checks.length) console.log(output.trim());
    }
  }
  console.log(`${APPLICABLE.length - failed.length} of ${APPLICABLE.length} applicable scenarios passed`);
  console.log(`${Object.keys(EXCLUDED).length} excluded (see tests/interop/README.md); results in ${outputDir}`);
  if (failed.length) {
    console.error(`FAILED (conformance): ${failed.join(", ")}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main();
