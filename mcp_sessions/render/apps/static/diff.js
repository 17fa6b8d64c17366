// diff.js: both sides of a diff aligned node by node.
//
//   baseline              node                                   target
//   ×1  |====|  120 ms    click "Place order"                    ×1  |==========|  310 ms
//   ×1  |===|    98 ms      POST /api/checkout                   ×1  |========|   290 ms
//   ×1  |=|      12 ms        SELECT … IN (?)          ◀ #1      ×10 |======|     190 ms   changed
//                             SELECT … FROM coupons    ◀ #2      ×1  |=|           11 ms   added
//
// Each row is one aligned node (a step, a request, backend work under it) with what it
// counted and waited on each side; a row a finding is about carries its rank. The findings
// are listed above; picking one (or a row) opens the target's and the baseline's traces side
// by side with the spans it names marked. It draws view_diff's DiffPicture, or
// diff_against_baseline's DiffView alone (findings only) until the picture arrives.

const DIFF_ROW = 24;

function DiffView(host) {
  const node = h("section", {class: "diff"});
  const state = {picture: null, rows: [], selectedRank: null, selectedRow: -1};
  const list = VirtualList({rowHeight: DIFF_ROW, maxHeight: 420, className: "aligned", renderRow});
  const detail = h("section", {class: "detail"});
  const target = Waterfall(host, {maxHeight: 360});
  const baseline = Waterfall(host, {maxHeight: 360});
  const sides = h("section", {class: "sides"}, [
    h("div", {class: "side side-baseline"}, [h("h3", null, "Baseline"), baseline.node]),
    h("div", {class: "side side-target"}, [h("h3", null, "Target"), target.node]),
  ]);

  // Rows made from the findings alone, when the aligned tree has not arrived.
  function rowsFromFindings(findings) {
    return findings.map((f) => ({
      depth: f.context.length, level: f.level, label: f.label, baseline_label: f.baseline_label,
      baseline: f.count_before ? {count: f.count_before, wait_ms: f.before_ms, errors: f.errors_before, statuses: f.statuses_before, trace_ids: f.baseline_trace_ids, span_ids: f.baseline_span_ids} : null,
      target: f.count_after ? {count: f.count_after, wait_ms: f.after_ms, errors: f.errors_after, statuses: f.statuses_after, trace_ids: f.trace_ids, span_ids: f.span_ids} : null,
      findings: [f.rank],
    }));
  }

  function sideCell(side, max, cls) {
    if (!side) return h("div", {class: "cell " + cls + " none"}, "—");
    return h("div", {class: "cell " + cls + (side.errors ? " err" : "")}, [
      h("span", {class: "count"}, "×" + side.count),
      h("span", {class: "wait"}, [h("span", {class: "wait-bar", style: {width: pct(side.wait_ms, max) + "%"}})]),
      h("span", {class: "ms"}, fmtMs(side.wait_ms)),
    ]);
  }

  function renderRow(i) {
    const r = state.rows[i];
    const max = Math.max(r.baseline ? r.baseline.wait_ms : 0, r.target ? r.target.wait_ms : 0);
    const status = !r.baseline ? "only-target" : !r.target ? "only-baseline" : r.baseline.count !== r.target.count ? "count-changed" : "";
    const changed = r.findings.length > 0;
    const picked = changed && state.selectedRank !== null && r.findings.includes(state.selectedRank);
    return h("div", {
      class: ["row", "aligned-row", "level-" + r.level, status, changed ? "changed" : "", picked || i === state.selectedRow ? "sel" : ""].join(" "),
      role: "listitem", data: {row: i, findings: r.findings.join(","), status: status || "same"},
      title: r.label + (r.baseline_label ? " (baseline: " + r.baseline_label + ")" : ""),
      on: {click: () => selectRow(i)},
    }, [
      sideCell(r.baseline, max, "before"),
      h("div", {class: "node", style: {"padding-left": Math.min(r.depth, 16) * 14 + 6 + "px"}}, [
        h("span", {class: "name"}, r.label),
        ...r.findings.map((rank) => h("span", {class: "badge rank"}, "#" + rank)),
      ]),
      sideCell(r.target, max, "after"),
    ]);
  }

  function openSides(targetTrace, targetSpans, baselineTrace, baselineSpans) {
    if (targetTrace) openMarked(target, targetTrace, targetSpans);
    else message(target.node, "Nothing on the target side.");
    if (baselineTrace) openMarked(baseline, baselineTrace, baselineSpans);
    else message(baseline.node, "Nothing on the baseline side.");
  }

  async function openMarked(waterfall, traceId, spanIds) {
    if (!(await openTrace(host, waterfall, traceId))) return;
    waterfall.mark(new Set(spanIds));
    if (spanIds.length) waterfall.selectSpan(spanIds[0]);
  }

  function selectFinding(f) {
    state.selectedRank = f.rank;
    state.selectedRow = -1;
    const at = state.rows.findIndex((r) => r.findings.includes(f.rank));
    if (at >= 0) list.scrollToRow(at);
    else list.redraw();
    clear(detail);
    append(detail, [h("h3", null, "#" + f.rank + " " + f.label), fieldList(detailRows(f, FINDING_FIELDS, ["rank", "companions"]))]);
    openSides(f.trace_ids[0], f.span_ids, f.baseline_trace_ids[0], f.baseline_span_ids);
  }

  function selectRow(i) {
    const r = state.rows[i];
    state.selectedRow = i;
    state.selectedRank = null;
    list.redraw();
    const side = (s, key) => (s ? s[key] : []);
    clear(detail);
    append(detail, [h("h3", null, r.label), fieldList([
      ["Level", r.level], ["Baseline ran instead", r.baseline_label],
      ["Baseline", r.baseline ? "×" + r.baseline.count + ", " + fmtMs(r.baseline.wait_ms) : "absent"],
      ["Target", r.target ? "×" + r.target.count + ", " + fmtMs(r.target.wait_ms) : "absent"],
      ["Findings", r.findings.map((n) => "#" + n).join(", ")],
    ])]);
    openSides(side(r.target, "trace_ids")[0], side(r.target, "span_ids"), side(r.baseline, "trace_ids")[0], side(r.baseline, "span_ids"));
  }

  function findingItem(f) {
    const delta = (f.delta_ms >= 0 ? "+" : "−") + fmtMs(Math.abs(f.delta_ms));
    return h("li", {class: "finding kind-" + f.kind, data: {rank: f.rank}, on: {click: () => selectFinding(f)}}, [
      h("span", {class: "badge rank"}, "#" + f.rank),
      h("span", {class: "badge"}, FINDING_KINDS[f.kind] || f.kind),
      h("span", {class: "name"}, f.label),
      h("span", {class: "facts"}, "×" + f.count_before + " → ×" + f.count_after + " · " + fmtMs(f.before_ms) + " → " + fmtMs(f.after_ms) + " (" + delta + ")"),
      f.context.length ? h("span", {class: "context"}, "under " + f.context.join(" › ")) : null,
    ]);
  }

  function draw(note) {
    const d = state.picture.diff;
    const trust = Math.round(d.trust.overall * 100);
    clear(node);
    append(node, [
      h("header", null, [
        h("h2", null, ["Diff of ", h("code", null, d.target.name), " against ", h("code", null, d.baseline.name)]),
        h("p", {class: "meta"}, [
          d.mode + " · " + trust + "% matched · ",
          d.significant ? h("strong", null, d.total_findings + " significant changes") : "no significant change",
          d.unconfirmed ? " · " + d.unconfirmed + " unconfirmed" : "",
        ]),
        d.trust.low ? h("p", {class: "note err-text"}, "The two sides did different things (" + trust + "% matched): their differences say more about the flows than about a regression.") : null,
        note ? h("p", {class: "note"}, note) : null,
      ]),
      d.findings.length ? h("ol", {class: "findings"}, d.findings.map(findingItem)) : null,
      h("div", {class: "aligned-head"}, [h("div", {class: "cell"}, "Baseline"), h("div", {class: "node"}, "Aligned node"), h("div", {class: "cell"}, "Target")]),
      list.node,
      state.picture.truncated ? h("p", {class: "note"}, "Shows " + state.rows.length + " of " + state.picture.total_rows + " aligned nodes.") : null,
      detail,
      sides,
    ]);
    list.setCount(state.rows.length);
    node.dataset.rows = String(state.rows.length);
  }

  return {
    node,
    show(payload, note) {
      state.picture = payload.rows ? payload : {diff: payload, rows: null, total_rows: 0, truncated: false};
      state.rows = state.picture.rows || rowsFromFindings(payload.findings);
      state.selectedRank = null;
      state.selectedRow = -1;
      draw(note);
    },
  };
}
