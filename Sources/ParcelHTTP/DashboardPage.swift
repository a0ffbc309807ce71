/// The dashboard: one self-contained page that fetches `api/report` and renders it (see `parcelctl dashboard`).
enum DashboardPage {
    static let html = #"""
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>ParcelFlow — December target</title>
    <link rel="icon" href="data:,">
    <style>
    :root {
      --bg: #f4f6f8; --card: #ffffff; --ink: #1f2328; --muted: #5b6570; --line: #dde2e7; --soft: #eef1f4;
      --green: #1a7f37; --green-bg: #e3f6e8; --green-line: #b4e3c0;
      --red: #c62828; --red-bg: #fdecea; --red-line: #f5c2bd;
      --grey-bg: #eceff2; --grey-line: #d3d9df;
      --amber: #8a5a00; --amber-bg: #fff6d6; --amber-line: #f0dc98;
      --blue: #2f6feb; --blue-soft: #b9cff8;
    }
    * { box-sizing: border-box; }
    html { -webkit-text-size-adjust: 100%; }
    body { margin: 0; background: var(--bg); color: var(--ink);
      font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
    .wrap { max-width: 1220px; margin: 0 auto; padding: 18px 22px 40px; }
    header { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 4px 24px; margin-bottom: 12px; }
    h1 { font-size: 22px; margin: 0; font-weight: 700; letter-spacing: -0.01em; }
    h2 { font-size: 15px; margin: 0 0 12px; font-weight: 650; }
    h2 .sub { font-weight: 400; color: var(--muted); margin-left: 6px; }
    .meta { color: var(--muted); font-size: 13px; }
    .num { font-variant-numeric: tabular-nums; }
    .alert { border-radius: 8px; padding: 8px 12px; margin: 0 0 12px; font-size: 14px; }
    .alert.error { background: var(--red-bg); color: #8b1111; border: 1px solid var(--red-line); }
    .alert.warn { background: var(--amber-bg); color: #5c3c00; border: 1px solid var(--amber-line); }
    .card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 16px 18px; margin-bottom: 16px; }
    .hero { display: grid; grid-template-columns: minmax(0, 1.25fr) minmax(0, 1fr); gap: 22px; align-items: start; }
    .verdict { border-radius: 10px; padding: 14px 18px 16px; border: 1px solid; }
    .verdict .q { font-size: 13px; opacity: .85; }
    .verdict .word { display: inline-block; font-size: 42px; font-weight: 800; letter-spacing: .02em; line-height: 1.1; margin-top: 2px; }
    .verdict .sum { margin-top: 6px; font-size: 15px; }
    .v-on_track { background: var(--green-bg); color: #0f4f22; border-color: var(--green-line); }
    .v-behind { background: var(--red-bg); color: #8b1111; border-color: var(--red-line); }
    .v-grey { background: var(--grey-bg); color: #2f363d; border-color: var(--grey-line); }
    .v-met .word { color: var(--green); }
    .v-missed .word { color: var(--red); }
    .v-none .word { font-size: 26px; }
    code.cmd { white-space: nowrap; font-size: 0.92em; }
    .progress { margin-top: 16px; }
    .progress .line { font-size: 17px; margin-bottom: 8px; }
    .progress .line b { font-size: 20px; }
    .pbar { position: relative; height: 20px; background: var(--soft); border-radius: 10px; }
    .pbar .fill { height: 100%; border-radius: 10px; background: var(--blue); min-width: 2px; }
    .pbar.on_track .fill, .pbar.met .fill { background: var(--green); }
    .pbar.behind .fill, .pbar.missed .fill { background: var(--red); }
    .pbar .pace { position: absolute; top: -4px; bottom: -4px; width: 2px; background: #2f363d; }
    .pacenote { font-size: 12px; color: var(--muted); margin-top: 6px; }
    .pacenote i { display: inline-block; width: 2px; height: 10px; background: #2f363d; margin: 0 4px -1px 0; }
    .stats { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; margin: 0; }
    .stat { background: var(--soft); border-radius: 8px; padding: 9px 12px; }
    .stat dt { font-size: 12px; color: var(--muted); }
    .stat dd { margin: 1px 0 0; font-size: 20px; font-weight: 650; }
    .stat dd .unit { font-size: 13px; font-weight: 400; color: var(--muted); }
    .stat dd .small { font-size: 13px; font-weight: 400; color: var(--muted); display: block; }
    .stat.bad dd { color: var(--red); }
    .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 10px; }
    .tile { background: var(--soft); border-radius: 8px; padding: 8px 12px; }
    .tiles2 { grid-template-columns: repeat(2, minmax(0, 1fr)); }
    .tile .k { font-size: 12px; color: var(--muted); }
    .tile .v { font-size: 21px; font-weight: 650; }
    .tile.warn .v { color: var(--amber); }
    .tile.bad .v { color: var(--red); }
    .tablewrap { overflow-x: auto; -webkit-overflow-scrolling: touch; }
    table { border-collapse: collapse; width: 100%; font-size: 14px; }
    th { text-align: left; font-weight: 600; font-size: 12px; color: var(--muted); padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
    td { padding: 8px 8px; border-bottom: 1px solid var(--soft); vertical-align: middle; }
    tr:last-child td { border-bottom: 0; }
    th.r, td.r { text-align: right; white-space: nowrap; }
    td.stage { font-weight: 600; text-transform: capitalize; white-space: nowrap; }
    td.warn { color: var(--amber); font-weight: 600; }
    td.badv { color: var(--red); font-weight: 600; }
    td.nocons { background: var(--red-bg); color: var(--red); font-weight: 700; }
    tr.nocons td.stage { color: var(--red); }
    tr.e2e td { font-weight: 600; border-top: 1px solid var(--line); }
    tr.e2e td.stage { text-transform: none; }
    .funnel { min-width: 220px; }
    .fbar { position: relative; height: 8px; background: var(--soft); border-radius: 4px; margin: 3px 0; }
    .fbar span { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 4px; }
    .fbar .e { background: var(--blue-soft); }
    .fbar .c { background: var(--blue); }
    .flabel { font-size: 12px; color: var(--muted); white-space: nowrap; }
    .flabel b { color: var(--ink); font-weight: 600; }
    .legend { font-size: 12px; color: var(--muted); margin-top: 8px; }
    .sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 4px -1px 10px; }
    .sw:first-child { margin-left: 0; }
    .grid2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; }
    .grid54 { display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 4fr); gap: 16px; }
    .grid54 > .card { margin-bottom: 0; }
    .grid2 > .card { margin-bottom: 0; }
    .row16 { margin-bottom: 16px; }
    svg.chart { width: 100%; height: auto; display: block; }
    svg.chart .gl { stroke: #e6eaee; stroke-width: 1; }
    svg.chart .base { stroke: #b8c0c8; stroke-width: 1; }
    svg.chart text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; fill: #6b7580; }
    svg.chart .b { fill: var(--blue); }
    svg.chart .b.today { fill: #1d4fb8; }
    svg.chart .slot { fill: #f1f3f5; }
    svg.chart .ref { stroke: var(--red); stroke-width: 1.5; stroke-dasharray: 5 4; }
    svg.chart text.reft { fill: var(--red); }
    .chartnote { font-size: 12px; color: var(--muted); margin-top: 4px; }
    .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; }
    .badge.held { background: var(--amber-bg); color: var(--amber); border: 1px solid var(--amber-line); }
    .badge.dead_lettered { background: var(--red-bg); color: var(--red); border: 1px solid var(--red-line); }
    .badge.other { background: var(--grey-bg); color: #2f363d; }
    td.pid { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; white-space: nowrap; }
    td.reason { min-width: 200px; word-break: break-word; }
    td.when { white-space: nowrap; color: var(--muted); font-size: 13px; }
    .empty { color: var(--muted); font-size: 14px; padding: 6px 0; }
    .loading { color: var(--muted); padding: 40px 0; text-align: center; }
    footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 8px; }
    @media (max-width: 860px) {
      .hero, .grid2, .grid54 { grid-template-columns: minmax(0, 1fr); }
    }
    @media (max-width: 520px) {
      .wrap { padding: 12px 10px 30px; }
      h1 { font-size: 19px; }
      .card { padding: 12px 12px; }
      .verdict .word { font-size: 34px; }
      .stat dd { font-size: 18px; }
      th, td { padding-left: 5px; padding-right: 5px; }
    }
    </style>
    </head>
    <body data-state="loading">
    <div class="wrap">
      <header>
        <h1 id="heading">ParcelFlow — December target</h1>
        <div class="meta" id="status">Loading…</div>
      </header>
      <div id="errorline" class="alert error" role="alert" hidden></div>
      <div id="alerts"></div>
      <main id="content"><div class="loading">Loading the report…</div></main>
      <footer>Read-only view of <code>parcelctl report --json</code> · refreshes every 5 seconds</footer>
    </div>
    <script>
    (function () {
      'use strict';
      var REFRESH_MS = 5000;
      var STAGES = ['collection', 'packaging', 'inspection', 'delivery'];
      var MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
        'September', 'October', 'November', 'December'];
      var token = new URLSearchParams(window.location.search).get('token');
      var reportURL = 'api/report' + (token ? '?token=' + encodeURIComponent(token) : '');
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
            Math.round(prog * 100) + '"><div class="fill" style="width:' + (prog * 100).toFixed(2) + '%"></div>' +
            (pace !== null && p.state === 'running' ? '<div class="pace" style="left:calc(' + (pace * 100).toFixed(2) + '% - 1px)" title="even pace today"></div>' : '') +
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
          ['Dead-lettered', 'dead_lettered', 'bad'], ['Delivered', 'delivered', '']
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
            '<td class="funnel"><div class="fbar" title="entered"><span class="e" style="width:' + ew.toFixed(2) + '%"></span></div>' +
            '<div class="fbar" title="completed"><span class="c" style="width:' + cw.toFixed(2) + '%"></span></div>' +
            '<div class="flabel"><b>' + F(pre + 'entered', s.entered) + '</b> entered · <b>' + F(pre + 'completed', s.completed) + '</b> completed</div></td>' +
            cell('queued') + cell('processing') + cell('retrying', 'warn') + cell('held', 'warn') + cell('dead_lettered', 'badv') +
            '<td class="r">' + qf('queue_messages') + '</td>' +
            '<td class="r' + (noCons ? ' nocons' : '') + '"' + (noCons ? ' title="no consumer on this stage queue"' : '') + '>' + qf('queue_consumers') + '</td>' +
            '<td class="r">' + F(pre + 'oldest_waiting_seconds', s.oldest_waiting_seconds, fmtSecs) + '</td></tr>';
        }).join('');
        return '<section class="card" id="funnel"><h2>Stages<span class="sub">parcels through collection → packaging → inspection → delivery</span></h2>' +
          '<div class="tablewrap"><table><thead><tr><th>Stage</th><th>Entered / completed</th><th class="r">Queued</th>' +
          '<th class="r">Processing</th><th class="r">Retrying</th><th class="r">Held</th><th class="r">Dead-lettered</th>' +
          '<th class="r">Queue msgs</th><th class="r">Consumers</th><th class="r">Oldest waiting</th></tr></thead><tbody>' +
          rows + '</tbody></table></div>' +
          '<div class="legend"><span class="sw" style="background:var(--blue-soft)"></span>entered<span class="sw" style="background:var(--blue)"></span>completed' +
          '<span class="sw" style="background:var(--red-bg);border:1px solid var(--red-line)"></span>stage queue without consumers</div></section>';
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
        return '<section class="card" id="latency"><h2>Latency<span class="sub">stage: queued → done · end to end: submitted → delivered</span></h2>' +
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
          ['Dead-letter queue msgs', F('dead_letter_queue.messages', dlq ? d.messages : null, brokerOk ? null : dash), isNum(d.messages) && d.messages > 0 ? 'bad' : ''],
          ['Dead-letter queue consumers', F('dead_letter_queue.consumers', dlq ? d.consumers : null, brokerOk ? null : dash), '']
        ];
        return '<section class="card" id="dead-letters"><h2>Held and dead-lettered</h2>' +
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

      function render(r) {
        if (!r || typeof r !== 'object') throw new Error('the report is not a JSON object');
        var brokerOk = !(r.broker && r.broker.reachable === false);
        var label = periodLabel(obj(r.period).name);
        var html = heroHTML(r) + countsHTML(r) + funnelHTML(r, brokerOk) + chartsHTML(r) +
          '<div class="grid54 row16">' + latencyHTML(r) + deadLettersHTML(r, brokerOk) + '</div>' + attentionHTML(r);
        var alerts = alertsHTML(r, brokerOk);
        document.getElementById('content').innerHTML = html;
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
    </script>
    </body>
    </html>
    """#
}
