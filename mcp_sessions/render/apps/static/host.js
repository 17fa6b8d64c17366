// host.js: where a view's data comes from.
//
// In an MCP Apps host the view is a guest in a sandboxed iframe speaking JSON-RPC over
// postMessage (the io.modelcontextprotocol/ui extension, protocol 2026-01-26):
//
//   view → host   ui/initialize               (answer: host context: theme, styles, tool)
//   view → host   ui/notifications/initialized
//   host → view   ui/notifications/tool-input   the arguments the tool was called with
//   host → view   ui/notifications/tool-result  its CallToolResult (content + structuredContent)
//   view → host   tools/call                   our read-only view_* tools, proxied to the server
//   view → host   ui/notifications/size-changed when the drawn content changes size
//   host → view   ui/resource-teardown (answered), host-context-changed, tool-cancelled
//
// In a report file (mcp-sessions report) the data is embedded in the page and "calling a tool"
// reads it: the views cannot tell the two apart.

const PROTOCOL_VERSION = "2026-01-26";
const CALL_TIMEOUT_MS = 60000;
// The only tools a view calls: read-only, and hidden from the model (tools/views.py).
const VIEW_TOOLS = new Set(["view_trace", "view_session", "view_diff"]);

function embeddedData() {
  const element = document.getElementById("mcp-sessions-data");
  return element ? JSON.parse(element.textContent) : null;
}

function reportHost(data) {
  const traces = data.traces || {};
  return {
    mode: "report",
    callTool(name, args) {
      if (name === "view_trace" && args.span_id) {
        return Promise.reject(new Error("this report holds each trace as drawn here; get_trace(trace_id, span_id=" +
          args.span_id + ") shows the spans under that one"));
      }
      if (name === "view_trace") {
        const found = traces[args.trace_id];
        if (found) return Promise.resolve(found);
        const held = Object.keys(traces).length;
        return Promise.reject(new Error(
          "this report holds " + held + " of the session's " + data.trace_count + " traces, not " + args.trace_id +
          "; open it with get_trace, or write a report of it with mcp-sessions report --trace " + args.trace_id));
      }
      if (name === "view_session" && data.session) return Promise.resolve(data.session);
      return Promise.reject(new Error("this report holds no data for " + name));
    },
  };
}

function appsHost(handlers) {
  let nextId = 1;
  const pending = new Map();
  const send = (message) => window.parent.postMessage(Object.assign({jsonrpc: "2.0"}, message), "*");

  function request(method, params) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(method + ": the host did not answer"));
      }, CALL_TIMEOUT_MS);
      pending.set(id, {resolve, reject, timer});
      send({id, method, params});
    });
  }

  function notify(method, params) {
    send({method, params: params || {}});
  }

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const msg = event.data;
    if (!msg || typeof msg !== "object" || msg.jsonrpc !== "2.0") return;
    if (msg.method === undefined && pending.has(msg.id)) {
      const call = pending.get(msg.id);
      pending.delete(msg.id);
      clearTimeout(call.timer);
      if (msg.error) call.reject(new Error(String(msg.error.message || "the host refused")));
      else call.resolve(msg.result);
      return;
    }
    if (typeof msg.method !== "string") return;
    if (msg.id !== undefined && msg.id !== null) {
      if (msg.method === "ui/resource-teardown" || msg.method === "ping") send({id: msg.id, result: {}});
      else send({id: msg.id, error: {code: -32601, message: "not supported by this view: " + msg.method}});
      return;
    }
    const params = msg.params || {};
    if (msg.method === "ui/notifications/tool-input") handlers.input(params.arguments || {});
    else if (msg.method === "ui/notifications/tool-result") handlers.result(params);
    else if (msg.method === "ui/notifications/tool-cancelled") handlers.cancelled(String(params.reason || "cancelled"));
    else if (msg.method === "ui/notifications/host-context-changed") applyHostContext(params);
  });

  reportSize(notify);
  const ready = request("ui/initialize", {
    appInfo: {name: "mcp-sessions", version: document.body.dataset.version || "0"},
    appCapabilities: {availableDisplayModes: ["inline", "fullscreen"]},
    protocolVersion: PROTOCOL_VERSION,
  }).then((result) => {
    applyHostContext((result && result.hostContext) || {});
    notify("ui/notifications/initialized", {});
    return result;
  });

  return {
    mode: "apps",
    ready,
    async callTool(name, args) {
      if (!VIEW_TOOLS.has(name)) throw new Error("a view calls only " + [...VIEW_TOOLS].join(", "));
      const result = await request("tools/call", {name, arguments: args});
      if (!result || result.isError) {
        const text = result && result.content ? result.content.map((c) => c.text || "").join(" ") : "";
        throw new Error(text || name + " failed");
      }
      return result.structuredContent;
    },
  };
}

// The host's theme and style variables (only CSS custom properties, only as property values).
function applyHostContext(context) {
  const root = document.documentElement;
  if (context.theme === "dark" || context.theme === "light") root.dataset.theme = context.theme;
  const variables = (context.styles && context.styles.variables) || {};
  for (const [name, value] of Object.entries(variables)) {
    if (/^--[a-z0-9-]+$/.test(name) && typeof value === "string") root.style.setProperty(name, value);
  }
  if (context.displayMode) root.dataset.displayMode = String(context.displayMode);
}

function reportSize(notify) {
  let last = "";
  let queued = false;
  const measure = () => {
    queued = false;
    const width = Math.ceil(document.documentElement.scrollWidth);
    const height = Math.ceil(document.documentElement.scrollHeight);
    const key = width + "x" + height;
    if (key !== last) {
      last = key;
      notify("ui/notifications/size-changed", {width, height});
    }
  };
  new ResizeObserver(() => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(measure);
    }
  }).observe(document.body);
}
