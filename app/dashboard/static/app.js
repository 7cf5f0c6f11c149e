// The dashboard: plain ES module, no build step. Every number comes from the API.
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function key() { return sessionStorage.getItem("touchpoint-key") || ""; }

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${key()}` } });
  if (r.status === 404) return null;  // an endpoint this server does not have
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function bars(container, rows, cls, format) {
  // rows: [{label, value}] as horizontal bars with the value written at the end
  container.replaceChildren();
  const max = Math.max(1, ...rows.map((r) => r.value));
  const h = 22, w = 420;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${rows.length * h}`);
  svg.setAttribute("width", "100%");
  rows.forEach((r, i) => {
    const len = (r.value / max) * (w - 200);
    const t = document.createElementNS(SVG, "text");
    t.setAttribute("x", 0); t.setAttribute("y", i * h + 15); t.textContent = r.label;
    const b = document.createElementNS(SVG, "rect");
    b.setAttribute("x", 90); b.setAttribute("y", i * h + 4); b.setAttribute("height", h - 8);
    b.setAttribute("width", Math.max(len, 1)); b.setAttribute("class", cls);
    const v = document.createElementNS(SVG, "text");
    v.setAttribute("x", 95 + len); v.setAttribute("y", i * h + 15);
    v.setAttribute("data-testid", `${cls}-${r.label}`); v.textContent = format(r.value);
    svg.append(t, b, v);
  });
  container.append(svg);
}

const money = (v) => Number(v).toLocaleString("en-US", { maximumFractionDigits: 0 });

async function pyramid() {
  const p = await api("/v1/analytics/pyramid");
  if (!p) { $("pyramid-people").textContent = "not available on this server"; return; }
  const levels = p.levels.slice().reverse();
  bars($("pyramid-people"), levels.map((l) => ({ label: l.stage, value: l.customers })), "bar", String);
  bars($("pyramid-money"), levels.map((l) => ({ label: l.stage, value: Number(l.revenue) })), "money", money);
  $("pyramid-summary").textContent =
    `${p.customers} customers, revenue ${money(p.revenue)}; ` +
    `${Math.round(p.repeat_revenue_share * 100)}% of revenue from repeat customers`;
}

function table(body, rows, cells) {
  body.replaceChildren();
  if (!rows.length) { body.append(el("tr", {}, "")).firstChild.append(el("td", { class: "empty" }, "nothing here")); return; }
  for (const r of rows) {
    const tr = el("tr", { "data-testid": "row" });
    for (const [text, cls] of cells(r)) tr.append(el("td", cls ? { class: cls } : {}, text));
    body.append(tr);
  }
}

async function lapsed() {
  const page = await api("/v1/customers/lapsed?limit=10");
  if (!page) { $("lapsed-rows").textContent = "not available on this server"; return; }
  table($("lapsed-rows"), page.items, (x) => [
    [x.customer_id], [x.stage], [x.status], [Math.round(x.days_silent), "num"], [x.value_at_risk, "num"],
  ]);
}

async function touches() {
  const before = new Date(Date.now() + 30 * 86400e3).toISOString();
  const page = await api(`/v1/touches/due?limit=10&before=${encodeURIComponent(before)}`);
  if (!page) { $("touch-rows").textContent = "not available on this server"; return; }
  table($("touch-rows"), page.items, (t) => [
    [t.due_at.slice(0, 16).replace("T", " ")], [t.customer_id], [t.channel], [t.reason],
  ]);
}

async function ltv() {
  const h = await api("/v1/analytics/ltv-histogram?buckets=10");
  if (!h) { $("ltv-chart").textContent = "not available on this server"; return; }
  bars($("ltv-chart"), h.buckets.map((b) => ({ label: `≤${money(b.to_value)}`, value: b.customers })), "bar", String);
}

async function cohorts() {
  const c = await api("/v1/analytics/cohorts?months=12");
  const t = $("cohort-table");
  t.replaceChildren();
  if (!c) { t.textContent = "not available on this server"; return; }
  const width = Math.max(0, ...c.cohorts.map((x) => x.retention.length));
  const head = el("tr");
  head.append(el("th", {}, "cohort"), el("th", {}, "buyers"));
  for (let k = 0; k < width; k++) head.append(el("th", {}, `M${k}`));
  t.append(head);
  for (const x of c.cohorts) {
    const tr = el("tr", { "data-testid": "cohort" });
    tr.append(el("td", {}, x.month), el("td", { class: "num" }, String(x.buyers)));
    x.retention.forEach((s) => {
      const td = el("td", { class: "num" }, `${Math.round(s * 100)}%`);
      td.style.background = `rgba(59,125,216,${s})`;
      tr.append(td);
    });
    t.append(tr);
  }
}

async function load() {
  $("status").textContent = "loading…";
  try {
    await Promise.all([pyramid(), lapsed(), touches(), ltv(), cohorts()]);
    $("status").textContent = "up to date";
  } catch (e) {
    $("status").textContent = `error: ${e.message}`;
  }
}

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("touchpoint-key", $("key").value.trim());
  load();
});
if (key()) load();
