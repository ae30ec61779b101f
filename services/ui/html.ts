/** HTML building for the dashboard: escaping and the page frame (assets served by the server itself, no CDN). */

/** Escapes text for HTML element content and quoted attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/** A link with escaped query parameters. */
export function href(pathname: string, query: Record<string, string> = {}): string {
  const q = new URLSearchParams(query).toString();
  return esc(q === '' ? pathname : `${pathname}?${q}`);
}

/** The page frame: navigation, the bundled stylesheet and script. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · realgen</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/style.css"></head>
<body><nav><strong>realgen</strong> <a href="/">runs</a> <a href="/queue">queue &amp; schedules</a>
<a href="/leaderboard">leaderboard</a> <a href="/reports">reports</a></nav>
<main><h1>${esc(title)}</h1>
${body}
</main><script src="/assets/app.js"></script></body></html>`;
}

/** A table from a header row and body rows of already-escaped HTML cells. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, attrs = ''): string {
  const head = headers.map((h) => `<th>${h}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table ${attrs}><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}
