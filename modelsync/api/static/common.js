// Shared by every page: authentication, API calls, DOM helpers, formatting and charts.
// Data is only ever put into the page with textContent (never innerHTML), so nothing stored in a
// repository can run as script here.

/* global uPlot */

export const PALETTE = [
  "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
  "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
];

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The server prints the UI address with `#token=...`: trade that token for a read-only session
// cookie once, then drop it from the address bar and history.
async function adoptTokenFromFragment() {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  history.replaceState(null, "", window.location.pathname + window.location.search);
  await startSession(decodeURIComponent(match[1]));
}

export async function startSession(token) {
  const response = await fetch("/auth/session", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
    credentials: "same-origin",
  });
  if (!response.ok) throw await errorOf(response);
}

async function errorOf(response) {
  let code = "http_error";
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    code = body.code || code;
    message = body.message || message;
  } catch (_) {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, code, message);
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
    else search.append(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export async function api(path, params = {}) {
  const response = await fetch(path + query(params), { credentials: "same-origin" });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

// ------------------------------------------------------------------------- DOM
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// Replace a node's children; null, undefined and false children are left out.
export function fill(node, ...children) {
  clear(node).append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function pageLink(page, params, text) {
  return el("a", { href: page + query(params) }, text);
}

export const runLink = (name) => pageLink("/ui/run", { name }, name);
export const pathPart = (text) => encodeURIComponent(text).replace(/%2F/g, "/");
export const commitLink = (id, text) => pageLink("/ui/commit", { rev: id }, text || id.slice(0, 12));

export function badge(status) {
  return el("span", { class: `badge badge-${status || "unknown"}`, text: status || "unknown" });
}

export function table(headers, rows, { className = "grid", id } = {}) {
  return el(
    "table",
    { class: className, id },
    el("thead", {}, el("tr", {}, headers.map((h) => (h instanceof Node ? el("th", {}, h) : el("th", { text: h }))))),
    el("tbody", {}, rows),
  );
}

export function keyValueTable(entries, { emptyText = "none" } = {}) {
  if (!entries.length) return el("p", { class: "muted", text: emptyText });
  return table(
    ["key", "value"],
    entries.map(([k, v]) => el("tr", {}, el("td", { class: "key", text: k }), el("td", {}, v instanceof Node ? v : formatValue(v)))),
    { className: "grid kv" },
  );
}

export function section(title, ...children) {
  return el("section", { class: "card" }, el("h2", { text: title }), ...children);
}

export function showError(where, error) {
  const box = el("div", { class: "error", role: "alert" }, `${error.code ? error.code + ": " : ""}${error.message}`);
  clear(where).append(box);
  if (error.status === 401 || error.status === 403) where.append(tokenForm());
}

function tokenForm() {
  const input = el("input", { type: "password", placeholder: "token printed by modelsync serve", size: 48 });
  const form = el(
    "form",
    { class: "token-form" },
    el("label", {}, "Token: ", input),
    el("button", { type: "submit", text: "Sign in" }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await startSession(input.value.trim());
      window.location.reload();
    } catch (error) {
      form.replaceWith(el("div", { class: "error", text: error.message }), tokenForm());
    }
  });
  return form;
}

// ------------------------------------------------------------------ formatting
export function formatNumber(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value; // "NaN", "Infinity"
  if (Number.isInteger(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) {
    return value.toExponential(4).replace(/\.?0+e/, "e");
  }
  return String(Number(value.toPrecision(6)));
}

export function formatValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function formatTime(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19);
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

export function formatBytes(size) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

// ---------------------------------------------------------------------- charts
// A metric series as the API sends it: {steps: [...], values: [...]} (null where not finite).
export function seriesPoints(width) {
  return Math.max(200, Math.min(4000, Math.round(width * 2)));
}

// `range` is [firstStep, lastStep] to fetch only the zoomed-in part, in more detail.
export async function fetchSeries(run, key, width, range) {
  const [stepMin, stepMax] = range || [null, null];
  return api("/metrics", { run, key, points: seriesPoints(width), step_min: stepMin, step_max: stepMax });
}

const chartSync = uPlot.sync("modelsync");
// Short series (a single score, a few epochs) show their points, or nothing would be drawn.
const SHOW_POINTS_BELOW = 50;

// One interactive chart: drag to zoom (with `reload`, the visible range is fetched again so a
// downsampled series shows its full detail), double-click to zoom out, hover for the values.
export function lineChart(container, { title, lines, reload }) {
  const width = Math.max(320, container.clientWidth || 600);
  const joined = (fresh) => uPlot.join(fresh.map((line) => [line.steps, line.values]));
  let ticket = 0;
  const options = {
    title,
    width,
    height: 260,
    cursor: { sync: { key: chartSync.key }, drag: { x: true, y: false, setScale: !reload } },
    scales: { x: { time: false } },
    axes: [{ label: "step" }, { size: 70 }],
    series: [
      { label: "step" },
      ...lines.map((line, i) => ({
        label: line.label,
        stroke: PALETTE[i % PALETTE.length],
        width: 1.5,
        spanGaps: true,
        points: { show: line.steps.length < SHOW_POINTS_BELOW },
        value: (_u, v) => formatNumber(v),
      })),
    ],
    hooks: {
      setSelect: [
        (u) => {
          if (!reload || u.select.width < 2) return;
          const min = u.posToVal(u.select.left, "x");
          const max = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          u.setScale("x", { min, max });
          const mine = ++ticket;
          reload(Math.floor(min), Math.ceil(max)).then((fresh) => {
            if (mine !== ticket || !fresh) return;
            u.setData(joined(fresh), false);
            u.setScale("x", { min, max });
          });
        },
      ],
    },
  };
  const chart = new uPlot(options, joined(lines), container);
  if (reload) {
    chart.over.addEventListener("dblclick", () => {
      const mine = ++ticket;
      reload(null, null).then((fresh) => {
        if (mine === ticket && fresh) chart.setData(joined(fresh), true);
      });
    });
  }
  return chart;
}

// ------------------------------------------------------------------------ boot
export async function boot(render) {
  const main = document.getElementById("main");
  try {
    await adoptTokenFromFragment();
    await render(main);
  } catch (error) {
    showError(main, error);
  }
}
