// dom.js: building the document. Recorded text (span names, URLs, labels, messages) only ever
// enters it as a text node or an attribute value, never through an HTML parser: nothing here
// (or in any view) uses innerHTML, outerHTML, insertAdjacentHTML or document.write.

const ATTRIBUTES = /^(title|role|type|tabindex|for|id|value|aria-[a-z]+)$/;

// h("div", {class: "row", data: {row: 3}, on: {click: f}}, ["text", node, ...])
function h(tag, props, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "style") for (const [k, v] of Object.entries(value)) node.style.setProperty(k, v);
    else if (key === "data") for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
    else if (key === "on") for (const [k, v] of Object.entries(value)) node.addEventListener(k, v);
    else if (key === "checked") node.checked = true;
    else if (ATTRIBUTES.test(key)) node.setAttribute(key, String(value));
    else throw new Error("h(): unknown property " + key);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  if (children === null || children === undefined) return node;
  for (const child of Array.isArray(children) ? children : [children]) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// Durations as the text answers write them (render/markdown.py `duration`), from milliseconds.
function fmtMs(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const ns = value * 1e6;
  if (ns < 1e6) return Math.round(ns / 1e3) + " µs";
  if (ns < 1e9) return value < 100 ? value.toFixed(1) + " ms" : Math.round(value) + " ms";
  const seconds = ns / 1e9;
  if (seconds < 60) return seconds.toFixed(2) + " s";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return minutes + " min " + Math.floor(seconds % 60) + " s";
  return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
}

function clip(text, limit) {
  const s = String(text === null || text === undefined ? "" : text);
  return s.length > limit ? s.slice(0, limit - 1) + "…" : s;
}

function pct(part, whole) {
  return whole > 0 ? Math.max(0, Math.min(100, (part / whole) * 100)) : 0;
}

// One colour per service, in the order services first appear (stable within a view).
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#86bcb6", "#8cd17d"];

function colours() {
  const seen = new Map();
  return (service) => {
    const key = service || "";
    if (!seen.has(key)) seen.set(key, PALETTE[seen.size % PALETTE.length]);
    return seen.get(key);
  };
}

// A definition list of label → value rows, values as text.
function fieldList(rows) {
  const dl = h("dl", {class: "fields"});
  for (const [label, value] of rows) {
    if (value === null || value === undefined || value === "") continue;
    dl.appendChild(h("dt", null, label));
    dl.appendChild(h("dd", null, typeof value === "object" ? JSON.stringify(value) : String(value)));
  }
  return dl;
}

function button(label, onClick, props) {
  return h("button", Object.assign({type: "button", on: {click: onClick}}, props || {}), label);
}

function message(root, text, cls) {
  clear(root).appendChild(h("p", {class: "message " + (cls || "")}, text));
}
