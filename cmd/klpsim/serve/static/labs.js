// The labs view (docs/playground.md "Labs"): a built-in lab opened from
// the gallery puts its starting file in the editor and its handout in the
// Lab tab; Check runs the editor's text as klpsim lab check does and
// shows each question's verdict. Loaded before app.js, whose helpers it
// calls.
"use strict";

const Labs = (() => {
  let labs = [], current = null;

  async function addToGallery(sel) {
    const r = await api("GET", "/api/labs");
    if (!r.ok) return;
    labs = r.data;
    const g = document.createElement("optgroup");
    g.label = "Labs";
    for (const l of labs) {
      const o = document.createElement("option");
      o.value = "lab:" + l.name;
      o.textContent = `${l.name} — ${l.title}`;
      g.appendChild(o);
    }
    sel.insertBefore(g, sel.children[1] || null);
  }

  function open(name) {
    const l = labs.find(x => x.name === name);
    if (!l) { banner(`no such lab: ${name}`); return; }
    current = l;
    $("gallery").value = "lab:" + name;
    $("name").value = l.path;
    src.value = l.text;
    src.scrollTop = 0;
    render();
    parseNow();
    history.replaceState(null, "", "#lab:" + name);
    $("labtitle").textContent = `Lab ${l.name}: ${l.title}`;
    $("handout").innerHTML = markdown(l.handout);
    $("labcheck").innerHTML = `<p class="hint">${l.questions} questions. Edit the file, then Check: the machine runs it and answers them.</p>`;
    $("check").hidden = false;
    $("labtab").hidden = false;
    selectTab("lab");
  }

  function close() {
    current = null;
    $("check").hidden = true;
    $("labtab").hidden = true;
    if ($("tab-lab").classList.contains("on")) selectTab("out");
  }

  async function check() {
    if (!current) return;
    const box = $("labcheck");
    box.innerHTML = `<p class="hint">checking…</p>`;
    status(`check ${current.name}: running`);
    selectTab("lab");
    $("check").disabled = true;
    let r;
    try {
      r = await api("POST", `/api/s/${state.session}/check`, { lab: current.name, name: $("name").value, text: src.value });
    } finally {
      $("check").disabled = false;
    }
    if (!mustParse(r)) { box.innerHTML = ""; return; }
    const rep = r.data;
    let html = `<p class="score ${rep.passed === rep.total ? "ok" : "bad"}">${rep.passed} of ${rep.total} questions pass</p>`;
    if (rep.run_failed) html += `<p class="note">The scenario failed (${Highlight.esc(rep.run_failed)}); the questions are judged on the events up to there.</p>`;
    html += `<ol class="questions">`;
    for (const q of rep.questions) {
      html += `<li class="${q.pass ? "pass" : "fail"}"><span class="v">${q.pass ? "PASS" : "FAIL"}</span> ${q.n}. ${Highlight.esc(q.text)}`;
      if (!q.pass) {
        if (q.hint) html += `<div class="qhint">hint: ${Highlight.esc(q.hint)}</div>`;
        html += `<div class="qfailed">failed: <code>${Highlight.esc(q.failed)}</code>: ${Highlight.esc(q.why || "")}</div>`;
        if (q.nearest) html += `<div class="qnear">nearest event: <code>${Highlight.esc(q.nearest)}</code></div>`;
      }
      html += `</li>`;
    }
    box.innerHTML = html + `</ol>`;
    status(`check ${rep.lab}: ${rep.passed} of ${rep.total} questions pass`);
    document.body.dataset.checked = `${rep.passed}/${rep.total}`;
  }

  // markdown renders the handouts' markdown: headings, paragraphs,
  // lists, indented code, `code`, **bold** and *emphasis*.
  function markdown(md) {
    const inline = t => Highlight.esc(t)
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
      .replace(/\*([^*\s][^*]*)\*/g, "<em>$1</em>");
    const out = [];
    let para = [], list = null, item = null, code = null;
    const flushPara = () => { if (para.length) out.push(`<p>${inline(para.join(" "))}</p>`); para = []; };
    const flushList = () => {
      if (item !== null) list.items.push(item);
      if (list) out.push(`<${list.tag}>` + list.items.map(i => `<li>${inline(i)}</li>`).join("") + `</${list.tag}>`);
      list = null; item = null;
    };
    const flushCode = () => { if (code) out.push(`<pre>${Highlight.esc(code.join("\n").replace(/\n+$/, ""))}</pre>`); code = null; };
    for (const l of md.split("\n")) {
      if (code && (l.startsWith("    ") || l === "")) { code.push(l.slice(4)); continue; }
      flushCode();
      let m;
      if ((m = /^(#{2,4}) (.*)/.exec(l))) { flushPara(); flushList(); out.push(`<h${m[1].length + 1}>${inline(m[2])}</h${m[1].length + 1}>`); continue; }
      if ((m = /^(?:(\d+)\.|[-*]) (.*)/.exec(l))) {
        flushPara();
        const tag = m[1] ? "ol" : "ul";
        if (list && list.tag !== tag) flushList();
        if (!list) list = { tag, items: [] };
        if (item !== null) list.items.push(item);
        item = m[2];
        continue;
      }
      if (list && /^\s+\S/.test(l)) { item += " " + l.trim(); continue; }
      if (l.startsWith("    ") && !para.length) { flushList(); code = [l.slice(4)]; continue; }
      if (l.trim() === "") { flushPara(); flushList(); continue; }
      flushList();
      para.push(l.trim());
    }
    flushCode(); flushPara(); flushList();
    return out.join("\n");
  }

  return { addToGallery, open, close, check, markdown };
})();
