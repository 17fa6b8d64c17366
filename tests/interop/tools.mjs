// How the interop scripts call each tool the server lists, in order, with ids found by earlier calls.
//
// Both client.mjs (TypeScript SDK) and inspector.mjs (Inspector CLI) use this table. A tool the server
// lists without an entry here fails the run: whoever adds a tool adds its call here.

const need = (found, key, from) => {
  if (!found[key]) throw new Error(`no ${key} to use: ${from} returned none (is the database empty?)`);
  return found[key];
};

export const CALLS = [
  {
    // Offered only with `serve --allow-ingest ROOT`; runs first so a server over an empty database has data.
    tool: "ingest_recording",
    optional: true,
    args: (_found, options) => {
      if (!options.ingestPath) throw new Error("the server offers ingest_recording: pass --ingest-path PATH");
      return { path: options.ingestPath };
    },
    collect: () => {},
  },
  {
    tool: "list_sessions",
    args: () => ({ limit: 5 }),
    collect: (structured, found) => {
      found.sessionId = structured.sessions?.[0]?.session_id;
    },
  },
  {
    tool: "get_timeline",
    args: (found) => ({ session_id: need(found, "sessionId", "list_sessions"), limit: 20 }),
    collect: () => {},
  },
  {
    tool: "list_traces",
    args: (found) => ({ session_id: need(found, "sessionId", "list_sessions"), limit: 5 }),
    collect: (structured, found) => {
      found.traceId = structured.traces?.[0]?.trace_id;
    },
  },
  {
    tool: "get_trace",
    args: (found) => ({ trace_id: need(found, "traceId", "list_traces"), max_spans: 10 }),
    collect: (structured, found) => {
      found.spanId = structured.spans?.[0]?.span_id;
    },
  },
  {
    // A span get_trace showed, in detail: its attributes, events and links.
    tool: "get_span",
    args: (found) => ({
      trace_id: need(found, "traceId", "list_traces"),
      span_id: need(found, "spanId", "get_trace"),
    }),
    collect: () => {},
  },
  {
    // A session with no browser recording is drafted from its backend traces, so any session works.
    tool: "draft_regression_test",
    args: (found) => ({ session_id: need(found, "sessionId", "list_sessions"), budget_tokens: 2000 }),
    collect: () => {},
  },
  {
    tool: "get_session",
    args: (found) => ({ session_id: need(found, "sessionId", "list_sessions") }),
    collect: () => {},
  },
  {
    tool: "find_slow_spans",
    args: (found) => ({ trace_id: need(found, "traceId", "list_traces"), limit: 5 }),
    collect: () => {},
  },
  {
    tool: "find_errors",
    args: (found) => ({ session_id: need(found, "sessionId", "list_sessions"), limit: 5 }),
    collect: () => {},
  },
  {
    // A session against itself: always comparable, whatever the database holds.
    tool: "diff_against_baseline",
    args: (found) => {
      const sessionId = need(found, "sessionId", "list_sessions");
      return { session_id: sessionId, baseline: sessionId, max_findings: 5 };
    },
    collect: () => {},
  },
];

/** The entries to run, in table order, for the tools the server lists; throws when the two disagree. */
export function plan(listedNames) {
  const known = new Set(CALLS.map((c) => c.tool));
  const unknown = listedNames.filter((name) => !known.has(name));
  if (unknown.length) {
    throw new Error(
      `tests/interop/tools.mjs has no call for ${unknown.join(", ")}, which the server lists: add one to CALLS`,
    );
  }
  const missing = CALLS.filter((c) => !c.optional && !listedNames.includes(c.tool)).map((c) => c.tool);
  if (missing.length) throw new Error(`the server does not list ${missing.join(", ")}`);
  return CALLS.filter((c) => listedNames.includes(c.tool));
}

/** Why a tools/call result is not a success with structured content, or null when it is. */
export function problemWith(result) {
  if (result.isError) return `isError: ${result.content?.map((c) => c.text).join(" ")}`;
  if (!result.structuredContent || typeof result.structuredContent !== "object") return "no structuredContent";
  if (!result.content?.some((c) => c.type === "text" && c.text)) return "no text content";
  return null;
}

/** Command-line shape shared by the scripts: `stdio -- COMMAND ARGS...` or `http URL [--token T]`. */
export function target(positionals, values, usage) {
  const [mode, ...rest] = positionals;
  if (mode === "stdio" && rest.length) return { mode, command: rest[0], args: rest.slice(1), values };
  if (mode === "http" && rest.length === 1) return { mode, url: rest[0], values };
  console.error(usage);
  process.exit(2);
}

export const USAGE_OPTIONS = {
  token: { type: "string" },
  "ingest-path": { type: "string" },
};
