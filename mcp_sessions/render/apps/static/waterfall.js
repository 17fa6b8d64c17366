// waterfall.js: a trace on a time axis, one row per span in tree order.
//
//   GET /checkout        |==============================================|   root (critical: dark line)
//     SELECT cart          |--|
//     ▸ 10 × SELECT item       |-|-|-|-|-|-|-|-|-|-|                      an N+1 loop, folded
//     POST /payments                                |===============|   on the critical path
//       charge (error)                                 |!!!!!!|          error: red, marked !
//
// Bars are placed from each span's offset and duration over the trace's extent (percent of
// the track, so they keep their proportions at any width). The critical path is drawn as
// the stretches the root waited on; N+1 loops fold into one row until expanded; a click
// shows a span's fields and recorded attributes. Rows are virtualised (vlist.js).
//
// It draws either view_trace's TraceWaterfall (every span, critical path, loops, attributes)
// or get_trace's TraceView alone (the budgeted cut, without them).

const ROW_HEIGHT = 22;

function traceModel(payload) {
  const view = payload.spans ? payload : payload.trace;
  const spans = view.spans;
  const n = spans.length;
  const base = n ? Math.min(...spans.map((s) => s.depth)) : 0;
  const depth = spans.map((s) => s.depth - base);
  // end[i]: the row after i's subtree (rows are in preorder, so a subtree is contiguous).
  const end = new Array(n).fill(n);
  const open = [];
  for (let i = 0; i < n; i++) {
    while (open.length && depth[open[open.length - 1]] >= depth[i]) end[open.pop()] = i;
    open.push(i);
  }
  let start = n ? Infinity : 0;
  let stop = 0;
  for (const s of spans) {
    start = Math.min(start, s.offset_ms);
    stop = Math.max(stop, s.offset_ms + s.duration_ms);
  }
  if (!view.focus_span_id) start = Math.min(start, 0);
  stop = Math.max(stop, view.focus_span_id ? stop : view.trace.duration_ms || 0);
  const critical = payload.critical || null;
  const criticalMs = new Float64Array(n);
  const stretches = new Map();
  for (const c of critical || []) {
    criticalMs[c.row] += c.end_ms - c.start_ms;
    if (!stretches.has(c.row)) stretches.set(c.row, []);
    stretches.get(c.row).push(c);
  }
  const loops = (payload.loops || []).map((loop, index) => ({
    index, loop, first: Math.min(...loop.rows), members: new Set(loop.rows),
    start: Math.min(...loop.rows.map((r) => spans[r].offset_ms)),
    stop: Math.max(...loop.rows.map((r) => spans[r].offset_ms + spans[r].duration_ms)),
  }));
  const loopOf = new Map();
  const loopAt = new Map();
  for (const l of loops) {
    for (const r of l.loop.rows) loopOf.set(r, l);
    loopAt.set(l.first, l);
  }
  return {
    view, spans, depth, end, start, span: Math.max(stop - start, 1e-6), critical, criticalMs, stretches,
    loops, loopOf, loopAt, attributes: payload.attributes || null, complete: !!payload.critical,
  };
}

// A bar's duration: after the bar, else before it, else inside its end (a bar across the whole track).
function durationLabel(startPct, endPct, text) {
  if (endPct <= 82) return h("span", {class: "dur", style: {left: endPct + "%"}}, text);
  if (startPct >= 18) return h("span", {class: "dur before", style: {right: 100 - startPct + "%"}}, text);
  return h("span", {class: "dur inside", style: {right: 100 - endPct + "%"}}, text);
}

