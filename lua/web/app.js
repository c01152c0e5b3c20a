// coco server's web page: plain JavaScript, no build step, no network
// beyond this server. Every view has a stable URL; its data is the JSON
// twin at the same path under /api.
"use strict";

const $main = document.getElementById("main");
const $nav = document.getElementById("nav");
const $conn = document.getElementById("conn");

// ---- DOM helpers (text only: data never becomes markup) ----------------------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of kids) el.append(c instanceof Node ? c : String(c));
  return el;
}
const enc = encodeURIComponent;
const fmtTime = (t) => t ? new Date(t * 1000).toLocaleString() : "—";
const num = (n) => (n ?? 0).toLocaleString();
function show(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.length > 16 && typeof v[0] === "number") return `[${v.length} numbers: ${v.slice(0, 4).map((x) => x.toFixed(4)).join(", ")}, …]`;
  return JSON.stringify(v);
}
function link(href, text) { return h("a", { href, "data-nav": "1" }, text); }

async function api(path, opts) {
  const r = await fetch("/api" + path, Object.assign({ headers: { Accept: "application/json" } }, opts));
  let body;
  try { body = await r.json(); } catch (e) { body = { error: `${r.status} ${r.statusText}` }; }
  if (!r.ok) throw Object.assign(new Error(body.error || r.statusText), { status: r.status });
  return body;
}

function fail(e) {
  return h("div", { class: "error-box" }, (e.status ? e.status + ": " : "") + e.message);
}

// ---- routing ------------------------------------------------------------------
let flows = [];
let current = null;          // { flow, view }
let liveView = null;         // a function(event) while the live page shows

function navTo(url) { history.pushState(null, "", url); route(); }
document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[data-nav]");
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
  ev.preventDefault();
  navTo(a.getAttribute("href"));
});
window.addEventListener("popstate", route);

function tabs(flow, on) {
  const t = [["", "Graph"], ["/live", "Live"], ["/query", "Query"], ["/setup", "Setup"]];
  const f = flows.find((x) => x.name === flow);
  const out = h("div", { class: "tabs" });
  for (const [p, name] of t) out.append(h("a", { href: `/flows/${enc(flow)}${p}`, "data-nav": "1", class: on === p ? "on" : null }, name));
  for (const src of f ? f.sources : []) {
    const p = `/sources/${src.name}/rows`;
    out.append(h("a", { href: `/flows/${enc(flow)}/sources/${enc(src.name)}/rows`, "data-nav": "1", class: on === p ? "on" : null }, `Rows: ${src.name}`));
  }
  for (const x of f ? f.exports : []) {
    const p = `/exports/${x.name}/rows`;
    out.append(h("a", { href: `/flows/${enc(flow)}/exports/${enc(x.name)}/rows`, "data-nav": "1", class: on === p ? "on" : null }, `Export: ${x.name}`));
  }
  return out;
}

async function route() {
  liveView = null;
  const path = decodeURIComponent(location.pathname);
  const q = new URLSearchParams(location.search);
  if (!flows.length) {
    try { flows = (await api("/flows")).flows; } catch (e) { $main.replaceChildren(fail(e)); return; }
  }
  $nav.replaceChildren(...flows.map((f) => link(`/flows/${enc(f.name)}`, f.name)));
  const m = path.match(/^\/flows\/([^/]+)(.*)$/);
  if (!m) {
    if (flows.length === 1) return navTo(`/flows/${enc(flows[0].name)}`);
    return viewFlows();
  }
  const flow = m[1], rest = m[2];
  for (const a of $nav.children) a.classList.toggle("on", a.textContent === flow);
  document.title = `${flow} · coco`;
  let mm;
  try {
    if (rest === "" || rest === "/") await viewFlow(flow);
    else if (rest === "/live") await viewLive(flow);
    else if (rest === "/query") await viewQuery(flow, q);
    else if (rest === "/setup") await viewSetup(flow);
    else if ((mm = rest.match(/^\/sources\/([^/]+)\/rows$/))) await viewRows(flow, mm[1], q);
    else if ((mm = rest.match(/^\/sources\/([^/]+)\/rows\/(.+)$/))) await viewRow(flow, mm[1], mm[2]);
    else if ((mm = rest.match(/^\/exports\/([^/]+)\/rows$/))) await viewExport(flow, mm[1], q);
    else $main.replaceChildren(tabs(flow, null), fail({ status: 404, message: "no such page" }));
  } catch (e) {
    $main.replaceChildren(tabs(flow, null), fail(e));
  }
}

