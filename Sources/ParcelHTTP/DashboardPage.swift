/// The dashboard: a page that fetches `api/report` and renders it (see `parcelctl dashboard`).
///
/// The page holds no inline script or style, not even a `style` attribute: its style sheet and its
/// script are served at their own paths (``style``, ``script``), so the Content-Security-Policy can
/// allow scripts and styles from this server alone (`'self'`), and nothing injected into the page
/// could run.
///
/// The three are the files in `Dashboard/`, embedded at build time by the EmbedAssets plugin and served
/// byte for byte (which is why they end without a final newline). The script renders the report:
/// every value from it reaches the markup through `esc`.
enum DashboardPage {
    /// `Dashboard/dashboard.html`, served as `/`.
    static let html = EmbeddedAssets.dashboardHtml
    /// `Dashboard/dashboard.css`, served as `dashboard.css`.
    static let style = EmbeddedAssets.dashboardCss
    /// `Dashboard/dashboard.js`, served as `dashboard.js`: fetches the report every 5 seconds and renders it.
    static let script = EmbeddedAssets.dashboardJs
}
