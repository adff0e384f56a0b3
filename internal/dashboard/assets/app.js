// The dashboard's script: keyboard shortcuts, tabs, the main graph (uPlot)
// and the realtime refresh. Every page reads fine without it.
(function () {
  'use strict';
  var doc = document;
  doc.documentElement.classList.add('js');

  // Shortcuts: any element with data-key="k" is followed when k is typed
  // outside a form field.
  doc.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var links = doc.querySelectorAll('[data-key]');
    for (var i = 0; i < links.length; i++) {
      if (links[i].getAttribute('data-key') === e.key) {
        e.preventDefault();
        location.href = links[i].href;
        return;
      }
    }
  });

  // The site switcher and the metric chooser act on change.
  var sw = doc.querySelector('[data-nav-select]');
  if (sw) sw.addEventListener('change', function () { location.href = '/sites/' + encodeURIComponent(sw.value); });
  Array.prototype.forEach.call(doc.querySelectorAll('[data-autosubmit]'), function (el) {
    el.addEventListener('change', function () { el.form.submit(); });
  });

  // Tabs (WAI-ARIA tabs pattern: arrows move, the selected tab is the one
  // in the tab order).
  Array.prototype.forEach.call(doc.querySelectorAll('[data-tabs]'), function (card) {
    var tabs = Array.prototype.slice.call(card.querySelectorAll('[role=tab]'));
    function select(tab, focus) {
      tabs.forEach(function (t) {
        var on = t === tab;
        t.setAttribute('aria-selected', on ? 'true' : 'false');
        t.tabIndex = on ? 0 : -1;
        doc.getElementById(t.getAttribute('aria-controls')).classList.toggle('active', on);
      });
      if (focus) tab.focus();
    }
    tabs.forEach(function (t, i) {
      t.addEventListener('click', function () { select(t, false); });
      t.addEventListener('keydown', function (e) {
        var j = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : -2;
        if (j === -2) return;
        e.preventDefault();
        select(tabs[(j + tabs.length) % tabs.length], true);
      });
    });
  });

  // The main graph: the table stays in the page (folded) for screen
  // readers and as the figures' source.
  var data = doc.getElementById('graph-data'), el = doc.getElementById('chart');
  if (data && el && window.uPlot) {
    var d = JSON.parse(data.textContent), plot = null;
    var draw = function () {
      var css = getComputedStyle(doc.documentElement);
      var v = function (n) { return css.getPropertyValue(n).trim(); };
      var xs = d.labels.map(function (_, i) { return i; });
      var main = d.values.slice(), inc = d.values.map(function () { return null; });
      if (d.incomplete >= 0) {
        if (d.incomplete > 0) inc[d.incomplete - 1] = main[d.incomplete - 1];
        inc[d.incomplete] = main[d.incomplete];
        main[d.incomplete] = null;
      }
      var series = [{}, { label: d.label, stroke: v('--accent'), width: 2, points: { show: xs.length < 40 } },
        { label: 'incomplete', stroke: v('--accent'), width: 2, dash: [6, 5], points: { show: false } }];
      var cols = [xs, main, inc];
      if (d.compare) {
        series.push({ label: 'comparison', stroke: v('--cmp'), width: 2, dash: [2, 4], points: { show: false } });
        cols.push(d.compare);
      }
      var short = function (l) { return l.length > 10 ? l.slice(11, 16) : l.slice(5); };
      var axis = { stroke: v('--muted'), grid: { stroke: v('--line'), width: 1 }, ticks: { stroke: v('--line'), width: 1 } };
      if (plot) plot.destroy();
      plot = new window.uPlot({
        width: el.clientWidth || 600, height: 260, series: series, legend: { show: false },
        scales: { x: { time: false } },
        axes: [Object.assign({}, axis, { values: function (u, splits) { return splits.map(function (i) { return d.labels[i] === undefined ? '' : short(d.labels[i]); }); } }), axis],
        cursor: { points: { show: false } }
      }, cols, el);
    };
    draw();
    var legend = doc.getElementById('chart-legend');
    if (legend) legend.hidden = false;
    var table = doc.querySelector('.graph-table');
    if (table) table.open = false;
    window.addEventListener('resize', function () { plot.setSize({ width: el.clientWidth, height: 260 }); });
    if (window.matchMedia) window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', draw);
  }

  // Realtime: refresh every 10 s while visible.
  var rt = doc.querySelector('[data-realtime]');
  if (rt) {
    var url = rt.getAttribute('data-realtime');
    var q = function (n) { return doc.querySelector('[data-rt="' + n + '"]'); };
    var rows = function (tbody, list) {
      tbody.textContent = '';
      if (!list.length) {
        var tr = doc.createElement('tr'), td = doc.createElement('td');
        td.colSpan = 2; td.className = 'muted'; td.textContent = 'Nobody in the last 30 minutes.';
        tr.appendChild(td); tbody.appendChild(tr);
      }
      list.forEach(function (r) {
        var tr = doc.createElement('tr'), a = doc.createElement('td'), b = doc.createElement('td'), bar = doc.createElement('span');
        a.className = 'label'; bar.className = 'bar ' + r.bar; a.appendChild(bar); a.appendChild(doc.createTextNode(r.label));
        b.textContent = r.visitors; tr.appendChild(a); tr.appendChild(b); tbody.appendChild(tr);
      });
    };
    var refresh = function () {
      if (doc.hidden) return;
      fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.json();
      }).then(function (j) {
        q('current').textContent = j.currentVisitors;
        q('pageviews').textContent = j.pageviews;
        var lis = q('minutes').children;
        j.bars.forEach(function (m, i) {
          if (!lis[i]) return;
          lis[i].title = m.label + ': ' + m.visitors;
          lis[i].firstChild.className = 'col ' + m.bar;
          lis[i].lastChild.textContent = m.label + ': ' + m.visitors + ' visitors';
        });
        rows(q('pages'), j.pages);
        rows(q('sources'), j.sources);
        rt.setAttribute('data-refreshed', String(Date.now()));
      }).catch(function () {});
    };
    setInterval(refresh, 10000);
    doc.addEventListener('visibilitychange', refresh);
  }
})();