// ---- flows --------------------------------------------------------------------
function viewFlows() {
  document.title = "coco";
  const rows = flows.map((f) => h("tr", {},
    h("td", {}, link(`/flows/${enc(f.name)}`, f.name)), h("td", {}, f.path || ""),
    h("td", {}, f.sources.map((x) => x.name).join(", ")), h("td", {}, f.exports.map((x) => x.name).join(", ")),
    h("td", {}, f.live ? h("span", { class: "pill ok" }, "live") : "")));
  $main.replaceChildren(h("h1", {}, "Flows"), h("table", {},
    h("tr", {}, h("th", {}, "flow"), h("th", {}, "file"), h("th", {}, "sources"), h("th", {}, "exports"), h("th", {}, "")), rows));
}

// ---- the graph ------------------------------------------------------------------
// Nodes: sources, transforms, collectors, exports; edges follow the data.
function buildGraph(g) {
  const nodes = [], edges = [], producer = new Map();   // "scope:field" -> node id
  const add = (n) => { n.id = nodes.length; nodes.push(n); return n.id; };
  const scopes = g.scopes;
  for (const [i, src] of g.sources.entries()) {
    const id = add({ kind: "source", title: src.name, sub: src.kind, src });
    if (src.scope >= 0) for (let f = 0; f < scopes[src.scope].fields.length; f++)
      if (scopes[src.scope].fields[f].base) producer.set(`${src.scope}:${f}`, id);
  }
  const colNode = new Map();
  for (const c of g.collectors) colNode.set(c.id, add({ kind: "collector", title: `collector #${c.id + 1}`, sub: c.fields.map((f) => f.name).join(", ") }));
  const from = (arg) => (arg.field !== undefined ? producer.get(`${arg.scope}:${fieldIndex(scopes[arg.scope], arg.field)}`) : undefined);
  function walk(sid) {
    for (const op of scopes[sid].ops) {
      if (op.kind === "transform") {
        const id = add({ kind: "transform", title: op.fn, sub: `${op.name || "?"}: ${op.type}`, where: op.where, cached: op.cached });
        for (const a of op.args) { const p = from(a); if (p !== undefined) edges.push([p, id]); }
        producer.set(`${sid}:${op.out}`, id);
      } else if (op.kind === "foreach") {
        const p = producer.get(`${op.in_scope}:${op.in_field}`);
        const child = scopes[op.child];
        for (let f = 0; f < child.fields.length; f++) if (child.fields[f].base && p !== undefined) producer.set(`${op.child}:${f}`, p);
        walk(op.child);
      } else if (op.kind === "collect") {
        const c = colNode.get(op.collector);
        for (const a of op.fields) { const p = from(a); if (p !== undefined && !edges.some((e) => e[0] === p && e[1] === c)) edges.push([p, c]); }
      }
    }
  }
  for (const src of g.sources) if (src.scope >= 0) walk(src.scope);
  for (const x of g.exports) edges.push([colNode.get(x.collector), add({ kind: "export", title: x.name, sub: `${x.target} · key ${x.key.join(", ")}`, x })]);
  return { nodes, edges };
}
function fieldIndex(scope, name) {
  // a reference like "chunk.start.offset" names field "start" of the scope
  const base = String(name).split(".");
  for (let i = 0; i < scope.fields.length; i++) if (scope.fields[i].name === base[0] || scope.fields[i].name === base[base.length - 1]) return i;
  for (let i = 0; i < scope.fields.length; i++) if (base.includes(scope.fields[i].name)) return i;
  return -1;
}

