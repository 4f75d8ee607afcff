// One commit: its files with download links, its checkpoint's tensors, and what changed against
// its parent (files, params, metrics, and tensor by tensor).
import {
  api, boot, fill, commitLink, el, formatBytes, formatNumber, formatTime, formatValue, keyValueTable,
  pathPart, query, runLink, section, table,
} from "./common.js";

function fileRow(commitId, file) {
  const download =
    file.kind === "checkpoint"
      ? el(
          "span",
          {},
          el("a", { href: "/checkpoints/download" + query({ rev: commitId, format: "safetensors" }) }, ".safetensors"),
          " · ",
          el("a", { href: "/checkpoints/download" + query({ rev: commitId, format: "ckpt" }) }, ".ckpt"),
        )
      : el("a", { href: `/files/${pathPart(file.path)}` + query({ rev: commitId }) }, "download");
  return el(
    "tr",
    {},
    el("td", { class: "key", text: file.path }),
    el("td", { text: file.kind }),
    el("td", { class: "num", text: formatBytes(file.size) }),
    el("td", {}, download),
  );
}

function changesTable(changes) {
  if (!changes.length) return el("p", { class: "muted", text: "no file changes" });
  return table(
    ["path", "change", "before", "after"],
    changes.map((c) =>
      el(
        "tr",
        { class: c.status },
        el("td", { class: "key", text: c.path }),
        el("td", { text: c.status }),
        el("td", { class: "num", text: c.old ? formatBytes(c.old.size) : "" }),
        el("td", { class: "num", text: c.new ? formatBytes(c.new.size) : "" }),
      ),
    ),
  );
}

function valueChanges(title, changes) {
  return el(
    "div",
    {},
    el("h2", { text: title }),
    changes.length
      ? table(
          ["key", "change", "parent", "this commit"],
          changes.map((c) =>
            el(
              "tr",
              { class: c.change === "changed" ? "modified" : c.change },
              el("td", { class: "key", text: c.key }),
              el("td", { text: c.change }),
              el("td", { text: formatValue(c.old) }),
              el("td", { text: formatValue(c.new) }),
            ),
          ),
        )
      : el("p", { class: "muted", text: "no changes" }),
  );
}

function metricDeltas(deltas) {
  const moved = deltas.filter((d) => d.delta !== 0);
  return el(
    "div",
    {},
    el("h2", { text: "Metrics" }),
    moved.length
      ? table(
          ["metric", "parent", "this commit", "change", ""],
          moved.map((d) =>
            el(
              "tr",
              { class: d.improved === false ? "deleted" : d.improved ? "added" : null },
              el("td", { class: "key", text: d.key }),
              el("td", { class: "num", text: formatNumber(d.old) }),
              el("td", { class: "num", text: formatNumber(d.new) }),
              el("td", { class: "num", text: d.relative === null ? formatNumber(d.delta) : `${formatNumber(d.delta)} (${(d.relative * 100).toFixed(1)}%)` }),
              el("td", { text: d.improved === null ? "" : d.improved ? "better" : "worse" }),
            ),
          ),
        )
      : el("p", { class: "muted", text: "no metric moved" }),
  );
}

function tensorsSection(listing) {
  const pickled = listing.pickled.length
    ? el("p", { class: "muted", text: `${listing.pickled.length} value(s) stored pickled, never loaded by the server: ${listing.pickled.map((p) => `${p.path} (${p.type})`).join(", ")}` })
    : null;
  return section(
    `Checkpoint tensors (${listing.tensors.length}, ${formatBytes(listing.total_bytes)})`,
    pickled,
    table(
      ["name", "dtype", "shape", "size"],
      listing.tensors.map((t) =>
        el("tr", {}, el("td", { class: "key", text: t.name }), el("td", { text: t.dtype }), el("td", { text: `[${t.shape.join(", ")}]` }), el("td", { class: "num", text: formatBytes(t.nbytes) })),
      ),
      { className: "grid", id: "tensors" },
    ),
  );
}