function Waterfall(host, options) {
  const opts = Object.assign({maxHeight: 560, marked: new Set(), onSelect: null}, options || {});
  const colour = colours();
  const node = h("section", {class: "waterfall"});
  const state = {model: null, rows: [], expanded: new Set(), collapsed: new Set(), criticalOnly: false, selected: -1};
  const list = VirtualList({rowHeight: ROW_HEIGHT, maxHeight: opts.maxHeight, className: "wf-list", renderRow});
  const detail = h("section", {class: "detail", "aria-live": "polite"});

  function layout() {
    const m = state.model;
    const rows = [];
    for (let i = 0; i < m.spans.length; ) {
      if (state.criticalOnly && m.critical && m.criticalMs[i] <= 0) {
        i = m.end[i];
        continue;
      }
      const loop = m.loopAt.get(i);
      if (loop) rows.push({loop});
      const member = m.loopOf.get(i);
      if (member && !state.expanded.has(member.index)) {
        i = m.end[i];
        continue;
      }
      rows.push({span: i});
      i = state.collapsed.has(i) ? m.end[i] : i + 1;
    }
    state.rows = rows;
    list.setCount(rows.length);
    node.dataset.rows = String(rows.length);
  }

  function x(ms) {
    return pct(ms - state.model.start, state.model.span);
  }

  function renderRow(index) {
    const row = state.rows[index];
    return row.loop ? loopRow(row.loop, index) : spanRow(row.span, index);
  }

  function spanRow(i, index) {
    const m = state.model;
    const s = m.spans[i];
    const marks = SPAN_MARKS.filter((mark) => mark.when(s));
    const onPath = m.criticalMs[i] > 0;
    const cls = ["row", "span-row", onPath ? "crit" : "", i === state.selected ? "sel" : "", opts.marked.has(s.span_id) ? "marked" : ""];
    const hasChildren = m.end[i] > i + 1;
    const caret = hasChildren
      ? button(state.collapsed.has(i) ? "▸" : "▾", (e) => {
          e.stopPropagation();
          state.collapsed.has(i) ? state.collapsed.delete(i) : state.collapsed.add(i);
          layout();
        }, {class: "caret", title: "fold or unfold the spans under it", "aria-label": "toggle children"})
      : h("span", {class: "caret"});
    const bar = h("div", {
      class: "bar " + marks.map((mark) => mark.cls).join(" "),
      style: {left: x(s.offset_ms) + "%", width: pct(s.duration_ms, m.span) + "%", "background-color": colour(s.service)},
      data: {spanId: s.span_id},
    });
    const track = h("div", {class: "track"}, bar);
    for (const c of m.stretches.get(i) || []) {
      track.appendChild(h("div", {class: "crit-line", style: {left: x(c.start_ms) + "%", width: pct(c.end_ms - c.start_ms, m.span) + "%"}}));
    }
    track.appendChild(durationLabel(x(s.offset_ms), x(s.offset_ms + s.duration_ms), fmtMs(s.duration_ms)));
    return h("div", {
      class: cls.join(" "),
      role: "listitem",
      data: {row: i, spanId: s.span_id, error: isErrorSpan(s) ? 1 : 0},
      title: s.name + (s.service ? " · " + s.service : "") + " · " + fmtMs(s.duration_ms),
      on: {click: () => select(i)},
    }, [
      h("div", {class: "label", style: {"padding-left": Math.min(m.depth[i], 24) * 12 + 4 + "px"}}, [
        caret,
        h("span", {class: "swatch", style: {"background-color": colour(s.service)}}),
        isErrorSpan(s) ? h("span", {class: "err-mark", title: "error"}, "!") : null,
        h("span", {class: "name"}, spanLabel(s, m.attributes && m.attributes[i])),
        ...marks.filter((mark) => mark.cls !== "err").map((mark) => h("span", {class: "badge"}, mark.badge(s))),
      ]),
      track,
    ]);
  }

  function loopRow(l, index) {
    const m = state.model;
    const open = state.expanded.has(l.index);
    const first = m.spans[l.first];
    const track = h("div", {class: "track"});
    const marked = l.loop.rows.some((r) => opts.marked.has(m.spans[r].span_id));
    for (const r of l.loop.rows) {
      const s = m.spans[r];
      track.appendChild(h("div", {
        class: "bar tick" + (isErrorSpan(s) ? " err" : ""),
        style: {left: x(s.offset_ms) + "%", width: pct(s.duration_ms, m.span) + "%", "background-color": colour(s.service)},
      }));
    }
    track.appendChild(durationLabel(x(l.start), x(l.stop), fmtMs(l.loop.total_ms)));
    const toggle = () => {
      open ? state.expanded.delete(l.index) : state.expanded.add(l.index);
      layout();
    };
    return h("div", {
      class: "row loop-row" + (marked ? " marked" : ""),
      role: "listitem",
      data: {loop: l.index, count: l.loop.rows.length},
      title: "N+1: " + l.loop.rows.length + " × " + l.loop.fingerprint,
      on: {click: toggle},
    }, [
      h("div", {class: "label", style: {"padding-left": Math.min(m.depth[l.first], 24) * 12 + 4 + "px"}}, [
        button(open ? "▾" : "▸", (e) => {
          e.stopPropagation();
          toggle();
        }, {class: "caret", "aria-label": "expand the loop"}),
        h("span", {class: "swatch", style: {"background-color": colour(first.service)}}),
        h("span", {class: "badge loop"}, "N+1"),
        h("span", {class: "name"}, l.loop.rows.length + " × " + l.loop.fingerprint),
        h("span", {class: "badge"}, "≈" + fmtMs(l.loop.impact_ms) + " avoidable"),
      ]),
      track,
    ]);
  }

  function select(i) {
    const m = state.model;
    state.selected = i;
    list.redraw();
    const s = m.spans[i];
    const rows = detailRows(s, SPAN_FIELDS, SPAN_DRAWN);
    if (m.critical) rows.push(["On the critical path", m.criticalMs[i] > 0 ? fmtMs(m.criticalMs[i]) : "no"]);
    const loop = m.loopOf.get(i);
    if (loop) rows.push(["N+1 loop", loop.loop.rows.length + " × " + loop.loop.fingerprint]);
    for (const g of s.hidden_children || []) {
      rows.push(["Hidden below", g.count + " × " + g.name + " (" + fmtMs(g.total_ms) + (g.errors ? ", " + g.errors + " errors" : "") + ")"]);
    }
    const parts = [h("h3", null, spanLabel(s, m.attributes && m.attributes[i])), fieldList(rows)];
    if (s.hidden_children && s.hidden_children.length) {
      const count = s.hidden_children.reduce((n, g) => n + g.count, 0);
      parts.push(button("Draw the " + count + " spans hidden under it", () => openTrace(host, api, m.view.trace.trace_id, s.span_id), {class: "open-subtree"}));
    }
    const attributes = m.attributes && m.attributes[i];
    if (attributes && Object.keys(attributes).length) {
      parts.push(h("h4", null, "Recorded attributes"), fieldList(Object.entries(attributes)));
    }
    clear(detail);
    append(detail, parts);
    if (opts.onSelect) opts.onSelect(s);
  }

  function nextError() {
    const m = state.model;
    const from = state.selected;
    const errors = m.spans.map((s, i) => (isErrorSpan(s) ? i : -1)).filter((i) => i >= 0);
    if (!errors.length) return;
    const next = errors.find((i) => i > from);
    const target = next === undefined ? errors[0] : next;
    const loop = m.loopOf.get(target);
    if (loop) state.expanded.add(loop.index);
    for (let p = 0; p < target; p++) if (m.end[p] > target) state.collapsed.delete(p);
    state.criticalOnly = false;
    layout();
    list.scrollToRow(state.rows.findIndex((r) => r.span === target));
    select(target);
  }

  function axis() {
    const m = state.model;
    const ticks = h("div", {class: "axis-track"});
    for (let k = 0; k <= 4; k++) {
      ticks.appendChild(h("span", {class: "tick-label", style: {left: k * 25 + "%"}}, fmtMs(m.start + (m.span * k) / 4)));
    }
    return h("div", {class: "axis"}, [h("div", {class: "label"}, "Span"), ticks]);
  }

  function header(note) {
    const m = state.model;
    const t = m.view.trace;
    const services = [...new Set(m.spans.map((s) => s.service))];
    const errors = m.spans.filter(isErrorSpan).length;
    const controls = [
      m.loops.length ? button("Unfold loops", () => {
        const all = state.expanded.size === m.loops.length;
        state.expanded = new Set(all ? [] : m.loops.map((l) => l.index));
        layout();
      }, {class: "unfold"}) : null,
      m.critical ? h("label", {class: "toggle"}, [
        h("input", {type: "checkbox", on: {change: (e) => {
          state.criticalOnly = e.target.checked;
          layout();
        }}}),
        " critical path only",
      ]) : null,
      errors ? button("Next error", nextError, {class: "next-error"}) : null,
    ];
    return h("header", {class: "wf-head"}, [
      h("h2", null, ["Trace ", h("code", null, t.trace_id)]),
      h("p", {class: "meta"}, [
        h("strong", null, t.root_name || "(no root)"),
        " · " + (t.root_service || "unknown service") + " · " + fmtMs(t.duration_ms) + " · ",
        m.view.shown_spans + " of " + m.view.total_spans + " spans · ",
        h("span", {class: errors ? "err-text" : ""}, errors + " with errors"),
        m.loops.length ? " · " + m.loops.length + " N+1 loops" : "",
        m.critical ? " · critical path " + fmtMs(m.criticalMs.reduce((a, b) => a + b, 0)) : "",
      ]),
      note ? h("p", {class: "note"}, note) : null,
      h("div", {class: "controls"}, [
        m.view.focus_span_id ? button("Whole trace", () => openTrace(host, api, t.trace_id), {class: "whole-trace"}) : null,
        ...controls,
      ]),
      h("ul", {class: "legend"}, services.map((svc) => h("li", null, [
        h("span", {class: "swatch", style: {"background-color": colour(svc)}}), svc || "unknown service",
      ]))),
    ]);
  }

  const api = {
    node,
    show(payload, note) {
      state.model = traceModel(payload);
      state.selected = -1;
      state.expanded = new Set();
      state.collapsed = new Set();
      const m = state.model;
      const notes = [note];
      if (m.view.truncated && m.complete) {
        notes.push("The trace has " + m.view.total_spans + " spans; this view draws " + m.view.shown_spans +
          ", keeping the root, the slowest branch and the errors first.");
      }
      clear(node);
      append(node, [header(notes.filter(Boolean).join(" ")), axis(), list.node, detail]);
      node.dataset.complete = m.complete ? "1" : "0";
      layout();
      return m;
    },
    mark(spanIds) {
      opts.marked = spanIds;
      if (state.model) list.redraw();
    },
    selectSpan(spanId) {
      if (!state.model) return;
      const i = state.model.spans.findIndex((s) => s.span_id === spanId);
      if (i < 0) return;
      const loop = state.model.loopOf.get(i);
      if (loop) state.expanded.add(loop.index);
      layout();
      list.scrollToRow(state.rows.findIndex((r) => r.span === i));
      select(i);
    },
  };
  return api;
}

// A trace loaded through view_trace into a waterfall, with what to say while it loads or fails.
async function openTrace(host, waterfall, traceId, spanId) {
  waterfall.node.dataset.complete = "loading";
  clear(waterfall.node).appendChild(h("p", {class: "message"}, "Loading trace " + traceId + " …"));
  try {
    const args = spanId ? {trace_id: traceId, span_id: spanId} : {trace_id: traceId};
    waterfall.show(await host.callTool("view_trace", args));
    return true;
  } catch (error) {
    message(waterfall.node, "Trace " + traceId + " could not be opened: " + error.message, "err-text");
    waterfall.node.dataset.complete = "failed";
    return false;
  }
}
