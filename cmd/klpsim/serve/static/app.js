// The playground page: the editor with the parser's errors inline, Run
// with the event stream, the live timeline, the debugger's buttons and
// console. Everything talks to the server of this page (docs/playground.md).
"use strict";

const $ = id => document.getElementById(id);
const state = { session: null, mode: null, parseTimer: 0, parseSeq: 0, errors: [], tlBusy: false, tlDirty: false, selPID: 0 };

function banner(msg) {
  const b = $("banner");
  b.textContent = msg;
  b.hidden = !msg;
}

function status(msg) { $("status").textContent = msg; }

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(path, opts);
  const ct = r.headers.get("Content-Type") || "";
  const data = ct.startsWith("application/json") ? await r.json() : await r.text();
  return { ok: r.ok, status: r.status, data };
}

// ---- the editor ----

const src = $("src"), hl = $("hl"), gutter = $("gutter");

function render() {
  const text = src.value;
  const lines = Highlight.lines(text);
  const errs = new Map();
  for (const e of state.errors) {
    if (e.file && e.file !== $("name").value) continue;
    if (!errs.has(e.line)) errs.set(e.line, e);
  }
  const raw = text.split("\n");
  let html = "", gut = "";
  lines.forEach((l, i) => {
    const e = errs.get(i + 1);
    if (e) {
      // The column's character outlined, the message after the line.
      const t = raw[i], c = Math.max(0, Math.min(e.col - 1, t.length));
      const marked = Highlight.lines(t.slice(0, c)).join("") + `<span class="ecol">${Highlight.esc(t.slice(c, c + 1) || " ")}</span>` + Highlight.esc(t.slice(c + 1));
      html += `<div class="l err" data-line="${i + 1}">${marked}<span class="emsg">${Highlight.esc(e.line + ":" + e.col + ": " + e.msg)}</span></div>`;
      gut += `<div class="err">${i + 1}</div>`;
    } else if (i + 1 === state.curLine) {
      html += `<div class="l cur" data-line="${i + 1}" title="the debugger is stopped at this command">${l || " "}</div>`;
      gut += `<div class="cur">${i + 1}</div>`;
    } else {
      html += `<div class="l">${l || " "}</div>`;
      gut += `<div>${i + 1}</div>`;
    }
  });
  hl.innerHTML = html;
  gutter.innerHTML = gut;
  syncScroll();
}

function syncScroll() {
  hl.scrollTop = src.scrollTop;
  hl.scrollLeft = src.scrollLeft;
  gutter.scrollTop = src.scrollTop;
}

function showErrors(errors) {
  state.errors = errors;
  const ul = $("errors");
  ul.innerHTML = "";
  for (const e of errors) {
    const li = document.createElement("li");
    li.textContent = e.text;
    li.onclick = () => gotoLine(e.line, e.col);
    ul.appendChild(li);
  }
  const ps = $("parsestate");
  ps.textContent = errors.length ? `${errors.length} error${errors.length > 1 ? "s" : ""}` : "parses";
  ps.className = errors.length ? "bad" : "";
  render();
}

// scrollToLine brings a line into the editor's view, without moving
// the caret.
function scrollToLine(line) {
  const top = (line - 1) * 18, h = src.clientHeight;
  if (top < src.scrollTop || top > src.scrollTop + h - 36) {
    src.scrollTop = Math.max(0, top - h / 3);
    syncScroll();
  }
}

function gotoLine(line, col) {
  const lines = src.value.split("\n");
  let pos = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
  pos += Math.max(0, (col || 1) - 1);
  src.focus();
  src.setSelectionRange(pos, pos);
}

function scheduleParse() {
  clearTimeout(state.parseTimer);
  state.parseTimer = setTimeout(parseNow, 200);
}

async function parseNow() {
  const seq = ++state.parseSeq;
  const r = await api("POST", "/api/parse", { name: $("name").value, text: src.value });
  if (seq !== state.parseSeq) return; // an older answer
  if (!r.ok) {
    showErrors([{ line: 1, col: 1, msg: r.data.error || String(r.data), text: r.data.error || String(r.data) }]);
    return;
  }
  showErrors(r.data.errors || []);
}

src.addEventListener("input", () => { render(); scheduleParse(); });
src.addEventListener("scroll", syncScroll);
src.addEventListener("keydown", e => {
  if (e.key === "Tab" && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    document.execCommand("insertText", false, "\t");
  }
});
$("name").addEventListener("change", scheduleParse);

