// The dashboard: plain ES module, no build step. Every number comes from the API; labels come
// from the catalogue below in the shop's locale, times are shown in the shop's time zone.
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

const LABELS = {
  ru: {
    stages: {
      prospect: "контакт", lead: "интерес", hot_lead: "горячий интерес", buyer: "покупатель",
      client: "клиент", regular: "постоянный", adherent: "приверженец", advocate: "адвокат",
    },
    statuses: { active: "активен", at_risk: "под угрозой", lapsed: "пропал", lost: "потерян" },
    customers: "клиентов", revenue: "выручка", repeat: "выручки от повторных покупателей",
    average: "в среднем", perCustomer: "на клиента",
    partial: "текущий месяц не завершён: не окрашен",
    forbidden: (scope) => `этот ключ не может читать эту панель (нужно право ${scope})`,
    unavailable: "нет на этом сервере",
  },
  en: {
    stages: {
      prospect: "prospect", lead: "lead", hot_lead: "hot lead", buyer: "buyer", client: "client",
      regular: "regular", adherent: "adherent", advocate: "advocate",
    },
    statuses: { active: "active", at_risk: "at risk", lapsed: "lapsed", lost: "lost" },
    customers: "customers", revenue: "revenue", repeat: "of revenue from repeat customers",
    average: "average", perCustomer: "per customer",
    partial: "current month in progress: not coloured",
    forbidden: (scope) => `this key cannot read this panel (needs ${scope})`,
    unavailable: "not available on this server",
  },
};

let config = { locale: "ru", timezone: "UTC", currency: "RUB" };
const t = () => LABELS[config.locale] || LABELS.en;

function key() { return sessionStorage.getItem("touchpoint-key") || ""; }

class Forbidden extends Error {}
class Missing extends Error {}

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${key()}` } });
  if (r.status === 404) throw new Missing(path);  // an endpoint this server does not have
  if (r.status === 401 || r.status === 403) throw new Forbidden(path);
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
  // rows: [{id, label, value, note?}] as horizontal bars with the value written at the end
  container.replaceChildren();
  const max = Math.max(1, ...rows.map((r) => r.value));
  const h = 22, w = 520, left = 130;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${rows.length * h}`);
  svg.setAttribute("width", "100%");
  rows.forEach((r, i) => {
    const len = (r.value / max) * (w - left - 170);
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", 0); label.setAttribute("y", i * h + 15); label.textContent = r.label;
    label.setAttribute("data-testid", `label-${r.id}`);
    const b = document.createElementNS(SVG, "rect");
    b.setAttribute("x", left); b.setAttribute("y", i * h + 4); b.setAttribute("height", h - 8);
    b.setAttribute("width", Math.max(len, 1)); b.setAttribute("class", cls);
    const v = document.createElementNS(SVG, "text");
    v.setAttribute("x", left + 5 + len); v.setAttribute("y", i * h + 15);
    const value = document.createElementNS(SVG, "tspan");
    value.setAttribute("data-testid", `${cls}-${r.id}`); value.textContent = format(r.value);
    v.append(value);
    if (r.note) {
      const note = document.createElementNS(SVG, "tspan");
      note.setAttribute("class", "bar-note"); note.setAttribute("data-testid", `avg-${r.id}`);
      note.textContent = ` ${r.note}`;
      v.append(note);
    }
    svg.append(label, b, v);
  });
  container.append(svg);
}

const number = (v) => Number(v).toLocaleString(config.locale, { maximumFractionDigits: 0 });
const money = (v) => Number(v).toLocaleString(config.locale, {
  style: "currency", currency: config.currency, maximumFractionDigits: 0,
});
const when = (iso) => new Intl.DateTimeFormat(config.locale, {
  timeZone: config.timezone, year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit",
}).format(new Date(iso));

async function pyramid() {
  const p = await api("/v1/analytics/pyramid");
  const levels = p.levels.slice().reverse();
  const name = (s) => t().stages[s] || s;
  bars($("pyramid-people"), levels.map((l) => ({ id: l.stage, label: name(l.stage), value: l.customers })), "bar", String);
  bars($("pyramid-money"), levels.map((l) => ({
    id: l.stage, label: name(l.stage), value: Number(l.revenue),
    note: l.customers ? `(⌀ ${money(l.average_revenue)})` : "",
  })), "money", money);
  $("pyramid-summary").textContent =
    `${p.customers} ${t().customers}, ${t().revenue} ${money(p.revenue)}; ` +
    `${Math.round(p.repeat_revenue_share * 100)}% ${t().repeat}; ` +
    `⌀ = ${t().average} ${t().perCustomer}`;
}

