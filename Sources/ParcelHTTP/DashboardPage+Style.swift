extension DashboardPage {
    /// The page's style sheet, served as `dashboard.css`.
    static let style = #"""
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
    .sw.entered { background: var(--blue-soft); }
    .sw.completed { background: var(--blue); }
    .sw.nocons { background: var(--red-bg); border: 1px solid var(--red-line); }
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
    """#
}