async function loadGallery() {
  const r = await api("GET", "/api/gallery");
  const sel = $("gallery");
  sel.innerHTML = `<option value="">— pick a scenario —</option>`;
  await Labs.addToGallery(sel);
  const groups = {};
  for (const e of r.data) {
    if (!groups[e.group]) {
      groups[e.group] = document.createElement("optgroup");
      groups[e.group].label = { teach: "Teaching scenarios", selftests: "Upstream selftests", dir: "DIR" }[e.group] || e.group;
      sel.appendChild(groups[e.group]);
    }
    const o = document.createElement("option");
    o.value = e.path;
    o.textContent = e.path.replace(/^(teach|selftests|dir)\//, "") + (e.title ? " — " + e.title : "");
    groups[e.group].appendChild(o);
  }
}

async function openFile(path) {
  const r = await api("GET", "/api/file?path=" + encodeURIComponent(path));
  if (!r.ok) { banner(r.data.error || String(r.data)); return; }
  Labs.close();
  $("name").value = path;
  src.value = r.data;
  src.scrollTop = 0;
  render();
  parseNow();
  history.replaceState(null, "", "#" + path);
}

$("gallery").addEventListener("change", e => {
  const v = e.target.value;
  if (v.startsWith("lab:")) Labs.open(v.slice(4));
  else if (v) openFile(v);
});

// ---- the session and its stream ----

async function startSession() {
  const r = await api("POST", "/api/sessions");
  if (!r.ok) {
    banner(r.data.error);
    for (const b of ["run", "debug", "cancel", "check"]) $(b).disabled = true;
    return;
  }
  state.session = r.data.id;
  const es = new EventSource(`/api/s/${state.session}/events`);
  es.addEventListener("start", e => {
    const d = JSON.parse(e.data);
    state.mode = d.mode;
    $("out").textContent = "";
    $("log").textContent = "";
    $("verdicts").innerHTML = "";
    $("notices").innerHTML = "";
    $("timeline").innerHTML = "";
    status(`${d.mode}: ${d.name}`);
  });
  es.addEventListener("log", e => appendTerm($("log"), e.data));
  es.addEventListener("logreset", e => { $("log").textContent = ""; appendTerm($("log"), e.data); });
  es.addEventListener("out", e => appendTerm($("out"), e.data));
  es.addEventListener("progress", e => {
    const d = JSON.parse(e.data);
    status(`running: ${(d.now_ns / 1e9).toFixed(3)} s simulated, ${d.insns} instructions`);
  });
  es.addEventListener("result", e => {
    const d = JSON.parse(e.data);
    const li = document.createElement("li");
    li.className = d.verdict === "ok" || d.verdict === "skip" ? "ok" : "bad";
    li.textContent = `TEST: ${d.test} ... ${d.verdict}${d.msg ? " (" + d.msg + ")" : ""}`;
    $("verdicts").appendChild(li);
  });
  es.addEventListener("timeline", () => refreshTimeline());
  es.addEventListener("notice", e => {
    const li = document.createElement("li");
    li.textContent = e.data;
    $("notices").appendChild(li);
  });
  es.addEventListener("end", e => {
    const d = JSON.parse(e.data);
    status(`${d.mode}: ${d.verdict}${d.error ? ": " + d.error : ""}${d.text ? ": " + d.text : ""}`);
    document.body.dataset.ended = d.verdict;
    if (d.mode === "run") refreshTimeline();
  });
  window.addEventListener("pagehide", () => {
    fetch(`/api/s/${state.session}`, { method: "DELETE", keepalive: true });
  });
}

// appendTerm adds text to a terminal pane, keeping it scrolled to the
// end if it was.
function appendTerm(pre, text) {
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent += text;
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

async function refreshTimeline() {
  if (state.tlBusy) { state.tlDirty = true; return; }
  state.tlBusy = true;
  try {
    do {
      state.tlDirty = false;
      const r = await fetch(`/api/s/${state.session}/timeline`);
      const html = await r.text();
      const tl = $("timeline");
      const legendOpen = tl.querySelector("details.legend")?.open ?? false;
      tl.innerHTML = html;
      const legend = tl.querySelector("details.legend");
      if (legend) legend.open = legendOpen;
      // Zoom, pan and grouping (the timeline's own script) once the
      // pictures stop changing: at the end of a run, at a debugger stop.
      if (state.mode !== "run" || document.body.dataset.ended) await bindTimeline();
      if (state.selPID) markLane(state.selPID);
    } while (state.tlDirty);
  } finally {
    state.tlBusy = false;
  }
}

// bindTimeline runs the timeline package's script over the pictures now
// in the page.
async function bindTimeline() {
  if (state.tlScript === undefined) state.tlScript = await (await fetch("/timeline.js")).text();
  const el = document.createElement("script");
  el.textContent = state.tlScript;
  document.body.appendChild(el);
  el.remove();
}

function markLane(pid) {
  for (const g of $("timeline").querySelectorAll("g.lane")) g.classList.toggle("sel", g.dataset.pid === String(pid));
}

$("timeline").addEventListener("click", e => {
  const g = e.target.closest("g.lane");
  if (!g) return;
  const pid = Number(g.dataset.pid);
  state.selPID = pid;
  markLane(pid);
  showTask(pid);
});

async function showTask(pid) {
  if (state.mode === "debug" && !document.body.dataset.ended) {
    const a = await command(`backtrace ${pid}`, { quiet: false });
    if (a && a.data) renderBacktrace(a.data);
    return;
  }
  const r = await api("GET", `/api/s/${state.session}/stack?pid=${pid}`);
  const box = $("task");
  if (!r.ok) { box.textContent = r.data.error; return; }
  renderBacktrace(r.data);
  selectTab("dbg");
}

function renderBacktrace(bi) {
  const box = $("task");
  box.innerHTML = "";
  const head = document.createElement("div");
  head.className = "bthead";
  head.textContent = `Stack of ${bi.comm} (pid ${bi.pid}): ` + (bi.reliable ? "reliable" : "UNRELIABLE: " + (bi.unreliable || "")) + (bi.when ? ` — ${bi.when}` : "");
  box.appendChild(head);
  for (const f of bi.frames || []) {
    const d = document.createElement("div");
    d.className = "frame";
    d.textContent = `#${f.n} ${f.symbol}`;
    const sym = f.symbol.split("+")[0];
    d.title = `disassemble ${sym}`;
    d.onclick = () => disassemble(sym);
    box.appendChild(d);
  }
  selectTab("dbg");
}

async function disassemble(sym) {
  if (state.mode !== "debug") { $("disas").textContent = "Disassembly needs a debugged machine: press Debug."; return; }
  const a = await command(`disassemble ${sym}`);
  if (a && !a.error) renderDisas(a.text);
}

// renderDisas shows a disassembly with its fentry site highlighted (the
// address the "fentry site" line names) and the current instruction.
function renderDisas(text) {
  const m = /fentry site (0x[0-9a-f]+)/.exec(text);
  const site = m ? m[1] : null;
  const pre = $("disas");
  pre.innerHTML = "";
  for (const l of text.split("\n")) {
    const d = document.createElement("div");
    d.textContent = l;
    const a = /^(?:=> |   )(0x[0-9a-f]+)/.exec(l);
    if (site && a && a[1] === site) { d.className = "fentry"; d.title = "the fentry site"; }
    if (l.startsWith("=> ")) d.classList.add("cur");
    pre.appendChild(d);
  }
}

// ---- run, debug, cancel ----

function source() { return { name: $("name").value, text: src.value }; }

function mustParse(r) {
  if (r.status === 422 && r.data.errors) { showErrors(r.data.errors); banner("The scenario does not parse: see the errors under the editor."); return false; }
  if (!r.ok) { banner(r.data.error || String(r.data)); return false; }
  banner("");
  return true;
}

$("run").onclick = async () => {
  delete document.body.dataset.ended;
  state.curLine = 0;
  render();
  const r = await api("POST", `/api/s/${state.session}/run`, source());
  if (mustParse(r)) selectTab("out");
};

$("debug").onclick = async () => {
  delete document.body.dataset.ended;
  $("console").textContent = "";
  $("disas").textContent = "";
  $("task").textContent = "";
  const r = await api("POST", `/api/s/${state.session}/debug`, source());
  if (!mustParse(r)) return;
  state.mode = "debug";
  showAnswer("", r.data);
  selectTab("dbg");
  command("info tasks", { quiet: true });
};

$("check").onclick = () => Labs.check();

$("cancel").onclick = () => api("POST", `/api/s/${state.session}/cancel`);

// command runs a debugger command and shows its answer in the console.
async function command(line, opt = {}) {
  setBusy(+1);
  let r;
  try {
    r = await api("POST", `/api/s/${state.session}/cmd`, { line });
  } finally {
    setBusy(-1);
  }
  if (!r.ok) { appendTerm($("console"), `(klpsim) ${line}\n${r.data.error}\n`); return null; }
  const a = r.data;
  if (!opt.quiet) showAnswer(line, a);
  if (a.data && Array.isArray(a.data) && a.data.length && a.data[0].patch_state_name !== undefined) renderTasks(a.data);
  else if (!a.ended && line !== "info tasks" && state.mode === "debug") refreshTasks();
  return a;
}

// setBusy disables the stepping buttons while a command runs (the
// server would answer "busy" anyway).
function setBusy(d) {
  state.busy = (state.busy || 0) + d;
  for (const b of document.querySelectorAll("[data-cmd]")) b.disabled = state.busy > 0;
  document.body.dataset.busy = state.busy > 0 ? "1" : "";
}

async function refreshTasks() {
  const r = await api("POST", `/api/s/${state.session}/cmd`, { line: "info tasks" });
  if (r.ok && Array.isArray(r.data.data)) renderTasks(r.data.data);
}

function showAnswer(line, a) {
  let t = line ? `(klpsim) ${line}\n` : "";
  t += a.text || "";
  if (a.error) t += a.error + "\n";
  appendTerm($("console"), t);
  $("where").textContent = a.ended ? "The scenario is over." : `line ${a.line} · ${a.insns} instructions · ${(a.now_ns / 1e9).toFixed(6)} s simulated`;
  const cur = a.ended ? 0 : a.line;
  if (cur !== state.curLine) {
    state.curLine = cur;
    render();
    if (cur) scrollToLine(cur);
  }
  if (/^(disassemble|disas)\b/.test(line) && !a.error) renderDisas(a.text);
}

function renderTasks(rows) {
  const t = $("tasks");
  t.innerHTML = "<tr><th>PID</th><th>COMM</th><th>CPU</th><th>STATE</th><th>PATCH</th><th>WHERE</th></tr>";
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.className = "task" + (r.pid === state.selPID ? " sel" : "");
    tr.dataset.pid = r.pid;
    const where = r.on_cpu ? `on CPU ${r.cpu}` : (r.where || []).join(" <- ");
    for (const v of [r.pid, r.comm, r.cpu, r.state, `${r.patch_state} ${r.patch_state_name}${r.tif_patch_pending ? " PENDING" : ""}`, where]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    tr.onclick = () => { state.selPID = r.pid; markLane(r.pid); showTask(r.pid); };
    t.appendChild(tr);
  }
}

for (const b of document.querySelectorAll("[data-cmd]")) {
  b.onclick = () => command(b.dataset.cmd);
}

// The console keeps its history, as the terminal debugger does: up and
// down walk it; an empty line repeats the last stepping command there too.
const hist = { lines: [], at: 0 };
$("cmdform").addEventListener("submit", e => {
  e.preventDefault();
  const line = $("cmd").value;
  $("cmd").value = "";
  if (line.trim() && hist.lines[hist.lines.length - 1] !== line) hist.lines.push(line);
  hist.at = hist.lines.length;
  command(line);
});
$("cmd").addEventListener("keydown", e => {
  if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
  e.preventDefault();
  hist.at = Math.max(0, Math.min(hist.lines.length, hist.at + (e.key === "ArrowUp" ? -1 : 1)));
  $("cmd").value = hist.lines[hist.at] || "";
});
// Ctrl+Enter runs the scenario from the editor.
src.addEventListener("keydown", e => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    $("run").click();
  }
});

function selectTab(name) {
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("on", b.dataset.tab === name);
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("on", t.id === "tab-" + name);
  document.body.classList.toggle("wide", name === "timeline");
}
for (const b of document.querySelectorAll(".tabs button")) b.onclick = () => selectTab(b.dataset.tab);

// ---- start ----

(async () => {
  render();
  await Promise.all([startSession(), loadGallery()]);
  const want = decodeURIComponent(location.hash.slice(1));
  if (want.startsWith("lab:")) Labs.open(want.slice(4));
  else if (want) openFile(want);
  else { src.value = "# A scenario: pick one above, or write your own (docs/scenarios.md).\nmachine cpus=2\n\nstart_test \"hello\"\nlog \"hello from the guest\"\n"; render(); parseNow(); }
  document.body.dataset.ready = "1";
})();
