// klpsim timeline: zoom, pan and lane grouping for each picture. Every
// element placed in time carries data-t (and data-u for spans) in
// simulated ns; drawing maps the view [v0, v1] onto the plot.
(function () {
  for (const svg of document.querySelectorAll('svg.tl')) {
    const start = +svg.dataset.start, end = +svg.dataset.end;
    const L = +svg.dataset.l, W = +svg.dataset.w;
    let v0 = start, v1 = end;
    const X = t => L + (t - v0) / (v1 - v0) * W;
    const items = svg.querySelectorAll('[data-t]');
    const step = svg.querySelector('polyline.step');
    const axis = svg.querySelector('g.axis');
    const section = svg.closest('section');
    const view = section.querySelector('.view');
    const fmt = ns => (ns / 1e9).toFixed(ns < 1e9 ? 6 : 3) + 's';
    function draw() {
      for (const e of items) {
        const t = +e.dataset.t;
        if (e.dataset.u !== undefined) {
          let a = X(t), b = X(+e.dataset.u);
          if (b < L || a > L + W) { e.setAttribute('width', 0); continue; }
          a = Math.max(a, L); b = Math.min(b, L + W);
          e.setAttribute('x', a.toFixed(1));
          e.setAttribute('width', Math.max(b - a, 0.5).toFixed(1));
        } else {
          const x = X(t);
          e.setAttribute('transform', 'translate(' + x.toFixed(1) + ',0)');
          e.style.display = (x < L - 0.5 || x > L + W + 0.5) ? 'none' : '';
        }
      }
      if (step && step.dataset.pts) {
        const max = +step.dataset.max, h = 40;
        const y = n => (h - 4 - n / max * (h - 8)).toFixed(1);
        const pts = step.dataset.pts.split(' ').map(p => p.split(',').map(Number));
        let out = [], prev = null;
        for (const [t, n] of pts) {
          if (X(t) > L + W) break;
          const x = Math.max(X(t), L).toFixed(1);
          if (prev !== null) out.push(x + ',' + y(prev));
          out.push(x + ',' + y(n));
          prev = n;
        }
        if (prev !== null) out.push((L + W) + ',' + y(prev));
        step.setAttribute('points', out.join(' '));
      }
      // Time axis: about ten ticks at round values.
      axis.textContent = '';
      const span = v1 - v0, raw = span / 10, p = Math.pow(10, Math.floor(Math.log10(raw)));
      const tick = [1, 2, 5, 10].map(m => m * p).find(m => m >= raw);
      const h = svg.getAttribute('height');
      for (let t = Math.ceil(v0 / tick) * tick; t <= v1; t += tick) {
        const x = X(t).toFixed(1);
        const ln = document.createElementNS('http://www.w3.org/2000/svg', 'line');
        ln.setAttribute('x1', x); ln.setAttribute('x2', x); ln.setAttribute('y1', 0); ln.setAttribute('y2', h);
        const tx = document.createElementNS('http://www.w3.org/2000/svg', 'text');
        tx.setAttribute('x', x); tx.setAttribute('y', h - 6); tx.textContent = fmt(t);
        axis.append(ln, tx);
      }
      if (view) view.textContent = 'view ' + fmt(v0) + ' to ' + fmt(v1);
      svg.dataset.v0 = v0; svg.dataset.v1 = v1;
    }
    function zoom(f, at) {
      const c = at === undefined ? (v0 + v1) / 2 : at;
      let n0 = c - (c - v0) * f, n1 = c + (v1 - c) * f;
      if (n1 - n0 < 10) return;
      v0 = Math.max(start, n0); v1 = Math.min(end, n1);
      if (v1 <= v0) { v0 = start; v1 = end; }
      draw();
    }
    const tAt = ev => { const r = svg.getBoundingClientRect(); return v0 + (ev.clientX - r.left - L) / W * (v1 - v0); };
    svg.addEventListener('wheel', ev => { ev.preventDefault(); zoom(ev.deltaY < 0 ? 0.8 : 1.25, tAt(ev)); });
    let drag = null;
    svg.addEventListener('mousedown', ev => { drag = { x: ev.clientX, v0, v1 }; });
    window.addEventListener('mouseup', () => { drag = null; });
    window.addEventListener('mousemove', ev => {
      if (!drag) return;
      let d = -(ev.clientX - drag.x) / W * (drag.v1 - drag.v0);
      d = Math.max(start - drag.v0, Math.min(end - drag.v1, d));
      v0 = drag.v0 + d; v1 = drag.v1 + d; draw();
    });
    for (const b of section.querySelectorAll('button')) {
      b.addEventListener('click', () => {
        if (b.dataset.act === 'in') zoom(0.5);
        if (b.dataset.act === 'out') zoom(2);
        if (b.dataset.act === 'reset') { v0 = start; v1 = end; draw(); }
      });
    }
    for (const r of section.querySelectorAll('input[type=radio]')) {
      r.addEventListener('change', () => {
        const mode = r.value;
        for (const g of svg.querySelectorAll('g.lane')) g.setAttribute('transform', 'translate(0,' + g.dataset['y' + mode] + ')');
        svg.querySelector('g.grp-cpu').style.display = mode === 'cpu' ? '' : 'none';
        svg.querySelector('g.grp-proc').style.display = mode === 'proc' ? '' : 'none';
      });
    }
    // #FROM,TO (ns) opens a range.
    const m = /^#(\d+),(\d+)$/.exec(location.hash);
    if (m && +m[2] > +m[1]) { v0 = Math.max(start, +m[1]); v1 = Math.min(end, +m[2]); }
    draw();
  }
})();
