// One run: params, environment, code version, datasets, the commits timeline, and interactive
// charts of any of its metrics (downsampled on the server, refetched in detail when zoomed).
import {
  api, badge, boot, clear, fill, commitLink, el, fetchSeries, formatDuration, formatNumber, formatTime,
  formatValue, keyValueTable, lineChart, pathPart, section, table,
} from "./common.js";

const DEFAULT_CHARTS = 4;

function environmentSection(env) {
  if (!env) return section("Environment", el("p", { class: "muted", text: "not captured" }));
  const entries = [
    ["python", env.python_version],
    ["executable", env.python_executable],
    ["platform", env.platform],
    ["hostname", env.hostname],
    ["command", env.command ? env.command.join(" ") : null],
    ["cwd", env.cwd],
  ].filter(([, v]) => v);
  if (env.cuda) entries.push(["cuda", [env.cuda.cuda_version, ...(env.cuda.gpus || []).map((g) => g.name)].filter(Boolean).join(", ")]);
  const packages = Object.entries(env.packages || {});
  return section(
    "Environment",
    keyValueTable(entries),
    packages.length ? el("h2", { text: "Packages" }) : null,
    packages.length ? keyValueTable(packages) : null,
  );
}

function codeSection(env) {
  const git = env && env.git;
  if (!git) return section("Code version", el("p", { class: "muted", text: "not in a git repository, or not captured" }));
  const entries = [
    ["commit", git.commit],
    ["branch", git.branch],
    ["dirty", git.dirty ? "yes (uncommitted changes)" : "no"],
    ["remote", git.remote],
    ["root", git.root],
  ].filter(([, v]) => v !== null && v !== undefined);
  return section(
    "Code version",
    keyValueTable(entries),
    git.diff ? el("details", {}, el("summary", { text: `uncommitted diff${git.diff_truncated ? " (truncated)" : ""}` }), el("pre", { text: git.diff })) : null,
  );
}

function datasetsSection(datasets) {
  if (!datasets || !datasets.length) return section("Datasets", el("p", { class: "muted", text: "none recorded" }));
  const keys = [...new Set(datasets.flatMap((d) => Object.keys(d)))].filter((k) => k !== "schema_version");
  return section("Datasets", table(keys, datasets.map((d) => el("tr", {}, keys.map((k) => el("td", { text: formatValue(d[k]) }))))));
}

function commitsSection(commits, labels) {
  const byCommit = {};
  for (const [label, id] of Object.entries(labels)) (byCommit[id] = byCommit[id] || []).push(label);
  const items = commits.map((c) =>
    el(
      "li",
      {},
      commitLink(c.id),
      " ",
      el("span", { class: "muted", text: formatTime(c.time) }),
      c.step !== null ? ` step ${c.step}` : "",
      c.epoch !== null ? ` epoch ${c.epoch}` : "",
      " — ",
      c.message,
      ...(byCommit[c.id] || []).map((label) => el("span", { class: "badge", text: label })),
    ),
  );
  return section(`Commits (${commits.length})`, items.length ? el("ul", { class: "timeline" }, items) : el("p", { class: "muted", text: "none" }));
}

function chartsSection(run) {
  const keys = run.metrics.map((m) => m.key);
  const chosen = new Set(keys.slice(0, DEFAULT_CHARTS));
  const grid = el("div", { class: "charts", id: "charts" });
  const picker = el(
    "div",
    { class: "metric-picker" },
    keys.map((key) => {
      const box = el("input", { type: "checkbox", checked: chosen.has(key), value: key });
      box.addEventListener("change", () => {
        if (box.checked) chosen.add(key);
        else chosen.delete(key);
        draw();
      });
      return el("label", {}, box, " ", key);
    }),
  );
  function draw() {
    clear(grid);
    for (const key of keys.filter((k) => chosen.has(k))) {
      const box = el("div", { class: "chart", "data-metric": key });
      grid.append(box);
      const width = box.clientWidth;
      fetchSeries(run.info.name, key, width).then((series) => {
        lineChart(box, {
          title: series.downsampled ? `${key} (${series.count} points, downsampled)` : key,
          lines: [{ label: key, steps: series.steps, values: series.values }],
          reload: async (min, max) => {
            const fresh = await fetchSeries(run.info.name, key, width, min === null ? null : [min, max]);
            return [{ label: key, steps: fresh.steps, values: fresh.values }];
          },
        });
      }).catch((error) => box.append(el("div", { class: "error", text: error.message })));
    }
  }
  const summary = table(
    ["metric", "last", "step", "min", "max", "points"],
    run.metrics.map((m) =>
      el(
        "tr",
        {},
        el("td", { class: "key", text: m.key }),
        el("td", { class: "num", text: formatNumber(m.last_value) }),
        el("td", { class: "num", text: m.last_step }),
        el("td", { class: "num", text: formatNumber(m.min) }),
        el("td", { class: "num", text: formatNumber(m.max) }),
        el("td", { class: "num", text: m.count }),
      ),
    ),
  );
  const card = section("Metrics", keys.length ? picker : el("p", { class: "muted", text: "no metrics logged" }), grid, keys.length ? summary : null);
  return { card, draw };
}

async function render(main) {
  const name = new URLSearchParams(window.location.search).get("name");
  if (!name) throw new Error("no run named: open a run from the runs table");
  const run = await api(`/runs/${pathPart(name)}`);
  const info = run.info;
  document.title = `${info.name} · ModelSync`;
  const charts = chartsSection(run);
  const facts = [
    ["status", info.status],
    ["started", formatTime(info.start_time)],
    ["ended", formatTime(info.end_time)],
    ["duration", formatDuration(info.duration)],
    ["parent", info.parent],
    ["tags", (info.tags || []).join(", ")],
    ["entrypoint", info.entrypoint],
    ["host", info.hostname],
    ["head", info.head],
  ].filter(([, v]) => v);
  fill(main, 
    el("h1", {}, info.name, badge(info.status)),
    info.error ? el("details", { class: "error" }, el("summary", { text: "failed: traceback" }), el("pre", { text: info.error })) : null,
    charts.card,
    el(
      "div",
      { class: "columns" },
      section("Run", keyValueTable(facts)),
      section("Params", keyValueTable(Object.entries(run.params), { emptyText: "no params" })),
    ),
    el("div", { class: "columns" }, codeSection(run.environment), datasetsSection(run.datasets)),
    commitsSection(run.commits, run.labels),
    environmentSection(run.environment),
  );
  charts.draw();
}

boot(render);
