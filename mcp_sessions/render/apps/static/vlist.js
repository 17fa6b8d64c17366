// vlist.js: a virtualised list. Only the rows in view (and a few either side) exist in the
// document; scrolling redraws them on the next frame. Every row has the same height, so row i
// sits at i × rowHeight and thousands of rows cost what forty do.

const OVERSCAN = 8;

function VirtualList(options) {
  const rowHeight = options.rowHeight;
  const maxHeight = options.maxHeight;
  const layer = h("div", {class: "vl-rows"});
  const spacer = h("div", {class: "vl-spacer"}, layer);
  const scroller = h("div", {class: "vl " + (options.className || ""), role: "list"}, spacer);
  let count = 0;
  let first = -1;
  let last = -1;
  let queued = false;

  function draw(force) {
    const height = Math.min(maxHeight, count * rowHeight);
    const top = scroller.scrollTop;
    const from = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN);
    const to = Math.min(count, Math.ceil((top + height) / rowHeight) + OVERSCAN);
    if (!force && from === first && to === last) return;
    first = from;
    last = to;
    const rows = document.createDocumentFragment();
    for (let i = from; i < to; i++) rows.appendChild(options.renderRow(i));
    clear(layer).appendChild(rows);
    layer.style.transform = "translateY(" + from * rowHeight + "px)";
  }

  scroller.addEventListener("scroll", () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      draw(false);
    });
  });

  return {
    node: scroller,
    setCount(n) {
      count = n;
      spacer.style.height = n * rowHeight + "px";
      scroller.style.height = Math.min(maxHeight, Math.max(n, 1) * rowHeight) + 2 + "px";
      draw(true);
    },
    redraw() {
      draw(true);
    },
    scrollToRow(i) {
      const top = i * rowHeight;
      const height = scroller.clientHeight || maxHeight;
      if (top < scroller.scrollTop || top + rowHeight > scroller.scrollTop + height) {
        scroller.scrollTop = Math.max(0, top - height / 3);
      }
      draw(true);
    },
  };
}