function table(body, rows, cells) {
  body.replaceChildren();
  if (!rows.length) { body.append(el("tr", {}, "")).firstChild.append(el("td", { class: "empty" }, "—")); return; }
  for (const r of rows) {
    const tr = el("tr", { "data-testid": "row" });
    for (const [text, cls] of cells(r)) tr.append(el("td", cls ? { class: cls } : {}, text));
    body.append(tr);
  }
}

async function lapsed() {
  const page = await api("/v1/customers/lapsed?limit=10");
  table($("lapsed-rows"), page.items, (x) => [
    [x.customer_id], [t().stages[x.stage] || x.stage], [t().statuses[x.status] || x.status],
    [Math.round(x.days_silent), "num"], [money(x.value_at_risk), "num"],
    [x.p_alive === null ? "—" : `${Math.round(x.p_alive * 100)}%`, "num"],
  ]);
}

async function touches() {
  const before = new Date(Date.now() + 30 * 86400e3).toISOString();
  const page = await api(`/v1/touches/due?limit=10&before=${encodeURIComponent(before)}`);
  table($("touch-rows"), page.items, (x) => [
    [when(x.due_at)], [x.customer_id], [x.channel], [x.reason],
  ]);
}

async function ltv() {
  const h = await api("/v1/analytics/ltv-histogram?buckets=10");
  bars($("ltv-chart"), h.buckets.map((b, i) => ({ id: String(i), label: `≤ ${money(b.to_value)}`, value: b.customers })), "bar", String);
}

function monthIndex(label) { const [y, m] = label.split("-").map(Number); return y * 12 + m - 1; }

function currentMonthIndex() {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: config.timezone, year: "numeric", month: "2-digit" })
    .formatToParts(new Date());
  const y = Number(parts.find((p) => p.type === "year").value);
  const m = Number(parts.find((p) => p.type === "month").value);
  return y * 12 + m - 1;
}

async function cohorts() {
  const c = await api("/v1/analytics/cohorts?months=12");
  const tbl = $("cohort-table");
  tbl.replaceChildren();
  const width = Math.max(0, ...c.cohorts.map((x) => x.retention.length));
  const head = el("tr");
  head.append(el("th", {}, "cohort"), el("th", {}, "buyers"));
  for (let k = 0; k < width; k++) head.append(el("th", {}, `M${k}`));
  tbl.append(head);
  const now = currentMonthIndex();
  for (const x of c.cohorts) {
    const tr = el("tr", { "data-testid": "cohort" });
    tr.append(el("td", {}, x.month), el("td", { class: "num" }, String(x.buyers)));
    const first = monthIndex(x.month);
    x.retention.forEach((s, k) => {
      // The month still running is partial: marked, and left out of the colour scale.
      const partial = first + k >= now;
      const td = el("td", { class: partial ? "num partial" : "num" }, `${Math.round(s * 100)}%`);
      if (partial) td.setAttribute("title", t().partial);
      else td.style.background = `rgba(59,125,216,${s})`;
      tr.append(td);
    });
    tbl.append(tr);
  }
  $("cohort-note").textContent = `* ${t().partial}`;
}

// Each panel, where it writes a message it cannot show, and the scope it needs.
const PANELS = [
  [pyramid, "pyramid-people", "customers:read"],
  [lapsed, "lapsed-rows", "customers:read"],
  [touches, "touch-rows", "touches:read"],
  [ltv, "ltv-chart", "customers:read"],
  [cohorts, "cohort-table", "customers:read"],
];

function say(id, text) {
  const target = $(id);
  target.replaceChildren();
  const note = target.tagName === "TBODY" || target.tagName === "TABLE"
    ? el("tr", {}).appendChild(el("td", { class: "empty", colspan: "8" }, text)).parentNode
    : el("p", { class: "empty" }, text);
  note.setAttribute("data-testid", "panel-message");
  target.append(note);
}

async function load() {
  $("status").textContent = "loading…";
  try {
    config = await (await fetch("/dashboard/config.json")).json();
  } catch (e) { /* keep the defaults */ }
  document.documentElement.lang = config.locale;
  $("zone").textContent = config.timezone;
  const results = await Promise.allSettled(PANELS.map(([draw]) => draw()));
  const failed = [];
  results.forEach((r, i) => {
    if (r.status === "fulfilled") return;
    const [, id, scope] = PANELS[i];
    if (r.reason instanceof Forbidden) say(id, t().forbidden(scope));
    else if (r.reason instanceof Missing) say(id, t().unavailable);
    else { say(id, String(r.reason.message)); failed.push(r.reason.message); }
  });
  $("status").textContent = failed.length ? `error: ${failed.join("; ")}` : "up to date";
}

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("touchpoint-key", $("key").value.trim());
  load();
});
if (key()) load();
