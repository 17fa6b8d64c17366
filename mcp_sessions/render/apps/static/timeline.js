// timeline.js: a session on one time axis, from its start to its last event.
//
//   Pages     |/login·········|/product/42··········|/cart·················|
//   Actions      ◆ click         ◆ click  ◆ input        ◆ click
//   Requests  |-| |---|            |-----|               |==========|  (red: failed)
//   Console                                                   ▲ error
//
// Below the lanes, every entry in order (a virtualised list). Clicking a mark or an entry
// shows its fields; a request with a trace opens that trace's waterfall (view_trace).
// It draws view_session's SessionPicture, or get_timeline's Timeline / get_session's
// SessionOverview alone until the whole picture arrives.

const ENTRY_ROW = 24;
const REQUEST_LANES = 4;

function SessionView(host) {
  const node = h("section", {class: "session"});
  const state = {entries: [], selected: -1, overview: null, timeline: null};
  const list = VirtualList({rowHeight: ENTRY_ROW, maxHeight: 360, className: "entries", renderRow});
  const detail = h("section", {class: "detail"});
  const waterfall = Waterfall(host, {maxHeight: 420});
  const tracePanel = h("section", {class: "trace-panel"}, waterfall.node);

  function span() {
    const o = state.overview;
    let end = o ? o.session.duration_ms : 0;
    for (const e of state.entries) if (e.offset_ms !== null) end = Math.max(end, e.offset_ms + (e.duration_ms || 0));
    return Math.max(end, 1e-6);
  }

  function lanes() {
    const total = span();
    const tracks = {};
    const rows = LANES.map(([lane, label]) => {
      tracks[lane] = h("div", {class: "lane-track", data: {lane}});
      return h("div", {class: "lane lane-" + lane}, [h("div", {class: "lane-label"}, label), tracks[lane]]);
    });
    const pages = state.entries.map((e, i) => [e, i]).filter(([e]) => laneOf(e) === "pages" && e.offset_ms !== null);
    pages.forEach(([e, i], k) => {
      const next = k + 1 < pages.length ? pages[k + 1][0].offset_ms : total;
      tracks.pages.appendChild(h("div", {
        class: "page-seg", title: e.url || e.summary, data: {entry: i},
        style: {left: pct(e.offset_ms, total) + "%", width: pct(next - e.offset_ms, total) + "%"},
        on: {click: () => select(i)},
      }, e.url || e.summary));
    });
    const ends = new Array(REQUEST_LANES).fill(-Infinity);
    state.entries.forEach((e, i) => {
      const lane = laneOf(e);
      if (!lane || lane === "pages" || e.offset_ms === null) return;
      const left = pct(e.offset_ms, total) + "%";
      const cls = "mark " + e.kind + (isErrorEntry(e) ? " err" : "") + (e.trace_id ? " traced" : "");
      const title = "+" + fmtMs(e.offset_ms) + " " + e.kind + " " + e.summary;
      if (lane === "requests") {
        const stop = e.offset_ms + Math.max(e.duration_ms || 0, total * 0.004);
        let sub = ends.findIndex((end) => end <= e.offset_ms);
        if (sub < 0) sub = REQUEST_LANES - 1;
        ends[sub] = stop;
        tracks.requests.appendChild(h("div", {
          class: cls + " req", title, data: {entry: i, traceId: e.trace_id || ""},
          style: {left, width: pct(e.duration_ms || 0, total) + "%", top: sub * 7 + 2 + "px"},
          on: {click: () => select(i)},
        }));
      } else {
        tracks[lane].appendChild(h("div", {class: cls, title, data: {entry: i}, style: {left}, on: {click: () => select(i)}}));
      }
    });
    const ticks = h("div", {class: "axis-track"});
    for (let k = 0; k <= 4; k++) ticks.appendChild(h("span", {class: "tick-label", style: {left: k * 25 + "%"}}, "+" + fmtMs((total * k) / 4)));
    return h("div", {class: "lanes"}, [...rows, h("div", {class: "axis"}, [h("div", {class: "lane-label"}, ""), ticks])]);
  }

  function renderRow(i) {
    const e = state.entries[i];
    const facts = e.backend_ms !== null
      ? ["backend " + fmtMs(e.backend_ms), e.backend_errors ? e.backend_errors + " errors" : null]
      : [e.duration_ms !== null && e.kind !== "network" ? fmtMs(e.duration_ms) : null];
    return h("div", {
      class: "row entry" + (isErrorEntry(e) ? " err" : "") + (i === state.selected ? " sel" : ""),
      role: "listitem", data: {entry: i, kind: e.kind},
      on: {click: () => select(i)},
    }, [
      h("span", {class: "at"}, e.offset_ms === null ? "?" : "+" + fmtMs(e.offset_ms)),
      h("span", {class: "kind"}, e.kind === "console" && e.level ? "console " + e.level : e.kind),
      h("span", {class: "summary"}, e.summary),
      h("span", {class: "facts"}, facts.filter(Boolean).join(", ")),
      e.trace_id ? button("trace", (ev) => {
        ev.stopPropagation();
        select(i);
      }, {class: "open-trace", title: "open trace " + e.trace_id}) : h("span"),
    ]);
  }

  function select(i) {
    state.selected = i;
    list.scrollToRow(i);
    const e = state.entries[i];
    clear(detail);
    append(detail, [h("h3", null, e.summary), fieldList(detailRows(e, ENTRY_FIELDS))]);
    if (e.trace_id) openTrace(host, waterfall, e.trace_id);
  }

  function overviewPart() {
    const o = state.overview;
    if (!o) return null;
    const items = [];
    for (const err of o.errors) {
      items.push(h("li", {class: "err-text"}, [
        h("strong", null, err.count + " × " + err.title),
        err.preceding_action ? " — after " + err.preceding_action : "",
        err.trace_id ? button("trace", () => openTrace(host, waterfall, err.trace_id, err.span_id), {class: "open-trace"}) : null,
      ]));
    }
    for (const p of o.patterns) {
      items.push(h("li", null, [
        h("span", {class: "badge"}, p.kind.replace(/_/g, " ")),
        " " + p.count + " × " + p.fingerprint + " · ≈" + fmtMs(p.impact_ms) + " avoidable",
        p.trace_id ? button("trace", () => openTrace(host, waterfall, p.trace_id, p.parent_span_id), {class: "open-trace"}) : null,
      ]));
    }
    return items.length ? h("section", {class: "findings"}, [h("h3", null, "Found in this session"), h("ul", null, items)]) : null;
  }

  function draw(note) {
    const o = state.overview;
    const t = state.timeline;
    const s = o ? o.session : null;
    const id = s ? s.session_id : t.session_id;
    const counts = Object.entries((t && t.counts) || (o && o.counts) || {}).filter(([, v]) => v).map(([k, v]) => k.replace(/_/g, " ") + " " + v);
    clear(node);
    append(node, [
      h("header", null, [
        h("h2", null, ["Session ", h("code", null, id)]),
        h("p", {class: "meta"}, [
          s ? (s.user_id || "anonymous") + " · " + s.start + " · " + fmtMs(s.duration_ms) + " · " : (t ? t.start + " · " : ""),
          t ? t.shown + " of " + t.total + " entries" : "",
          counts.length ? " · " + counts.join(", ") : "",
        ]),
        note ? h("p", {class: "note"}, note) : null,
      ]),
      overviewPart(),
      state.entries.length ? lanes() : null,
      state.entries.length ? list.node : (t ? h("p", {class: "message"}, "No entries to draw.") : null),
      detail,
      tracePanel,
    ]);
    list.setCount(state.entries.length);
    node.dataset.entries = String(state.entries.length);
  }

  return {
    node,
    show(payload, note) {
      if (payload.timeline) {
        state.overview = payload.overview;
        state.timeline = payload.timeline;
      } else if (payload.entries) {
        state.timeline = payload;
      } else {
        state.overview = payload;
      }
      state.entries = state.timeline ? state.timeline.entries : [];
      state.selected = -1;
      clear(waterfall.node);
      draw(note);
    },
    sessionId(payload) {
      if (payload.timeline) return payload.timeline.session_id;
      return payload.entries ? payload.session_id : payload.session.session_id;
    },
  };
}
