// Several runs side by side: their curves of a metric overlaid on one chart, and their params and
// latest metrics in columns, with the rows that differ highlighted.
import {
  api, badge, boot, clear, el, fetchSeries, fill, formatNumber, formatValue, lineChart, runLink, section,
} from "./common.js";

function sideBySide(title, rows, runs, { onlyDiffering }) {
  const shown = onlyDiffering ? rows.filter((r) => r.differs) : rows;
  if (!shown.length) return section(title, el("p", { class: "muted", text: onlyDiffering ? "no differences" : "none" }));
  return section(
    title,
    el(
      "table",
      { class: "grid compare" },
      el("thead", {}, el("tr", {}, el("th", { text: "key" }), runs.map((r) => el("th", {}, runLink(r.name))))),
      el(
        "tbody",
        {},
        shown.map((row) =>
          el(
            "tr",
            { class: row.differs ? "differs" : null, "data-key": row.key },
            el("td", { class: "key", text: row.key }),
            row.values.map((v) => el("td", { text: formatValue(v) })),
          ),
        ),
      ),
    ),
  );
}

function chartCard(page) {
  const keys = page.metric_keys;
  const names = page.runs.map((r) => r.name);
  const select = el("select", { "aria-label": "metric" }, keys.map((k) => el("option", { value: k, text: k })));
  const box = el("div", { class: "chart", id: "compare-chart" });
  async function linesFor(key, width, range) {
    const all = await Promise.all(names.map((name) => fetchSeries(name, key, width, range).catch(() => null)));
    return all
      .map((series, i) => (series ? { label: names[i], steps: series.steps, values: series.values } : null))
      .filter(Boolean);
  }
  async function draw() {
    clear(box);
    const key = select.value;
    const width = box.clientWidth;
    const lines = await linesFor(key, width);
    if (!lines.length) {
      box.append(el("p", { class: "muted", text: `no run logged ${key}` }));
      return;
    }
    lineChart(box, {
      title: key,
      lines,
      reload: (min, max) => linesFor(key, width, min === null ? null : [min, max]),
    });
  }
  select.addEventListener("change", draw);
  const card = section(
    "Metric curves",
    keys.length ? el("div", { class: "toolbar" }, el("label", {}, "metric ", select)) : el("p", { class: "muted", text: "no metrics logged" }),
    box,
  );
  return { card, draw: keys.length ? draw : async () => {} };
}

function metricsTable(rows, runs, { onlyDiffering }) {
  const shown = onlyDiffering ? rows.filter((r) => r.differs) : rows;
  if (!shown.length) return section("Metrics", el("p", { class: "muted", text: onlyDiffering ? "no differences" : "none" }));
  return section(
    "Metrics (latest, and best)",
    el(
      "table",
      { class: "grid compare" },
      el("thead", {}, el("tr", {}, el("th", { text: "metric" }), runs.map((r) => el("th", {}, runLink(r.name))))),
      el(
        "tbody",
        {},
        shown.map((row) =>
          el(
            "tr",
            { class: row.differs ? "differs" : null, "data-key": row.key },
            el("td", { class: "key", text: row.key, title: `best is the ${row.goal === "min" ? "lowest" : "highest"}` }),
            row.last.map((last, i) =>
              el("td", { class: "num" }, formatNumber(last), row.best[i] === null ? "" : el("span", { class: "muted", text: ` (${formatNumber(row.best[i])})` })),
            ),
          ),
        ),
      ),
    ),
  );
}

async function render(main) {
  const runs = new URLSearchParams(window.location.search).getAll("run");
  if (runs.length < 1) throw new Error("pick runs to compare in the runs table");
  const page = await api("/compare", { run: runs });
  const onlyDiffering = el("input", { type: "checkbox", id: "only-differing" });
  const tables = el("div", {});
  function drawTables() {
    const options = { onlyDiffering: onlyDiffering.checked };
    fill(
      tables,
      sideBySide("Params", page.params, page.runs, options),
      metricsTable(page.metrics, page.runs, options),
      page.packages.length ? sideBySide("Packages whose versions differ", page.packages, page.runs, options) : null,
    );
  }
  onlyDiffering.addEventListener("change", drawTables);
  const chart = chartCard(page);
  fill(main, 
    el("h1", { text: `Compare ${page.runs.length} runs` }),
    el("p", {}, page.runs.map((r) => el("span", { class: "run-chip" }, runLink(r.name), " ", badge(r.status), "  "))),
    chart.card,
    el("label", { class: "toolbar" }, onlyDiffering, " show only what differs"),
    tables,
  );
  drawTables();
  await chart.draw();
}

boot(render);
