// The back-test panel: the latest stored back-test, predicted vs actual mean holdout purchases
// by number of calibration repeat purchases, for the model it chose. Self-contained module.
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

function key() {
  return ($("key") && $("key").value.trim()) || sessionStorage.getItem("touchpoint-key") || "";
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function chart(rows) {
  // Two bars per bucket: predicted (blue) and actual (green), values written above.
  const w = 440, h = 180, base = 150, band = w / rows.length;
  const max = Math.max(0.01, ...rows.flatMap((r) => [r.predicted_mean || 0, r.actual_mean || 0]));
  const svg = svgEl("svg", { viewBox: `0 0 ${w} ${h + 20}`, width: "100%" });
  rows.forEach((r, i) => {
    const x0 = i * band + 6;
    [["predicted", r.predicted_mean, "#3b7dd8"], ["actual", r.actual_mean, "#2c9c6a"]].forEach(
      ([kind, v, color], j) => {
        const len = ((v || 0) / max) * (base - 20);
        const x = x0 + j * (band / 2 - 4);
        svg.append(svgEl("rect", { x, y: base - len, width: band / 2 - 6, height: Math.max(len, 1), fill: color }));
        svg.append(svgEl("text", { x, y: base - len - 3, "font-size": 9, "data-testid": `bt-${kind}-${r.repeat_purchases}` },
          v === null ? "–" : v.toFixed(2)));
      });
    svg.append(svgEl("text", { x: x0 + band / 4, y: base + 14, "font-size": 11 }, r.repeat_purchases));
  });
  svg.append(svgEl("text", { x: 0, y: h + 16, "font-size": 10 },
    "calibration repeat purchases; blue: predicted, green: actual mean holdout purchases"));
  return svg;
}

async function load() {
  const out = $("backtest-chart"), note = $("backtest-summary");
  if (!out) return;
  const r = await fetch("/v1/models/backtests?limit=1", { headers: { Authorization: `Bearer ${key()}` } });
  if (!r.ok) { note.textContent = r.status === 403 ? "this key cannot read back-tests" : `error ${r.status}`; return; }
  const latest = (await r.json()).items[0];
  out.replaceChildren();
  if (!latest) { note.textContent = "no back-test yet (touchpoint backtest --calibration-end …)"; return; }
  const shown = latest.models.find((m) => m.model === latest.chosen_model) || latest.fallback;
  if (shown) out.append(chart(shown.by_frequency));
  const pct = (v) => (v === null ? "n/a" : `${(v * 100).toFixed(1)}%`);
  const scores = [...latest.models, ...(latest.fallback ? [latest.fallback] : [])]
    .map((m) => `${m.model}: aggregate error ${pct(m.aggregate_error)}, MAE ${m.mae.toFixed(3)}`).join("; ");
  note.textContent = `Back-test ${latest.id}: calibration to ${latest.calibration_end.slice(0, 10)}, ` +
    `holdout to ${latest.holdout_end.slice(0, 10)}; shown: ${shown ? shown.model : "none"}. ${scores}`;
}

$("key-form").addEventListener("submit", () => { load(); });
if (key()) load();