function tensorDiffTable(diff) {
  const rows = diff.tensors.filter((t) => t.status !== "unchanged");
  const unchanged = diff.tensors.length - rows.length;
  const summary = el("p", { class: "muted", text: `${rows.length} changed, added or removed; ${unchanged} unchanged` });
  if (!rows.length) return summary;
  return el(
    "div",
    {},
    summary,
    table(
      ["tensor", "change", "shape", "L2 of Δ", "relative", "max |Δ|", "note"],
      rows.map((t) => {
        const tensor = t.new || t.old;
        return el(
          "tr",
          { class: t.status === "changed" ? "modified" : t.status },
          el("td", { class: "key", text: t.name }),
          el("td", { text: t.status }),
          el("td", { text: `[${tensor.shape.join(", ")}]` }),
          el("td", { class: "num", text: formatNumber(t.l2) }),
          el("td", { class: "num", text: formatNumber(t.relative) }),
          el("td", { class: "num", text: formatNumber(t.max_abs) }),
          el("td", { class: "muted", text: t.note }),
        );
      }),
      { className: "grid", id: "tensor-diff" },
    ),
  );
}

async function render(main) {
  const rev = new URLSearchParams(window.location.search).get("rev");
  if (!rev) throw new Error("no commit named: open one from a run's timeline");
  const commit = await api(`/show/${pathPart(rev)}`);
  document.title = `${commit.id.slice(0, 12)} · ModelSync`;
  const parent = commit.parents[0];
  const checkpoints = commit.files.filter((f) => f.kind === "checkpoint");
  const facts = [
    ["id", commit.id],
    ["run", commit.run ? runLink(commit.run) : null],
    ["author", `${commit.author.name} <${commit.author.email}>`],
    ["time", formatTime(commit.time)],
    ["step", commit.step],
    ["epoch", commit.epoch],
    ["parents", commit.parents.length ? el("span", {}, commit.parents.map((p) => commitLink(p))) : "none"],
  ].filter(([, v]) => v !== null && v !== undefined);
  const diffBox = section("Changes against the parent", parent ? el("p", { class: "muted", text: "Loading…" }) : el("p", { class: "muted", text: "first commit: no parent" }));
  const tensorsBox = el("div", {});
  fill(main, 
    el("h1", { text: commit.message.split("\n")[0] || commit.id.slice(0, 12) }),
    el("div", { class: "columns" }, section("Commit", keyValueTable(facts.map(([k, v]) => [k, v]))), section("Metrics at this commit", keyValueTable(Object.entries((commit.meta && commit.meta.metrics) || {}), { emptyText: "none" }))),
    section(`Files (${commit.files.length})`, table(["path", "kind", "size", "download"], commit.files.map((f) => fileRow(commit.id, f)), { className: "grid", id: "files" })),
    tensorsBox,
    diffBox,
  );
  if (checkpoints.length) {
    api("/checkpoints/tensors", { rev: commit.id })
      .then((listing) => tensorsBox.append(tensorsSection(listing)))
      .catch((error) => tensorsBox.append(el("div", { class: "error", text: error.message })));
  }
  if (parent) {
    const diff = await api("/diff", { a: parent, b: commit.id });
    const run = diff.run;
    const body = [
      el("h2", { text: "Files" }),
      changesTable(commit.changes),
      run ? valueChanges("Params", run.params) : null,
      run ? metricDeltas(run.metrics) : null,
      run && run.packages.length ? valueChanges("Packages", run.packages) : null,
    ];
    fill(diffBox, el("h2", { text: "Changes against the parent " }, commitLink(parent)), ...body);
    if (checkpoints.length) {
      api("/checkpoints/diff", { a: parent, b: commit.id })
        .then((tdiff) => diffBox.append(el("h2", { text: "Tensors" }), tensorDiffTable(tdiff)))
        .catch((error) => {
          if (error.code !== "no_checkpoint") diffBox.append(el("div", { class: "error", text: error.message }));
        });
    }
  }
}

boot(render);