function drawGraph(g, status, flow) {
  const { nodes, edges } = buildGraph(g);
  const depth = nodes.map(() => 0);
  for (let k = 0; k < nodes.length; k++) for (const [a, b] of edges) depth[b] = Math.max(depth[b], depth[a] + 1);
  for (const n of nodes) if (n.kind === "export") depth[n.id] = Math.max(...depth);
  const cols = [];
  for (const n of nodes) (cols[depth[n.id]] = cols[depth[n.id]] || []).push(n);
  const W = 210, H = 58, GX = 60, GY = 22;
  const height = Math.max(...cols.map((c) => c.length)) * (H + GY) + GY;
  const width = cols.length * (W + GX) + GX;
  const svg = s("svg", { class: "graph", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "flow graph" });
  cols.forEach((c, ci) => c.forEach((n, ri) => {
    n.x = GX + ci * (W + GX);
    n.y = GY + ri * (H + GY) + (height - c.length * (H + GY) - GY) / 2;
  }));
  for (const [a, b] of edges) {
    const A = nodes[a], B = nodes[b];
    const x1 = A.x + W, y1 = A.y + H / 2, x2 = B.x, y2 = B.y + H / 2, mx = (x1 + x2) / 2;
    svg.append(s("path", { class: "edge", d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)" }));
  }
  svg.prepend(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9aa5b1" }))));
  for (const n of nodes) {
    let count = null, bad = false;
    if (n.kind === "source" && status) {
      const st = status.sources.find((x) => x.name === n.title);
      if (st) {
        const t = st.totals, errs = st.errors.length;
        bad = errs > 0;
        count = `${num(t.added + t.updated)} changed · ${num(t.deleted)} deleted · ${errs} errors`;
      }
    }
    const title = n.title.length > 28 ? n.title.slice(0, 27) + "…" : n.title;
    const sub = n.sub.length > 34 ? n.sub.slice(0, 33) + "…" : n.sub;
    const grp = s("g", { class: `node ${n.kind}${bad ? " bad" : ""}`, transform: `translate(${n.x},${n.y})` },
      s("rect", { width: W, height: H }),
      s("text", { x: 10, y: 18 }, `${n.kind === "transform" && n.cached ? "⟳ " : ""}${title}`),
      s("text", { x: 10, y: 34, class: "sub" }, sub));
    if (count) grp.append(s("text", { x: 10, y: 50, class: `count${bad ? " bad" : ""}` }, count));
    else if (n.where) grp.append(s("text", { x: 10, y: 50, class: "sub" }, n.where));
    const tip = s("title", {}, `${n.kind}: ${n.title}\n${n.sub}${n.where ? "\n" + n.where : ""}`);
    grp.append(tip);
    let href = null;
    if (n.kind === "source") href = `/flows/${enc(flow)}/sources/${enc(n.title)}/rows`;
    if (n.kind === "export") href = `/flows/${enc(flow)}/exports/${enc(n.title)}/rows`;
    if (href) {
      const a = s("a", { href }, grp);
      a.addEventListener("click", (ev) => { ev.preventDefault(); navTo(href); });
      svg.append(a);
    } else svg.append(grp);
  }
  return svg;
}

async function viewFlow(flow) {
  const d = await api(`/flows/${enc(flow)}`);
  const st = d.status;
  const cards = h("div", { class: "cards" },
    h("div", { class: "card" }, h("b", {}, st.live ? (st.busy ? "updating" : "live") : "not live"), "updater"),
    h("div", { class: "card" }, h("b", { class: d.setup.status === "up to date" ? "ok" : "warn" }, d.setup.status), "setup"),
    ...st.sources.map((x) => h("div", { class: "card" }, h("b", { class: x.errors.length ? "err" : null }, `${num(x.totals.added + x.totals.updated + x.totals.unchanged)} rows`),
      `${x.name}: ${x.errors.length} errors`)));
  const ops = [];
  for (const sc of d.graph.scopes) for (const op of sc.ops) if (op.kind === "transform")
    ops.push(h("tr", {}, h("td", {}, op.name), h("td", {}, op.fn), h("td", {}, op.args.map((a) => (a.name ? a.name + " = " : "") + (a.field ?? JSON.stringify(a.value))).join(", ")),
      h("td", { class: "mono" }, op.type), h("td", {}, op.cached ? "cached" : ""), h("td", { class: "mono" }, op.where)));
  $main.replaceChildren(tabs(flow, ""), h("h1", {}, `Flow ${flow}`), cards, drawGraph(d.graph, st, flow),
    h("h2", {}, "Steps"), h("table", {}, h("tr", {}, h("th", {}, "field"), h("th", {}, "function"), h("th", {}, "arguments"), h("th", {}, "type"), h("th", {}, ""), h("th", {}, "line")), ops),
    h("h2", {}, "Sources"), h("table", {}, h("tr", {}, h("th", {}, "source"), h("th", {}, "kind"), h("th", {}, "options"), h("th", {}, "key"), h("th", {}, "refresh"), h("th", {}, "line")),
      d.graph.sources.map((x) => h("tr", {}, h("td", {}, link(`/flows/${enc(flow)}/sources/${enc(x.name)}/rows`, x.name)), h("td", {}, x.kind), h("td", { class: "mono" }, JSON.stringify(x.options)),
        h("td", {}, x.key.join(", ")), h("td", {}, x.refresh_interval ? `${x.refresh_interval} s` : "—"), h("td", { class: "mono" }, x.where)))),
    h("h2", {}, "Exports"), h("table", {}, h("tr", {}, h("th", {}, "export"), h("th", {}, "target"), h("th", {}, "key"), h("th", {}, "columns"), h("th", {}, "line")),
      d.graph.exports.map((x) => h("tr", {}, h("td", {}, link(`/flows/${enc(flow)}/exports/${enc(x.name)}/rows`, x.name)), h("td", {}, x.target), h("td", {}, x.key.join(", ")),
        h("td", { class: "mono" }, x.columns.map((c) => `${c.name}: ${c.type}`).join(", ")), h("td", { class: "mono" }, x.where)))),
    h("p", { class: "muted" }, `fingerprint ${d.graph.fingerprint}`));
}

// ---- source rows ------------------------------------------------------------------
async function viewRows(flow, source, q) {
  const params = new URLSearchParams();
  for (const k of ["after", "q", "limit"]) if (q.get(k)) params.set(k, q.get(k));
  const d = await api(`/flows/${enc(flow)}/sources/${enc(source)}/rows?${params}`);
  const errs = new Map(d.errors.map((e) => [e.key, e]));
  const base = `/flows/${enc(flow)}/sources/${enc(source)}/rows`;
  const search = h("input", { type: "search", name: "q", value: q.get("q") || "", placeholder: "key contains…" });
  const form = h("form", { class: "bar", onsubmit: (ev) => { ev.preventDefault(); navTo(`${base}?q=${enc(search.value)}`); } }, search, h("button", {}, "Search"));
  const rows = d.rows.map((r) => {
    const e = errs.get(r.key_text);
    return h("tr", { class: e ? "bad" : null },
      h("td", {}, link(`${base}/${r.key_text.split("/").map(enc).join("/")}`, r.key_text)),
      h("td", {}, r.current ? h("span", { class: "pill ok" }, "current") : h("span", { class: "pill warn" }, "older logic")),
      h("td", { class: "num" }, r.targets), h("td", { class: "mono muted" }, r.ordinal || "—"),
      h("td", { class: e ? "err" : null }, e ? `${e.message} (at ${fmtTime(e.at)}; retry ${e.retry_at ? fmtTime(e.retry_at) : "on its next change"})` : ""));
  });
  const pager = h("div", { class: "pager" },
    q.get("after") ? link(`${base}${q.get("q") ? "?q=" + enc(q.get("q")) : ""}`, "« first") : null,
    d.next !== null ? link(`${base}?after=${enc(d.next)}${q.get("q") ? "&q=" + enc(q.get("q")) : ""}`, "next »") : h("span", { class: "muted" }, "end"));
  const errList = d.errors.length ? [h("h2", { class: "err" }, `Row errors (${d.errors.length})`), h("table", {}, h("tr", {}, h("th", {}, "key"), h("th", {}, "error"), h("th", {}, "at"), h("th", {}, "next retry")),
    d.errors.map((e) => h("tr", { class: "bad" }, h("td", {}, link(`${base}/${e.key.split("/").map(enc).join("/")}`, e.key)), h("td", { class: "err" }, e.message), h("td", {}, fmtTime(e.at)), h("td", {}, e.retry_at ? fmtTime(e.retry_at) : "on its next change"))))] : [];
  $main.replaceChildren(tabs(flow, `/sources/${source}/rows`), h("h1", {}, `${flow}.${source}: rows`), form, ...errList,
    h("table", { id: "rows" }, h("tr", {}, h("th", {}, "key"), h("th", {}, "logic"), h("th", { class: "num" }, "target rows"), h("th", {}, "ordinal"), h("th", {}, "error")), rows), pager);
}

// ---- one row through every step ----------------------------------------------------------
function highlight(text, ranges, onPick) {
  // ranges: [[start, end, label]] in byte offsets of UTF-8 text
  const bytes = new TextEncoder().encode(text);
  const dec = new TextDecoder();
  const sorted = ranges.map((r, i) => ({ s: r[0], e: r[1], i })).sort((a, b) => a.s - b.s);
  const out = h("div", { class: "text", id: "source-text" });
  let pos = 0;
  for (const r of sorted) {
    const st = Math.max(r.s, pos);
    if (st > pos) out.append(dec.decode(bytes.subarray(pos, st)));
    if (r.e > st) {
      const m = h("mark", { "data-chunk": r.i, title: `chunk ${r.i + 1}: [${r.s}, ${r.e})` }, dec.decode(bytes.subarray(st, r.e)));
      m.addEventListener("click", () => onPick(r.i));
      out.append(m);
    }
    pos = Math.max(pos, r.e);
  }
  if (pos < bytes.length) out.append(dec.decode(bytes.subarray(pos)));
  return out;
}

function frameView(frame, graph, flow, depth) {
  const scope = graph.scopes[frame.scope];
  const out = [];
  const opOf = new Map();
  for (const op of scope.ops) if (op.kind === "transform") opOf.set(op.out, op);
  frame.fields.forEach((f, i) => {
    const op = opOf.get(i);
    const head = h("div", {}, h("b", {}, f.name), " ", h("span", { class: "mono muted" }, f.type),
      op ? h("span", { class: "where" }, ` ← ${op.fn}(${op.args.map((a) => (a.name ? a.name + "=" : "") + (a.field ?? JSON.stringify(a.value))).join(", ")}) ${op.where}${op.cached ? " · cached" : ""}`) : h("span", { class: "where" }, depth ? " (row field)" : " (source field)"));
    let body;
    if (f.rows !== undefined) body = h("div", { class: "muted" }, `${f.rows} rows, below`);
    else body = h("pre", { class: "val" }, show(f.value));
    out.push(h("div", { class: "step" }, head, body));
  });
  return out;
}

async function viewRow(flow, source, key) {
  const [d, fd] = await Promise.all([api(`/flows/${enc(flow)}/sources/${enc(source)}/rows/${key.split("/").map(enc).join("/")}`), api(`/flows/${enc(flow)}`)]);
  const g = fd.graph;
  const parts = [tabs(flow, `/sources/${source}/rows`), h("h1", {}, `${source} / ${d.key_text}`)];
  const stt = d.state;
  parts.push(h("div", { class: "cards" },
    h("div", { class: "card" }, h("b", { class: stt ? (stt.up_to_date ? "ok" : "warn") : "warn" }, stt ? (stt.up_to_date ? "up to date" : (stt.current ? "changed since" : "older logic")) : "not indexed"), "state"),
    h("div", { class: "card" }, h("b", {}, d.lineage.length), "target rows written"),
    ...Object.entries(d.exports).map(([x, rows]) => h("div", { class: "card" }, h("b", {}, rows.length), `rows for ${x} now`))));
  if (d.error) parts.push(h("div", { class: "error-box", id: "row-error" }, d.error));
  if (d.last_error) parts.push(h("div", { class: "error-box" }, `last run: ${d.last_error.message} (at ${fmtTime(d.last_error.at)}; retry ${d.last_error.retry_at ? fmtTime(d.last_error.retry_at) : "on its next change"})`));
  if (d.frame) {
    parts.push(h("h2", {}, "Through each step"), ...frameView(d.frame, g, flow, 0));
    // nested tables: chunks as highlighted spans of the text they came from
    const scope = g.scopes[d.frame.scope];
    for (const [name, rows] of Object.entries(d.frame.nested)) {
      const op = scope.ops.find((o) => o.kind === "transform" && o.name === name);
      const textArg = op && op.args.find((a) => a.field !== undefined);
      const textField = textArg && d.frame.fields.find((f) => f.name === textArg.field);
      const rangeIdx = rows.length ? rows[0].fields.findIndex((f) => f.type === "range") : -1;
      parts.push(h("h2", {}, `${name}: ${rows.length} rows`));
      const table = h("table", { id: `nested-${name}` });
      if (rows.length) table.append(h("tr", {}, h("th", {}, "#"), rows[0].fields.map((f) => h("th", {}, f.name))));
      const trs = rows.map((r, i) => h("tr", { "data-row": i }, h("td", { class: "num" }, i + 1), r.fields.map((f) => h("td", {}, h("div", { class: "val mono" }, f.rows !== undefined ? `${f.rows} rows` : show(f.value))))));
      table.append(...trs);
      if (textField && typeof textField.value === "string" && rangeIdx >= 0) {
        const pick = (i) => {
          for (const m of document.querySelectorAll("#source-text mark")) m.classList.toggle("on", +m.dataset.chunk === i);
          trs[i].scrollIntoView({ block: "nearest" });
        };
        parts.push(h("p", { class: "muted" }, `${textField.name}, with each of the ${rows.length} ${name} highlighted (click one):`),
          highlight(textField.value, rows.map((r) => r.fields[rangeIdx].value), pick));
      }
      parts.push(table);
    }
  }
  for (const [x, rows] of Object.entries(d.exports)) {
    const ex = g.exports.find((e) => e.name === x);
    parts.push(h("h2", {}, `Rows for export ${x} (${rows.length})`));
    const cols = ex ? ex.columns.map((c) => c.name) : rows.length ? Object.keys(rows[0]) : [];
    parts.push(h("table", { id: `export-${x}` }, h("tr", {}, cols.map((c) => h("th", {}, c))), rows.map((r) => h("tr", {}, cols.map((c) => h("td", {}, h("div", { class: "val mono" }, show(r[c]))))))));
  }
  parts.push(h("h2", {}, "Lineage: target rows this source row owns"));
  parts.push(h("table", {}, h("tr", {}, h("th", {}, "export"), h("th", {}, "key"), h("th", {}, "in the target"), h("th", {}, "produced now")),
    d.lineage.map((l) => h("tr", {}, h("td", {}, link(`/flows/${enc(flow)}/exports/${enc(l.export)}/rows`, l.export)), h("td", { class: "mono" }, JSON.stringify(l.key)),
      h("td", {}, l.written ? "yes" : "no"), h("td", { class: l.current ? (l.same ? "ok" : "warn") : "err" }, l.current ? (l.same ? "yes, same value" : "yes, changed") : "no: the next update deletes it")))));
  $main.replaceChildren(...parts);
}

// ---- export rows -------------------------------------------------------------------------
async function viewExport(flow, x, q) {
  const params = new URLSearchParams();
  for (const k of ["after", "limit"]) if (q.get(k)) params.set(k, q.get(k));
  const d = await api(`/flows/${enc(flow)}/exports/${enc(x)}/rows?${params}`);
  const base = `/flows/${enc(flow)}/exports/${enc(x)}/rows`;
  const keyCols = d.columns.slice(0, d.nkeys);
  $main.replaceChildren(tabs(flow, `/exports/${x}/rows`), h("h1", {}, `${flow}: export ${x}`),
    h("p", { class: "muted" }, "The target rows coco wrote, by the source row that owns each (from lineage)."),
    h("table", { id: "export-rows" }, h("tr", {}, keyCols.map((c) => h("th", {}, c)), h("th", {}, "source row")),
      d.rows.map((r) => h("tr", {}, (Array.isArray(r.key) ? r.key : [r.key]).map((v) => h("td", { class: "mono" }, show(v))),
        h("td", {}, link(`/flows/${enc(flow)}/sources/${enc(r.source)}/rows/${r.source_key.split("/").map(enc).join("/")}`, `${r.source} / ${r.source_key}`))))),
    h("div", { class: "pager" }, q.get("after") ? link(base, "« first") : null,
      d.next ? link(`${base}?after=${enc(d.next)}`, "next »") : h("span", { class: "muted" }, "end")));
}

// ---- live ------------------------------------------------------------------------------------
async function viewLive(flow) {
  const d = await api(`/flows/${enc(flow)}/live`);
  const rate = () => {
    const now = Date.now() / 1000, recent = d.batches.filter((b) => now - b.at <= 60);
    const n = recent.reduce((a, b) => a + b.added + b.updated + b.deleted + b.reprocessed, 0);
    return (n / 60).toFixed(2);
  };
  const btn = h("button", { onclick: async () => {
    btn.disabled = true; btn.textContent = "Updating…";
    try { const r = await api(`/flows/${enc(flow)}/update`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" }); btn.textContent = "Done"; void r; }
    catch (e) { btn.textContent = "Update"; $main.prepend(fail(e)); }
    btn.disabled = false; setTimeout(() => route(), 300);
  } }, d.live ? "Full pass now" : "Update now");
  const render = () => [
    tabs(flow, "/live"), h("h1", {}, `${flow}: live`),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("b", { class: d.fatal ? "err" : "ok" }, d.live ? (d.fatal ? "stopped" : d.busy ? "updating" : "following changes") : "not live"), "updater"),
      h("div", { class: "card" }, h("b", {}, rate()), "rows/s (last minute)"),
      ...d.sources.map((x) => h("div", { class: "card" }, h("b", {}, x.lag_seconds !== undefined && x.lag_seconds !== null ? `${x.lag_seconds} s` : "—"), `${x.name}: since last change`))),
    h("p", {}, btn),
    d.fatal ? h("div", { class: "error-box" }, d.fatal) : null,
    d.degraded ? h("div", { class: "error-box" }, d.degraded) : null,
    h("h2", {}, "Change capture"),
    h("table", {}, h("tr", {}, h("th", {}, "source"), h("th", {}, "kind"), h("th", {}, "capture"), h("th", {}, "refresh"), h("th", { class: "num" }, "added"), h("th", { class: "num" }, "updated"), h("th", { class: "num" }, "deleted"), h("th", { class: "num" }, "errors")),
      d.sources.map((x) => h("tr", {}, h("td", {}, x.name), h("td", {}, x.kind), h("td", {}, x.change_capture), h("td", {}, x.refresh_interval ? `${x.refresh_interval} s` : "—"),
        h("td", { class: "num" }, num(x.totals.added)), h("td", { class: "num" }, num(x.totals.updated)), h("td", { class: "num" }, num(x.totals.deleted)), h("td", { class: "num" }, num(x.totals.errors))))),
    h("h2", {}, "Row errors"),
    h("table", { id: "live-errors" }, h("tr", {}, h("th", {}, "source"), h("th", {}, "key"), h("th", {}, "error"), h("th", {}, "at"), h("th", {}, "next retry")),
      d.sources.flatMap((x) => x.errors.map((e) => h("tr", { class: "bad" }, h("td", {}, x.name), h("td", {}, link(`/flows/${enc(flow)}/sources/${enc(x.name)}/rows/${e.key.split("/").map(enc).join("/")}`, e.key)),
        h("td", { class: "err" }, e.message), h("td", {}, fmtTime(e.at)), h("td", {}, e.retry_at ? fmtTime(e.retry_at) : "on its next change"))))),
    h("h2", {}, "Recent batches"),
    h("table", { id: "batches" }, h("tr", {}, h("th", {}, "at"), h("th", {}, "source"), h("th", { class: "num" }, "added"), h("th", { class: "num" }, "updated"), h("th", { class: "num" }, "deleted"), h("th", { class: "num" }, "unchanged"), h("th", { class: "num" }, "errors"), h("th", { class: "num" }, "ms")),
      d.batches.slice().reverse().slice(0, 50).map((b) => h("tr", { class: b.errors ? "bad" : null }, h("td", {}, fmtTime(b.at)), h("td", {}, b.source), h("td", { class: "num" }, b.added), h("td", { class: "num" }, b.updated),
        h("td", { class: "num" }, b.deleted), h("td", { class: "num" }, b.unchanged), h("td", { class: "num" }, b.errors), h("td", { class: "num" }, (b.elapsed_ms || 0).toFixed(1))))),
    h("h2", {}, "Warnings"),
    h("table", {}, d.warnings.slice().reverse().slice(0, 30).map((w) => h("tr", {}, h("td", {}, fmtTime(w.at)), h("td", { class: "warn" }, w.message)))),
  ];
  $main.replaceChildren(...render().filter(Boolean));
  let pending = null;
  liveView = (ev) => {
    if (ev.flow !== flow || pending) return;
    pending = setTimeout(async () => {
      pending = null;
      if (liveView === null) return;
      try { Object.assign(d, await api(`/flows/${enc(flow)}/live`)); $main.replaceChildren(...render().filter(Boolean)); } catch (e) { /* next event */ }
    }, 250);
  };
}

// ---- query ---------------------------------------------------------------------------------
async function viewQuery(flow, q) {
  const f = flows.find((x) => x.name === flow);
  const parts = [tabs(flow, "/query"), h("h1", {}, `${flow}: query`)];
  if (!f.query_handlers.length) parts.push(h("p", { class: "muted" }, "This flow has no query handler (flow:query_handler(name, function(query, opts) … end))."));
  for (const qh of f.query_handlers) {
    const input = h("input", { type: "search", name: "q", value: q.get("h") === qh.name ? q.get("q") || "" : "", placeholder: "query text" });
    const k = h("input", { type: "number", name: "k", value: q.get("k") || 10, min: 1, max: 1000 });
    const out = h("div", { id: `results-${qh.name}` });
    parts.push(h("h2", {}, qh.name, " ", h("span", { class: "where muted" }, qh.where)),
      h("form", { class: "bar", onsubmit: (ev) => { ev.preventDefault(); navTo(`/flows/${enc(flow)}/query?h=${enc(qh.name)}&q=${enc(input.value)}&k=${enc(k.value)}`); } }, input, k, h("button", {}, "Search")), out);
    if (q.get("h") === qh.name && q.get("q")) {
      try {
        const d = await api(`/flows/${enc(flow)}/query/${enc(qh.name)}?q=${enc(q.get("q"))}&k=${enc(q.get("k") || 10)}`);
        const cols = [];
        for (const r of d.rows) for (const c of Object.keys(r)) if (c !== "score" && !cols.includes(c)) cols.push(c);
        out.append(h("p", { class: "muted" }, `${d.rows.length} rows in ${d.elapsed_ms} ms`),
          h("table", {}, h("tr", {}, h("th", { class: "num" }, "score"), cols.map((c) => h("th", {}, c))),
            d.rows.map((r) => h("tr", {}, h("td", { class: "num" }, r.score !== undefined ? Number(r.score).toFixed(4) : ""), cols.map((c) => h("td", {}, h("div", { class: "val" }, show(r[c]))))))));
      } catch (e) { out.append(fail(e)); }
    }
  }
  $main.replaceChildren(...parts);
}

// ---- setup ---------------------------------------------------------------------------------
async function viewSetup(flow) {
  const d = await api(`/flows/${enc(flow)}/setup`);
  $main.replaceChildren(tabs(flow, "/setup"), h("h1", {}, `${flow}: setup`), h("section", {},
    h("p", {}, "Status: ", h("b", { class: d.status === "up to date" ? "ok" : "warn" }, d.status)),
    d.error ? h("div", { class: "error-box" }, d.error) : null,
    d.plan ? [h("h2", {}, "Pending plan (applied by the next update, or coco setup)"), h("pre", { id: "plan" }, d.plan)] : h("p", { class: "muted" }, "Nothing to change.")));
}

// ---- events ------------------------------------------------------------------------------------
function connect() {
  const es = new EventSource("/api/events");
  es.onopen = () => { $conn.textContent = "live events"; $conn.classList.add("on"); };
  es.onerror = () => { $conn.textContent = "events: reconnecting"; $conn.classList.remove("on"); };
  for (const name of ["batch", "error", "warning", "update", "setup"]) {
    es.addEventListener(name, (m) => { let ev; try { ev = JSON.parse(m.data); } catch (e) { return; } if (liveView) liveView(ev); });
  }
}

route();
connect();
