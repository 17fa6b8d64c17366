#!/usr/bin/env node
// The official TypeScript SDK client against mcp-sessions: list the tools, call every one, check the answers.
//
//   node client.mjs [--ingest-path P] stdio -- mcp-sessions serve --db sessions.db
//   node client.mjs [--ingest-path P] [--token T] http http://127.0.0.1:8000/mcp
//
// Exits 0 when every call succeeded with structured content, 1 with a message naming the failure.

import { parseArgs } from "node:util";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

import { plan, problemWith, target, USAGE_OPTIONS } from "./tools.mjs";

const USAGE = "usage: node client.mjs [--ingest-path P] [--token T] (stdio -- COMMAND ARGS... | http URL)";
const { values, positionals } = parseArgs({ options: USAGE_OPTIONS, allowPositionals: true });
const where = target(positionals, values, USAGE);

function transport() {
  if (where.mode === "stdio") {
    // The whole environment, so the server finds the same Python (the SDK passes only a safe subset by default).
    return new StdioClientTransport({ command: where.command, args: where.args, env: { ...process.env } });
  }
  const headers = values.token ? { Authorization: `Bearer ${values.token}` } : {};
  return new StreamableHTTPClientTransport(new URL(where.url), { requestInit: { headers } });
}

async function listAllTools(client) {
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

async function run(client) {
  const tools = await listAllTools(client);
  const names = tools.map((t) => t.name);
  console.log(`${where.mode}: tools/list -> ${names.join(", ")}`);
  for (const tool of tools) {
    if (!tool.outputSchema) throw new Error(`${tool.name} publishes no outputSchema`);
  }

  const found = {};
  for (const entry of plan(names)) {
    const args = entry.args(found, { ingestPath: values["ingest-path"] });
    // callTool also validates structuredContent against the tool's outputSchema.
    const result = await client.callTool({ name: entry.tool, arguments: args });
    const problem = problemWith(result);
    if (problem) throw new Error(`${entry.tool}(${JSON.stringify(args)}) failed: ${problem}`);
    entry.collect(result.structuredContent, found);
    console.log(`${where.mode}: ${entry.tool}(${JSON.stringify(args)}) -> ok`);
  }

  // An unknown id is a tool error the model can act on, not a protocol error.
  const missing = await client.callTool({ name: "get_trace", arguments: { trace_id: "0".repeat(32) } });
  const text = missing.content?.map((c) => c.text).join(" ") ?? "";
  if (!missing.isError || !text.includes("list_traces")) {
    throw new Error(`get_trace on an unknown id should be a tool error pointing at list_traces, got ${text}`);
  }
  console.log(`${where.mode}: get_trace(unknown id) -> tool error, as expected`);
}

const client = new Client({ name: "mcp-sessions-interop", version: "1.0.0" });
try {
  await client.connect(transport());
  const server = client.getServerVersion();
  console.log(`${where.mode}: connected to ${server?.name} ${server?.version}`);
  await run(client);
  console.log(`${where.mode}: OK`);
} catch (error) {
  const cause = error.cause?.message ? ` (${error.cause.message})` : "";
  console.error(`FAILED (TypeScript SDK client over ${where.mode}): ${error.message}${cause}`);
  process.exitCode = 1;
} finally {
  await client.close();
}
