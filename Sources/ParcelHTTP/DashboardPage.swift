/// The dashboard: a page that fetches `api/report` and renders it (see `parcelctl dashboard`).
///
/// The page holds no inline script or style, not even a `style` attribute: its style sheet and its
/// script are served at their own paths (``style``, ``script``), so the Content-Security-Policy can
/// allow scripts and styles from this server alone (`'self'`), and nothing injected into the page
/// could run.
enum DashboardPage {
    static let html = #"""
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>ParcelFlow — December target</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="dashboard.css">
    <script src="dashboard.js" defer></script>
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
    </body>
    </html>
    """#
}
