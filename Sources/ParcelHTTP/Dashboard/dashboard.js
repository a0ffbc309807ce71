(function () {
  'use strict';
  var REFRESH_MS = 5000;
  var STAGES = ['collection', 'packaging', 'inspection', 'delivery'];
  var MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
    'September', 'October', 'November', 'December'];
  // The token, if any, travels in the cookie the server set when the page was opened with ?token=.
  var reportURL = 'api/report';
  var lastReport = null;
  var lastOkAt = null;

  // ---------- formatting ----------
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  var nfInt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  var nf1 = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  function isNum(v) { return typeof v === 'number' && isFinite(v); }
  function fmtNum(v) {
    if (!isNum(v)) return '—';
    return Number.isInteger(v) ? nfInt.format(v) : nf1.format(v);
  }
  function fmtPct(v) { return isNum(v) ? nf1.format(v * 100) + ' %' : '—'; }
  function fmtMs(v) {
    if (!isNum(v)) return '—';
    if (Math.abs(v) < 1000) return fmtNum(v) + ' ms';
    return nf1.format(v / 1000) + ' s';
  }
  function fmtSecs(v) {
    if (!isNum(v)) return '—';
    if (v < 60) return fmtNum(Number.isInteger(v) ? v : Math.round(v * 10) / 10) + ' s';
    if (v < 3600) return nf1.format(v / 60) + ' min';
    if (v < 86400) return nf1.format(v / 3600) + ' h';
    return nf1.format(v / 86400) + ' d';
  }
  function pad2(n) { return (n < 10 ? '0' : '') + n; }
  function parseTime(s) { var d = new Date(s); return isNaN(d.getTime()) ? null : d; }
  function clock(d) { return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds()); }
  function hhmm(d) { return pad2(d.getHours()) + ':' + pad2(d.getMinutes()); }
  function utcClock(d) { return pad2(d.getUTCHours()) + ':' + pad2(d.getUTCMinutes()) + ':' + pad2(d.getUTCSeconds()); }
  function utcDay(d) { return MONTHS[d.getUTCMonth()].slice(0, 3) + ' ' + d.getUTCDate(); }
  function ago(from, to) {
    if (!from || !to) return '';
    var s = Math.round((to.getTime() - from.getTime()) / 1000);
    if (s < 0) return 'just now';
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }
  function periodLabel(name) {
    var m = /^(\d{4})-(\d{2})$/.exec(String(name || ''));
    if (m && +m[2] >= 1 && +m[2] <= 12) return MONTHS[+m[2] - 1] + ' ' + m[1];
    return name ? String(name) : 'December';
  }

  // One rendered JSON number: data-field = JSON path, data-value = JSON.stringify(raw value).
  function F(path, value, fmt, cls) {
    var v = value === undefined ? null : value;
    var text = v === null ? '—' : (fmt || fmtNum)(v);
    return '<span class="num' + (cls ? ' ' + cls : '') + '" data-field="' + esc(path) +
      '" data-value="' + esc(JSON.stringify(v)) + '">' + esc(text) + '</span>';
  }
  function obj(v) { return v && typeof v === 'object' ? v : {}; }

  // ---------- sections ----------
  var VERDICTS = {
    on_track: ['ON TRACK', 'v-on_track'], behind: ['BEHIND', 'v-behind'],
    met: ['MET', 'v-grey v-met'], missed: ['MISSED', 'v-grey v-missed'],
    not_started: ['NOT STARTED', 'v-grey']
  };

  function heroHTML(r) {
    var t = r.target, p = obj(r.period);
    var label = periodLabel(p.name);
    var left, right;
    if (!t) {
      left = '<div class="verdict v-grey v-none"><div class="q">' + esc(label) + '</div>' +
        '<div class="word">NO TARGET</div>' +
        '<div class="sum">No target set (<code class="cmd">parcelctl dashboard --target N</code> or <code class="cmd">PARCELFLOW_TARGET</code>)</div></div>' +
        '<div class="progress"><div class="line">' + F('delivered', r.delivered) +
        ' parcels delivered in total (all periods)</div></div>';
    } else {
      var v = VERDICTS[t.forecast] || [String(t.forecast || 'UNKNOWN').toUpperCase().replace(/_/g, ' '), 'v-grey'];
      left = '<div class="verdict ' + v[1] + '">' +
        '<div class="q">Will ' + esc(label) + '’s ' + F('target.parcels', t.parcels) + ' be met?</div>' +
        '<div class="word" data-field="target.forecast" data-value="' + esc(JSON.stringify(t.forecast === undefined ? null : t.forecast)) + '">' + esc(v[0]) + '</div>' +
        (t.summary ? '<div class="sum">' + esc(t.summary) + '</div>' : '') + '</div>';
      var prog = isNum(t.progress) ? Math.max(0, Math.min(1, t.progress)) : 0;
      var pace = null;
      if (isNum(p.elapsed_days) && isNum(p.remaining_days) && p.elapsed_days + p.remaining_days > 0) {
        pace = Math.max(0, Math.min(1, p.elapsed_days / (p.elapsed_days + p.remaining_days)));
      }
      left += '<div class="progress"><div class="line"><b>' + F('target.delivered', t.delivered) + '</b> of ' +
        F('target.parcels', t.parcels) + ' delivered (' + F('target.progress', t.progress, fmtPct) + ')</div>' +
        '<div class="pbar ' + esc(t.forecast || '') + '" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="' +
        Math.round(prog * 100) + '"><div class="fill" data-width="' + (prog * 100).toFixed(2) + '"></div>' +
        (pace !== null && p.state === 'running' ? '<div class="pace" data-left="' + (pace * 100).toFixed(2) + '" title="even pace today"></div>' : '') +
        '</div>' +
        (pace !== null && p.state === 'running' ? '<div class="pacenote"><i></i>where an even pace would be today</div>' : '') +
        '</div>';
    }
    var stats = [];
    if (t) {
      var behind = isNum(t.behind_parcels) && t.behind_parcels > 0;
      stats.push(['Rate so far', F('target.rate_per_day', t.rate_per_day) + ' <span class="unit">/ day</span>']);
      stats.push(['Needed from now', F('target.needed_per_day', t.needed_per_day) + ' <span class="unit">/ day</span>']);
      stats.push(['Projected by period end', F('target.projected', t.projected) + ' <span class="unit">parcels</span>']);
      stats.push(['Behind at current rate', F('target.behind_parcels', t.behind_parcels) + ' <span class="unit">parcels</span>' +
        '<span class="small">' + F('target.behind_days', t.behind_days) + ' days more needed</span>', behind ? 'bad' : '']);
      stats.push(['Still to deliver', F('target.remaining', t.remaining) + ' <span class="unit">parcels</span>']);
    }
    var stateText = { not_started: 'not started', running: 'running', ended: 'ended' }[p.state] || (p.state ? String(p.state) : '');
    stats.push(['Period ' + esc(p.name || ''), F('period.remaining_days', p.remaining_days) + ' <span class="unit">days left</span>' +
      '<span class="small">' + F('period.elapsed_days', p.elapsed_days) + ' days elapsed' + (stateText ? ' · ' + esc(stateText) : '') + '</span>']);
    right = '<dl class="stats">' + stats.map(function (s) {
      return '<div class="stat' + (s[2] ? ' ' + s[2] : '') + '"><dt>' + s[0] + '</dt><dd>' + s[1] + '</dd></div>';
    }).join('') + '</dl>';
    return '<section class="card hero" id="target"><div>' + left + '</div><div>' + right + '</div></section>';
  }

  function countsHTML(r) {
    var items = [
      ['Parcels', 'parcels', ''], ['Submitted', 'submitted', ''], ['Queued', 'queued', ''],
      ['In flight', 'in_flight', ''], ['Retrying', 'retrying', 'warn'], ['Held', 'held', 'warn'],
      ['Dead-lettered', 'dead_lettered', 'bad'], ['Returned', 'returned', ''], ['Delivered', 'delivered', '']
    ];
    return '<section class="card" id="counts"><h2>All parcels in the store</h2><div class="tiles">' +
      items.map(function (it) {
        var v = r[it[1]];
        var cls = it[2] && isNum(v) && v > 0 ? ' ' + it[2] : '';
        return '<div class="tile' + cls + '"><div class="k">' + it[0] + '</div><div class="v">' + F(it[1], v) + '</div></div>';
      }).join('') + '</div></section>';
  }

  function funnelHTML(r, brokerOk) {
    var stages = Array.isArray(r.stages) ? r.stages : [];
    var maxE = 1;
    stages.forEach(function (s) {
      s = obj(s);
      if (isNum(s.entered) && s.entered > maxE) maxE = s.entered;
      if (isNum(s.completed) && s.completed > maxE) maxE = s.completed;
    });
    var rows = stages.map(function (s, i) {
      s = obj(s);
      var pre = 'stages.' + i + '.';
      var noCons = brokerOk && s.queue_consumers === 0;
      var qf = function (name) { return brokerOk ? F(pre + name, s[name]) : F(pre + name, s[name], function () { return '—'; }); };
      var ew = isNum(s.entered) ? (s.entered / maxE * 100) : 0;
      var cw = isNum(s.completed) ? (s.completed / maxE * 100) : 0;
      function cell(name, cls) {
        var v = s[name];
        return '<td class="r' + (cls && isNum(v) && v > 0 ? ' ' + cls : '') + '">' + F(pre + name, v) + '</td>';
      }
      return '<tr' + (noCons ? ' class="nocons"' : '') + '><td class="stage">' + esc(s.stage || STAGES[i] || ('stage ' + i)) + '</td>' +
        '<td class="funnel"><div class="fbar" title="entered"><span class="e" data-width="' + ew.toFixed(2) + '"></span></div>' +
        '<div class="fbar" title="completed"><span class="c" data-width="' + cw.toFixed(2) + '"></span></div>' +
        '<div class="flabel"><b>' + F(pre + 'entered', s.entered) + '</b> entered · <b>' + F(pre + 'completed', s.completed) + '</b> completed</div></td>' +
        cell('queued') + cell('processing') + cell('retrying', 'warn') + cell('held', 'warn') + cell('dead_lettered', 'badv') + cell('returned') +
        '<td class="r">' + qf('queue_messages') + '</td>' +
        '<td class="r' + (noCons ? ' nocons' : '') + '"' + (noCons ? ' title="no consumer on this stage queue"' : '') + '>' + qf('queue_consumers') + '</td>' +
        '<td class="r">' + F(pre + 'oldest_waiting_seconds', s.oldest_waiting_seconds, fmtSecs) + '</td></tr>';
    }).join('');
    return '<section class="card" id="funnel"><h2>Stages<span class="sub">parcels through collection → packaging → inspection → delivery</span></h2>' +
      '<div class="tablewrap"><table><thead><tr><th>Stage</th><th>Entered / completed</th><th class="r">Queued</th>' +
      '<th class="r">Processing</th><th class="r">Retrying</th><th class="r">Held</th><th class="r">Dead-lettered</th><th class="r">Returned</th>' +
      '<th class="r">Queue msgs</th><th class="r">Consumers</th><th class="r">Oldest waiting</th></tr></thead><tbody>' +
      rows + '</tbody></table></div>' +
      '<div class="legend"><span class="sw entered"></span>entered<span class="sw completed"></span>completed' +
      '<span class="sw nocons"></span>stage queue without consumers</div></section>';
  }

  function niceCeil(v) {
    if (!(v > 0)) return 2;
    var mag = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 4, 6, 8, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * mag >= v) return Math.max(2, steps[i] * mag);
    return Math.max(2, 10 * mag);
  }

  // Plain SVG bar chart. o: {buckets, path, label, tick(i, date) -> label or null, tip(b, date), now, ref: {value, label}}
  function barChart(o) {
    var W = window.innerWidth < 600 ? 400 : 640, H = 200, L = 44, R = 12, T = 16, B = 24;
    var pw = W - L - R, ph = H - T - B;
    var b = Array.isArray(o.buckets) ? o.buckets : [];
    var n = b.length, max = 0;
    b.forEach(function (x) { x = obj(x); if (isNum(x.delivered) && x.delivered > max) max = x.delivered; });
    if (o.ref && isNum(o.ref.value) && o.ref.value > max) max = o.ref.value;
    var top = niceCeil(max);
    var s = '<svg class="chart" viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="' + esc(o.label) + '">';
    [0.5, 1].forEach(function (f) {
      var y = (T + ph * (1 - f)).toFixed(1);
      s += '<line class="gl" x1="' + L + '" x2="' + (W - R) + '" y1="' + y + '" y2="' + y + '"/>' +
        '<text x="' + (L - 6) + '" y="' + (+y + 4) + '" text-anchor="end">' + esc(fmtNum(top * f)) + '</text>';
    });
    s += '<text x="' + (L - 6) + '" y="' + (T + ph + 4) + '" text-anchor="end">0</text>';
    if (n === 0) {
      s += '<text x="' + (L + pw / 2) + '" y="' + (T + ph / 2) + '" text-anchor="middle">no data</text>';
    }
    var bw = pw / Math.max(n, 1);
    var gap = bw > 8 ? Math.min(3, bw * 0.22) : Math.max(0.5, bw * 0.15);
    b.forEach(function (x, i) {
      x = obj(x);
      var d = parseTime(x.start);
      var v = isNum(x.delivered) ? x.delivered : 0;
      var future = o.now && d && d.getTime() > o.now.getTime();
      var cur = o.now && d && !future && (i === n - 1 || (parseTime(obj(b[i + 1]).start) || o.now).getTime() > o.now.getTime());
      var bx = L + i * bw + gap / 2, w = Math.max(0.5, bw - gap);
      if (future) {
        s += '<rect class="slot" x="' + bx.toFixed(2) + '" y="' + T + '" width="' + w.toFixed(2) + '" height="' + ph + '"/>';
      }
      var h = ph * v / top;
      if (v > 0 && h < 1.5) h = 1.5;
      var tip = o.tip(x, d) + (future ? ' (not yet)' : '');
      s += '<rect class="b' + (cur && o.markCurrent ? ' today' : '') + '" x="' + bx.toFixed(2) + '" y="' + (T + ph - h).toFixed(2) +
        '" width="' + w.toFixed(2) + '" height="' + h.toFixed(2) + '" data-field="' + esc(o.path + '.' + i + '.delivered') +
        '" data-value="' + esc(JSON.stringify(x.delivered === undefined ? null : x.delivered)) + '"><title>' + esc(tip) + '</title></rect>';
      var lab = d ? o.tick(i, d, n) : null;
      if (lab) {
        s += '<text x="' + (L + i * bw + bw / 2).toFixed(1) + '" y="' + (H - 6) + '" text-anchor="middle">' + esc(lab) + '</text>';
      }
    });
    s += '<line class="base" x1="' + L + '" x2="' + (W - R) + '" y1="' + (T + ph) + '" y2="' + (T + ph) + '"/>';
    if (o.ref && isNum(o.ref.value) && o.ref.value > 0) {
      var ry = (T + ph - ph * o.ref.value / top).toFixed(1);
      s += '<line class="ref" x1="' + L + '" x2="' + (W - R) + '" y1="' + ry + '" y2="' + ry + '"/>' +
        '<text class="reft" x="' + (W - R) + '" y="' + (+ry - 4) + '" text-anchor="end">' + esc(o.ref.label) + '</text>';
    }
    return s + '</svg>';
  }

  function chartsHTML(r) {
    var now = parseTime(r.generated_at);
    var recent = obj(r.recent), thr = obj(r.throughput), t = r.target;
    var rb = Array.isArray(recent.buckets) ? recent.buckets : [];
    var tb = Array.isArray(thr.buckets) ? thr.buckets : [];
    var sum = function (a) { return a.reduce(function (acc, x) { x = obj(x); return acc + (isNum(x.delivered) ? x.delivered : 0); }, 0); };
    var recentSVG = barChart({
      buckets: rb, path: 'recent.buckets', label: 'Deliveries per minute, last 60 minutes', now: null,
      tick: function (i, d, n) { return (i % 10 === 0 || i === n - 1) && (n - 1 - i >= 4 || i === n - 1) ? hhmm(d) : null; },
      tip: function (x, d) { return (d ? hhmm(d) : '?') + ': ' + fmtNum(x.delivered) + ' delivered'; }
    });
    var thrSVG = barChart({
      buckets: tb, path: 'throughput.buckets', label: 'Deliveries per day in the period', now: now, markCurrent: true,
      ref: t && isNum(t.needed_per_day) ? { value: t.needed_per_day, label: 'needed ' + fmtNum(t.needed_per_day) + ' / day' } : null,
      tick: function (i, d, n) { var day = d.getUTCDate(); return (i === 0 || day % 5 === 0) && (n - 1 - i >= 2 || i === n - 1 || day % 5 === 0) ? utcDay(d) : null; },
      tip: function (x, d) { return (d ? utcDay(d) : '?') + ': ' + fmtNum(x.delivered) + ' delivered'; }
    });
    return '<div class="grid2 row16">' +
      '<section class="card" id="recent"><h2>Deliveries per minute<span class="sub">last 60 minutes (local time)</span></h2>' + recentSVG +
      '<div class="chartnote">' + esc(fmtNum(sum(rb))) + ' delivered in the last hour</div></section>' +
      '<section class="card" id="throughput"><h2>Deliveries per day<span class="sub">' + esc(periodLabel(obj(r.period).name)) + ' (UTC days)</span></h2>' + thrSVG +
      '<div class="chartnote">' + esc(fmtNum(sum(tb))) + ' delivered so far in the period' +
      (t && isNum(t.needed_per_day) ? ' · dashed line: rate needed from now on' : '') + '</div></section></div>';
  }

  function latencyHTML(r) {
    var stages = Array.isArray(r.stages) ? r.stages : [];
    var row = function (name, pre, l, cls) {
      l = obj(l);
      return '<tr' + (cls ? ' class="' + cls + '"' : '') + '><td class="stage">' + name + '</td>' +
        '<td class="r">' + F(pre + '.count', l.count) + '</td><td class="r">' + F(pre + '.p50', l.p50, fmtMs) + '</td>' +
        '<td class="r">' + F(pre + '.p95', l.p95, fmtMs) + '</td><td class="r">' + F(pre + '.p99', l.p99, fmtMs) + '</td></tr>';
    };
    var rows = stages.map(function (s, i) {
      s = obj(s);
      return row(esc(s.stage || STAGES[i] || ('stage ' + i)), 'stages.' + i + '.latency_ms', s.latency_ms);
    }).join('') + row('End to end', 'end_to_end_ms', r.end_to_end_ms, 'e2e');
    return '<section class="card" id="latency"><h2>Latency<span class="sub">stage: queued → done, the latest 10,000 of each · end to end: submitted → delivered</span></h2>' +
      '<div class="tablewrap"><table><thead><tr><th>Stage</th><th class="r">Count</th><th class="r">p50</th><th class="r">p95</th><th class="r">p99</th></tr></thead><tbody>' +
      rows + '</tbody></table></div></section>';
  }

  function deadLettersHTML(r, brokerOk) {
    var dlq = r.dead_letter_queue;
    var d = obj(dlq);
    var dash = function () { return '—'; };
    var tiles = [
      ['Held', F('held', r.held), isNum(r.held) && r.held > 0 ? 'warn' : ''],
      ['Dead-lettered', F('dead_lettered', r.dead_lettered), isNum(r.dead_lettered) && r.dead_lettered > 0 ? 'bad' : ''],
      ['Returned to sender', F('returned', r.returned), ''],
      ['Dead-letter queue msgs', F('dead_letter_queue.messages', dlq ? d.messages : null, brokerOk ? null : dash), isNum(d.messages) && d.messages > 0 ? 'bad' : ''],
      ['Dead-letter queue consumers', F('dead_letter_queue.consumers', dlq ? d.consumers : null, brokerOk ? null : dash), '']
    ];
    return '<section class="card" id="dead-letters"><h2>Held, dead-lettered and returned</h2>' +
      '<div class="tiles tiles2">' + tiles.map(function (x) {
        return '<div class="tile' + (x[2] ? ' ' + x[2] : '') + '"><div class="k">' + x[0] + '</div><div class="v">' + x[1] + '</div></div>';
      }).join('') + '</div></section>';
  }

  function attentionHTML(r) {
    var now = parseTime(r.generated_at);
    var list = Array.isArray(r.attention) ? r.attention : [];
    var table = list.length === 0 ? '<div class="empty">No held or dead-lettered parcels listed.</div>' :
      '<div class="tablewrap"><table><thead><tr><th>Parcel</th><th>State</th><th>Stage</th><th>Reason</th><th>When (local)</th></tr></thead><tbody>' +
      list.map(function (a) {
        a = obj(a);
        var st = String(a.state || '');
        var badgeCls = st === 'held' || st === 'dead_lettered' ? st : 'other';
        var at = parseTime(a.at);
        var when = at ? (MONTHS[at.getMonth()].slice(0, 3) + ' ' + at.getDate() + ', ' + clock(at)) : (a.at ? String(a.at) : '—');
        return '<tr><td class="pid">' + esc(a.parcel_id == null ? '—' : a.parcel_id) + '</td>' +
          '<td><span class="badge ' + badgeCls + '">' + esc(st.replace(/_/g, ' ') || '—') + '</span></td>' +
          '<td class="stage">' + esc(a.stage == null ? '—' : a.stage) + '</td>' +
          '<td class="reason">' + esc(a.reason == null ? '' : a.reason) + '</td>' +
          '<td class="when" title="' + esc(a.at == null ? '' : a.at) + '">' + esc(when) + (at && now ? ' · ' + esc(ago(at, now)) : '') + '</td></tr>';
      }).join('') + '</tbody></table></div>';
    return '<section class="card" id="attention"><h2>Needs attention<span class="sub">latest held or dead-lettered parcels, newest first</span></h2>' +
      table + '</section>';
  }

  function alertsHTML(r, brokerOk) {
    var out = '';
    if (!brokerOk) {
      var err = obj(r.broker).error;
      out += '<div class="alert warn" id="broker-warning"><b>Broker unreachable</b>' + (err ? ': ' + esc(err) : '') +
        '. Queue messages and consumers are unknown (—).</div>';
    }
    var stages = Array.isArray(r.stages) ? r.stages : [];
    var none = stages.filter(function (s) { return brokerOk && obj(s).queue_consumers === 0; })
      .map(function (s) { return esc(obj(s).stage || '?'); });
    if (none.length) {
      out += '<div class="alert error" id="consumer-warning"><b>No consumers</b> on the ' + none.join(', ') +
        ' stage queue' + (none.length > 1 ? 's' : '') + ': parcels there are not being worked. Start a parcel-worker.</div>';
    }
    return out;
  }

  // Bar widths and positions are set through the CSSOM, which the Content-Security-Policy allows,
  // not as style attributes in the markup, which it refuses.
  function applyGeometry(root) {
    root.querySelectorAll('[data-width]').forEach(function (el) { el.style.width = el.dataset.width + '%'; });
    root.querySelectorAll('[data-left]').forEach(function (el) { el.style.left = 'calc(' + el.dataset.left + '% - 1px)'; });
  }

  function render(r) {
    if (!r || typeof r !== 'object') throw new Error('the report is not a JSON object');
    var brokerOk = !(r.broker && r.broker.reachable === false);
    var label = periodLabel(obj(r.period).name);
    var html = heroHTML(r) + countsHTML(r) + funnelHTML(r, brokerOk) + chartsHTML(r) +
      '<div class="grid54 row16">' + latencyHTML(r) + deadLettersHTML(r, brokerOk) + '</div>' + attentionHTML(r);
    var alerts = alertsHTML(r, brokerOk);
    var content = document.getElementById('content');
    content.innerHTML = html;
    applyGeometry(content);
    document.getElementById('alerts').innerHTML = alerts;
    document.getElementById('heading').textContent = 'ParcelFlow — ' + label + ' target';
  }

  function updateStatus() {
    var el = document.getElementById('status');
    if (!lastReport) { el.textContent = 'Loading…'; return; }
    var g = parseTime(lastReport.generated_at);
    el.textContent = 'Last updated ' + clock(lastOkAt) + (g ? ' · report generated ' + utcDay(g) + ' ' + utcClock(g) + ' UTC' : '') +
      ' · refreshes every 5 s';
  }

  function showError(e) {
    var el = document.getElementById('errorline');
    if (!e) { el.hidden = true; el.textContent = ''; document.body.dataset.fetch = 'ok'; return; }
    var msg = (e && e.message) ? e.message : String(e);
    var hint = /HTTP 40[13]/.test(msg) ? ' The server wants a token: open this page as …/?token=YOUR_TOKEN.' : '';
    el.textContent = 'Could not update at ' + clock(new Date()) + ': ' + msg + '.' + hint +
      (lastReport ? ' Showing the numbers from ' + clock(lastOkAt) + '.' : '');
    el.hidden = false;
    document.body.dataset.fetch = 'error';
  }

  function tick() {
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, 10000) : null;
    fetch(reportURL, { cache: 'no-store', headers: { 'Accept': 'application/json' }, signal: ctl ? ctl.signal : undefined })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status + (res.statusText ? ' ' + res.statusText : ''));
        return res.json();
      })
      .then(function (r) {
        render(r);
        lastReport = r;
        lastOkAt = new Date();
        updateStatus();
        showError(null);
        document.body.dataset.generatedAt = r.generated_at;
        document.body.dataset.state = 'ready';
      })
      .catch(function (e) {
        if (e && e.name === 'AbortError') e = new Error('timed out');
        showError(e);
        if (!lastReport) {
          document.body.dataset.state = 'error';
          document.getElementById('content').innerHTML = '<div class="loading">No report yet.</div>';
          document.getElementById('status').textContent = 'Not loaded yet · retrying every 5 s';
        }
      })
      .then(function () {
        if (timer) clearTimeout(timer);
        setTimeout(tick, REFRESH_MS);
      });
  }
  tick();
})();