// main.js: which view this document is, and where its data comes from.
//
// Bound to a tool, a view first draws that tool's own answer (the tool-result notification),
// then asks its view_* tool for the whole picture and draws it again:
//
//   get_trace → TraceView (the budgeted cut)        view_trace   → TraceWaterfall (every span)
//   get_timeline → Timeline, get_session → overview  view_session → SessionPicture
//   diff_against_baseline → DiffView (findings)      view_diff    → DiffPicture (aligned nodes)
//
// A report file holds the pictures already. The time from data to drawn is kept on
// <body data-render-ms>, and <body data-state> says loading / partial / ready / error.

const root = document.getElementById("app");
const viewName = document.body.dataset.view;
let toolArguments = {};

function drawn(state) {
  document.body.dataset.state = state;
}

function timed(draw) {
  const started = performance.now();
  draw();
  return new Promise((resolve) => requestAnimationFrame(() => {
    document.body.dataset.renderMs = String(Math.round(performance.now() - started));
    resolve();
  }));
}

const VIEWS = {
  trace: {
    make: (host) => Waterfall(host),
    whole: (payload) => !!payload.critical,
    load: (host, payload) => host.callTool("view_trace", {
      trace_id: payload.trace.trace_id,
      ...(payload.focus_span_id ? {span_id: payload.focus_span_id} : {}),
    }),
  },
  session: {
    make: (host) => SessionView(host),
    whole: (payload) => !!payload.timeline,
    load: (host, payload, view) => host.callTool("view_session", {session_id: view.sessionId(payload)}),
  },
  diff: {
    make: (host) => DiffView(host),
    whole: (payload) => !!payload.rows,
    load: (host, payload) => host.callTool("view_diff", diffArguments(payload)),
  },
};

// The arguments that repeat the diff: the tool's own, else what its answer names.
function diffArguments(payload) {
  const keys = ["session_id", "baseline", "trace_id", "baseline_trace_id"];
  const given = Object.fromEntries(keys.filter((k) => toolArguments[k]).map((k) => [k, toolArguments[k]]));
  if (Object.keys(given).length) return given;
  if (payload.target.kind === "trace") return {trace_id: payload.target.name, baseline_trace_id: payload.baseline.name};
  return payload.baseline.kind === "session"
    ? {session_id: payload.target.name, baseline: payload.baseline.name}
    : {session_id: payload.target.name};
}

async function showResult(spec, host, view, result) {
  if (result.isError || !result.structuredContent) {
    const text = (result.content || []).map((c) => c.text || "").join(" ");
    message(root, text || "The tool returned no data to draw.", "err-text");
    drawn("error");
    return;
  }
  const payload = result.structuredContent;
  if (spec.whole(payload)) {
    await timed(() => view.show(payload));
    drawn("ready");
    return;
  }
  await timed(() => view.show(payload, "Drawing the answer the model read; loading the whole picture…"));
  drawn("partial");
  try {
    const whole = await spec.load(host, payload, view);
    await timed(() => view.show(whole));
    drawn("ready");
  } catch (error) {
    view.show(payload, "Shows the answer the model read; the whole picture could not be loaded (" + error.message + ").");
    drawn("partial");
  }
}

function start() {
  const data = embeddedData();
  if (data) {
    const host = reportHost(data);
    const isSession = data.kind === "session";
    const view = isSession ? SessionView(host) : Waterfall(host);
    root.appendChild(view.node);
    const held = Object.keys(data.traces).length;
    const note = isSession && held < data.trace_count
      ? "This file holds " + held + " of the session's " + data.trace_count + " traces (those with errors first)."
      : null;
    timed(() => view.show(isSession ? data.session : data.traces[data.main_trace], note)).then(() => drawn("ready"));
    return;
  }
  const spec = VIEWS[viewName];
  if (window.parent === window || !spec) {
    message(root, "This page is an MCP Apps view: an MCP host that renders Apps draws it beside a tool's answer.");
    drawn("error");
    return;
  }
  let view = null;
  const host = appsHost({
    input: (args) => {
      toolArguments = args;
    },
    result: (result) => showResult(spec, host, view, result),
    cancelled: (reason) => {
      message(root, "The tool call was cancelled: " + reason);
      drawn("error");
    },
  });
  view = spec.make(host);
  root.appendChild(view.node);
  drawn("loading");
  message(view.node, "Waiting for the tool's answer…");
  host.ready.catch((error) => {
    message(root, "The host did not start this view: " + error.message, "err-text");
    drawn("error");
  });
}

start();
