// The runs table: filter (`--where` expressions), sort by any column, status badges, the params
// that differ between the listed runs, and their latest metrics. Paged on the server, so it stays
// fast with any number of runs.
import {
  api, badge, boot, clear, el, fill, formatDuration, formatNumber, formatTime, formatValue, query,
  runLink, showError,
} from "./common.js";

const PAGE_SIZE = 50;
const STATUSES = ["", "running", "finished", "failed", "interrupted", "crashed"];

function readState() {
  const params = new URLSearchParams(window.location.search);
  return {
    where: params.get("where") || "",
    status: params.get("status") || "",
    sort: params.get("sort") || "-started",
    offset: Number(params.get("offset") || 0),
  };
}

function writeState(state) {
  const { where, status, sort, offset } = state;
  history.replaceState(null, "", "/" + query({ where, status, sort: sort === "-started" ? "" : sort, offset: offset || "" }));
}

function sortHeader(label, field, state, rerender) {
  const active = state.sort.replace(/^[-+]/, "") === field;
  const descending = state.sort.startsWith("-");
  const th = el("th", {
    class: `sortable${active ? (descending ? " sorted-desc" : " sorted-asc") : ""}`,
    title: `sort by ${field}`,
    text: label,
  });
  th.addEventListener("click", () => {
    state.sort = active && !descending ? `-${field}` : field;
    state.offset = 0;
    rerender();
  });
  return th;
}

function fieldFor(namespace, key) {
  return /^[A-Za-z_][A-Za-z0-9_.]*$/.test(key) ? `${namespace}.${key}` : `${namespace}[${JSON.stringify(key)}]`;
}

async function render(main) {
  const state = readState();
  const selected = new Set();
  const whereInput = el("input", { type: "text", value: state.where, placeholder: "filter, e.g. metrics.val_loss < 0.3 and params.lr >= 1e-3", "aria-label": "filter" });
  const statusSelect = el("select", { "aria-label": "status" }, STATUSES.map((s) => el("option", { value: s, text: s || "any status", selected: s === state.status })));
  const compareButton = el("button", { class: "primary", id: "compare", disabled: true, text: "Compare selected" });
  const tableBox = el("div", { class: "card", id: "runs-table" }, el("p", { class: "muted", text: "Loading…" }));
  const form = el("form", { class: "toolbar" }, whereInput, statusSelect, el("button", { type: "submit", text: "Apply" }), compareButton);

  fill(main, el("h1", { text: "Runs" }), form, tableBox);

  compareButton.addEventListener("click", () => {
    window.location.href = "/ui/compare" + query({ run: [...selected] });
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.where = whereInput.value.trim();
    state.status = statusSelect.value;
    state.offset = 0;
    load();
  });

  function updateCompare() {
    compareButton.disabled = selected.size < 2;
    compareButton.textContent = `Compare selected (${selected.size})`;
  }

  async function load() {
    writeState(state);
    let page;
    try {
      page = await api("/runs", { where: state.where, status: state.status, sort: state.sort, limit: PAGE_SIZE, offset: state.offset });
    } catch (error) {
      showError(tableBox, error);
      return;
    }
    draw(page);
  }

  function draw(page) {
    const params = page.differing_params;
    const metrics = page.metric_keys;
    const headers = [
      el("th", {}, ""),
      sortHeader("name", "name", state, load),
      sortHeader("status", "status", state, load),
      sortHeader("started", "started", state, load),
      sortHeader("duration", "duration", state, load),
      sortHeader("commits", "commits", state, load),
      ...params.map((key) => sortHeader(key, fieldFor("params", key), state, load)),
      ...metrics.map((key) => sortHeader(key, fieldFor("metrics", key), state, load)),
    ];
    const rows = page.runs.map((run) => {
      const box = el("input", { type: "checkbox", "aria-label": `select ${run.name}`, checked: selected.has(run.name) });
      box.addEventListener("change", () => {
        if (box.checked) selected.add(run.name);
        else selected.delete(run.name);
        updateCompare();
      });
      return el(
        "tr",
        { "data-run": run.name },
        el("td", {}, box),
        el("td", {}, runLink(run.name)),
        el("td", {}, badge(run.status)),
        el("td", { text: formatTime(run.start_time) }),
        el("td", { class: "num", text: formatDuration(run.duration) }),
        el("td", { class: "num", text: run.commits }),
        ...params.map((key) => el("td", { text: formatValue(run.params[key]) })),
        ...metrics.map((key) =>
          el("td", {
            class: "num",
            text: formatNumber(run.metrics[key]),
            title: key in run.best ? `best: ${formatNumber(run.best[key])}` : null,
          }),
        ),
      );
    });
    const first = page.total ? page.offset + 1 : 0;
    const last = page.offset + page.runs.length;
    const prev = el("button", { text: "← Previous", disabled: page.offset === 0 });
    const next = el("button", { text: "Next →", disabled: last >= page.total });
    prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); load(); });
    next.addEventListener("click", () => { state.offset += PAGE_SIZE; load(); });
    const headerRow = el("tr", {}, headers);
    clear(tableBox).append(
      page.runs.length
        ? el("table", { class: "grid", id: "runs" }, el("thead", {}, headerRow), el("tbody", {}, rows))
        : el("p", { class: "muted", text: "No runs match." }),
      el("div", { class: "pager" }, prev, next, el("span", { class: "muted", text: `${first}–${last} of ${page.total} runs` })),
    );
  }

  updateCompare();
  await load();
}

boot(render);
