const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** The browser terminal page; org and box names are already validated DNS labels, and escaped anyway. */
export function terminalPage(org: string, box: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(box)} · ${esc(org)} · Boxyard terminal</title>
<link rel="stylesheet" href="/assets/xterm.css">
<style>
  html, body { height: 100%; margin: 0; background: #111; color: #ddd; font: 14px system-ui, sans-serif; }
  body { display: flex; flex-direction: column; }
  header { display: flex; gap: 1rem; align-items: baseline; padding: .4rem .8rem; background: #1d1f24; }
  header h1 { font-size: 1rem; margin: 0; }
  #status { color: #9ab; }
  header a { margin-left: auto; color: #9cf; }
  #terminal { flex: 1; min-height: 0; padding: .3rem; }
  form { padding: 1rem; display: flex; gap: .5rem; flex-wrap: wrap; }
  form[hidden] { display: none; }
  input { min-width: 20rem; padding: .3rem; }
</style>
</head>
<body data-org="${esc(org)}" data-box="${esc(box)}">
<header><h1>${esc(box)} <small>(${esc(org)})</small></h1><span id="status" role="status" aria-live="polite">Loading…</span><a href="/boxes/${esc(org)}/${esc(box)}">Back to the dashboard</a></header>
<form id="signin" hidden>
  <label for="token">API token</label>
  <input id="token" name="token" type="password" autocomplete="off" required>
  <button type="submit">Open terminal</button>
</form>
<main id="terminal" aria-label="Terminal"></main>
<script type="module" src="/assets/terminal.js"></script>
</body>
</html>
`;
}
