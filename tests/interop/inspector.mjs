#!/usr/bin/env node
// The official MCP Inspector CLI against mcp-sessions: tools/list, then tools/call for every tool, each a
// separate `inspector --cli` run (over stdio each run starts its own server) whose JSON output is checked.
//
//   node inspector.mjs [--ingest-path P] stdio -- mcp-sessions serve --db sessions.db
//   node inspector.mjs [--ingest-path P] [--token T] http http://127.0.0.1:8000/mcp
//
// Exits 0 when every call succeeded with structured content, 1 with a message naming the failure.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";

import { plan, problemWith, target, USAGE_OPTIONS } from "./tools.mjs";

const USAGE = "usage: node inspector.mjs [--ingest-path P] [--token T] (stdio -- COMMAND ARGS... | http URL)";
const { values, positionals } = parseArgs({ options: USAGE_OPTIONS, allowPositionals: true });
const where = target(positionals, values, USAGE);

const manifest = createRequire(import.meta.url).resolve("@modelcontextprotocol/inspector/package.json");
const launcher = join(dirname(manifest), JSON.parse(readFileSync(manifest, "utf8")).bin["mcp-inspector"]);

// The Inspector gives a stdio server only a safe subset of the environment; Python's own settings must
// reach it so it runs the same interpreter and code (a virtualenv, PYTHONPATH).
const pythonEnv = Object.entries(process.env)
  .filter(([key, value]) => value && (key.startsWith("PYTHON") || key === "VIRTUAL_ENV"))
  .flatMap(([key, value]) => ["-e", `${key}=${value}`]);

/** One Inspector CLI run; its stdout parsed as JSON. */
function inspector(methodArgs) {
  const connect =
    where.mode === "stdio"
      ? [...pythonEnv, "--", where.command, ...where.args]
      : [
          "--transport",
          "http",
          "--server-url",
          where.url,
          ...(values.token ? ["--header", `Authorization: Bearer ${values.token}`] : []),
        ];
  const argv = [launcher, "--cli", ...methodArgs, ...connect];
  let stdout;
  try {
    stdout = execFileSync(process.execPath, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const output = `${error.stdout ?? ""}${error.stderr ?? ""}`.trim();
    throw new Error(`inspector ${methodArgs.join(" ")} exited ${error.status}: ${output || error.message}`);
  }
  try {
    return JSON.parse(stdout);
  } catch {
    throw new Error(`inspector ${methodArgs.join(" ")} printed no JSON: ${stdout.slice(0, 500)}`);
  }
}

try {
  const listed = inspector(["--method", "tools/list"]);
  const names = (listed.tools ?? []).map((t) => t.name);
  console.log(`${where.mode}: tools/list -> ${names.join(", ")}`);
  const found = {};
  for (const entry of plan(names)) {
    const args = entry.args(found, { ingestPath: values["ingest-path"] });
    // Each value as JSON, which the Inspector parses back: strings stay strings even when they look numeric.
    const pairs = Object.entries(args).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
    const result = inspector(["--method", "tools/call", "--tool-name", entry.tool, "--tool-arg", ...pairs]);
    const problem = problemWith(result);
    if (problem) throw new Error(`${entry.tool}(${JSON.stringify(args)}) failed: ${problem}`);
    entry.collect(result.structuredContent, found);
    console.log(`${where.mode}: ${entry.tool}(${JSON.stringify(args)}) -> ok`);
  }
  console.log(`${where.mode}: OK`);
} catch (error) {
  console.error(`FAILED (Inspector CLI over ${where.mode}): ${error.message}`);
  process.exitCode = 1;
}
