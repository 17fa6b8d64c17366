// fields.js: the one map from the answers' fields (render/models.py) to what the views draw.
// A field not named here still shows, as text, under "Other fields" in a detail panel, so a
// field a renderer adds is visible at once; naming it here gives it a label or a mark.

// SpanNode (get_trace), in the order the span detail lists them.
const SPAN_FIELDS = [
  ["span_id", "Span id"],
  ["parent_span_id", "Parent span"],
  ["service", "Service"],
  ["kind", "Kind"],
  ["offset_ms", "Starts at", (v) => "+" + fmtMs(v)],
  ["duration_ms", "Duration", fmtMs],
  ["self_ms", "Self time", fmtMs],
  ["status", "Status"],
  ["http_status", "HTTP status"],
  ["error", "Error"],
  ["end_recorded", "End recorded", (v) => (v ? "yes" : "no: the end its children imply")],
  ["stream", "Stream", (v) => (v ? "yes: a long-lived stream, its length is not slow work" : "no")],
  ["after_root_ms", "Ran after the root answered", fmtMs],
  ["target", "Called"],
];
// Drawn elsewhere (the row itself, the hidden-children badge).
const SPAN_DRAWN = new Set(["name", "depth", "hidden_children"]);

// Marks on a span's row: a class on its bar and a badge beside its name.
const SPAN_MARKS = [
  {when: (s) => isErrorSpan(s), cls: "err", badge: () => "error"},
  {when: (s) => s.end_recorded === false, cls: "inferred", badge: () => "no end recorded"},
  {when: (s) => !!s.stream, cls: "stream", badge: () => "stream: not slow work"},
  {when: (s) => s.after_root_ms > 0, cls: "after", badge: (s) => fmtMs(s.after_root_ms) + " after the root answered"},
  {when: (s) => s.hidden_children && s.hidden_children.length > 0, cls: "", badge: (s) => hiddenText(s.hidden_children)},
];

// What a span did, as the text answer names it (render/trace.py): a database span's name is often the
// verb alone ("SELECT"), so its statement follows.
function spanLabel(span, attributes) {
  const statement = attributes && (attributes["db.query.text"] || attributes["db.statement"]);
  return statement && statement !== span.name ? span.name + ": " + statement : span.name;
}

function isErrorSpan(span) {
  return !!span.error || span.status === "error";
}

function hiddenText(groups) {
  const count = groups.reduce((n, g) => n + g.count, 0);
  return "+" + count + " hidden";
}

// TraceItem (the trace's header).
const TRACE_FIELDS = [
  ["trace_id", "Trace id"],
  ["root_name", "Root"],
  ["root_service", "Service"],
  ["http_method", "Method"],
  ["http_route", "Route"],
  ["http_status", "HTTP status"],
  ["start", "Start"],
  ["duration_ms", "Duration", fmtMs],
  ["session_id", "Session"],
];

// TimelineEntry (get_timeline): which lane of the session axis an entry is drawn in.
function laneOf(entry) {
  if (entry.kind === "navigation") return "pages";
  if (entry.kind === "network" || entry.kind === "backend") return "requests";
  if (entry.kind === "error") return "console";
  if (entry.kind === "console") return entry.level === "error" || entry.level === "warn" || entry.level === "assert" ? "console" : null;
  if (entry.kind === "scroll" || entry.kind === "resize" || entry.kind === "custom") return null;
  return "actions"; // click, dblclick, input, submit, key presses, ...
}
const LANES = [
  ["pages", "Pages"],
  ["actions", "Actions"],
  ["requests", "Requests"],
  ["console", "Console errors"],
];
const ENTRY_FIELDS = [
  ["offset_ms", "At", (v) => (v === null ? "time unknown" : "+" + fmtMs(v))],
  ["kind", "Kind"],
  ["summary", "Summary"],
  ["url", "URL"],
  ["target", "Target"],
  ["level", "Level"],
  ["method", "Method"],
  ["status", "Status"],
  ["duration_ms", "Duration", fmtMs],
  ["trace_id", "Trace"],
  ["link", "Linked by"],
  ["backend_ms", "Backend time", fmtMs],
  ["backend_spans", "Backend spans"],
  ["backend_errors", "Backend errors"],
];

function isErrorEntry(entry) {
  return entry.kind === "error" || (entry.kind === "console" && entry.level === "error") ||
    (entry.status !== null && entry.status >= 400) || entry.backend_errors > 0;
}

// DiffFinding (diff_against_baseline).
const FINDING_KINDS = {
  errors: "new errors", status: "status changed", added: "added", removed: "removed", count: "count changed",
  latency: "slower", size: "bigger response", "step-added": "step added", "step-removed": "step removed",
};
const FINDING_FIELDS = [
  ["kind", "Kind", (v) => FINDING_KINDS[v] || v],
  ["level", "Level"],
  ["label", "Node"],
  ["baseline_label", "Baseline ran instead"],
  ["context", "Under", (v) => v.join(" › ")],
  ["service", "Service"],
  ["count_before", "Count before"],
  ["count_after", "Count after"],
  ["before_ms", "Waited before", fmtMs],
  ["after_ms", "Waited after", fmtMs],
  ["delta_ms", "Time added", (v) => (v >= 0 ? "+" : "−") + fmtMs(Math.abs(v))],
  ["per_wait_delta_ms", "Per typical wait", (v) => (v >= 0 ? "+" : "−") + fmtMs(Math.abs(v))],
  ["p_value", "p-value"],
  ["trace_ids", "Target traces", (v) => v.join(", ")],
  ["baseline_trace_ids", "Baseline traces", (v) => v.join(", ")],
  ["next_call", "Next call"],
];

// The rows of a detail panel: the named fields first, then every other field as text.
function detailRows(record, named, drawn) {
  const rows = [];
  const seen = new Set(drawn || []);
  for (const [key, label, format] of named) {
    seen.add(key);
    const value = record[key];
    if (value === null || value === undefined || (Array.isArray(value) && !value.length)) continue;
    rows.push([label, format ? format(value) : value]);
  }
  for (const [key, value] of Object.entries(record)) {
    if (seen.has(key) || value === null || value === undefined) continue;
    if (Array.isArray(value) && !value.length) continue;
    rows.push([key, value]);
  }
  return rows;
}
