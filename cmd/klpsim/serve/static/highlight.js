// The scenario highlighter: one pass per line, no parser. The script
// (before the first "-- NAME --" marker) gets commands, keywords,
// strings, $VARS and numbers; sections get comments, directives and
// labels (assembly) or nothing (text). Errors come from the real parser,
// over the API; this only colours.
"use strict";

const Highlight = (() => {
  const keywords = new Set(["machine", "module", "patch", "object", "func", "include", "program", "param",
    "start_test", "check_result", "assert", "not", "if", "else", "end", "loop_until", "run", "wait", "read"]);

  function esc(s) {
    return s.replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  }

  function span(cls, text) {
    return text === "" ? "" : `<span class="${cls}">${esc(text)}</span>`;
  }

  // words colours a script line after its first word.
  function words(rest) {
    let out = "";
    const re = /("(?:[^"\\]|\\.)*"?|'[^']*'?|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\b\d+(?:\.\d+)?(?:ns|us|ms|s)?\b|#.*$)/g;
    let last = 0, m;
    while ((m = re.exec(rest)) !== null) {
      out += esc(rest.slice(last, m.index));
      const t = m[0];
      let cls = "t-num";
      if (t[0] === '"' || t[0] === "'") cls = "t-str";
      else if (t[0] === "$") cls = "t-var";
      else if (t[0] === "#") cls = "t-com";
      out += span(cls, t);
      last = m.index + t.length;
      if (t.length === 0) re.lastIndex++;
    }
    return out + esc(rest.slice(last));
  }

  function scriptLine(l) {
    const m = /^(\s*)(\S+)(.*)$/.exec(l);
    if (!m) return esc(l);
    if (m[2][0] === "#") return esc(m[1]) + span("t-com", m[2] + m[3]);
    const cls = keywords.has(m[2]) ? "t-kw" : "t-cmd";
    return esc(m[1]) + span(cls, m[2]) + words(m[3]);
  }

  function asmLine(l) {
    const c = l.indexOf("#");
    let code = c >= 0 ? l.slice(0, c) : l;
    const com = c >= 0 ? l.slice(c) : "";
    const m = /^(\s*)([.\w$]+:)?(\s*)(\.[A-Za-z_]\w*)?(.*)$/.exec(code);
    let out = m ? esc(m[1]) + span("t-lbl", m[2] || "") + esc(m[3]) + span("t-dir", m[4] || "") + esc(m[5]) : esc(code);
    return out + span("t-com", com);
  }

  // lines returns one HTML string per line of text.
  function lines(text) {
    const out = [];
    let section = null;
    for (const l of text.split("\n")) {
      const sec = /^-- (.+) --\s*$/.exec(l);
      if (sec) {
        section = sec[1].trim();
        out.push(span("t-sec", l));
        continue;
      }
      if (section === null) out.push(scriptLine(l));
      else if (/\.(S|s|inc)$/.test(section)) out.push(asmLine(l));
      else out.push(esc(l));
    }
    return out;
  }

  return { lines, esc };
})();
