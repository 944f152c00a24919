// The web UI's stylesheet, served as /ui/assets/app.css. A TypeScript string so the
// TypeScript build is the only build step. System fonts, no external assets; light and
// dark schemes; one column below 720 px wide, nothing wider than the screen at 390 px.
export const STYLES = `
:root {
  --bg: #f6f7f9; --surface: #fff; --text: #111827; --muted: #5b6472; --border: #e2e5ea;
  --accent: #155eef; --accent-text: #fff; --accent-soft: #e8efff; --danger: #c62828; --danger-soft: #fdecec;
  --ok: #1a7f37; --ok-soft: #e7f5ec; --warn: #9a6700; --warn-soft: #fff5d6;
  --radius: 10px; --shadow: 0 1px 2px rgba(16,24,40,.06), 0 1px 3px rgba(16,24,40,.08);
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1115; --surface: #171a21; --text: #e6e8eb; --muted: #9aa3af; --border: #2a2f39;
    --accent: #6b9bff; --accent-text: #0b1020; --accent-soft: #1b2540; --danger: #ff7b72; --danger-soft: #3a1d1d;
    --ok: #56d364; --ok-soft: #16301e; --warn: #e3b341; --warn-soft: #3a2f12; --shadow: none;
  }
}
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, sans-serif;
  overflow-wrap: anywhere;
}
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; border-radius: 4px; }
[tabindex="-1"]:focus { outline: none; }
h1, h2, h3 { line-height: 1.25; margin: 0 0 .5rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; } h3 { font-size: 1.05rem; }
p { margin: 0 0 .75rem; }
code, pre, .mono { font-family: var(--mono); font-size: .9em; }
pre { background: var(--bg); border: 1px solid var(--border); border-radius: 8px; padding: .75rem; overflow-x: auto; max-width: 100%; white-space: pre; }
.skip { position: absolute; left: -999px; top: 0; background: var(--surface); padding: .5rem 1rem; z-index: 10; }
.skip:focus { left: .5rem; top: .5rem; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0,0,0,0); white-space: nowrap; border: 0; }

.container { max-width: 1120px; margin: 0 auto; padding: 1rem; }
.narrow { max-width: 440px; }
.muted { color: var(--muted); }
.small { font-size: .875rem; }
.row { display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; }
.spread { justify-content: space-between; }
.stack > * + * { margin-top: 1rem; }
.grow { flex: 1 1 auto; min-width: 0; }

/* header */
.topbar { background: var(--surface); border-bottom: 1px solid var(--border); position: sticky; top: 0; z-index: 5; }
.topbar .container { display: flex; align-items: center; gap: .75rem; padding: .6rem 1rem; flex-wrap: wrap; }
.brand { display: flex; align-items: center; gap: .5rem; font-weight: 700; font-size: 1.1rem; color: var(--text); }
.brand:hover { text-decoration: none; }
.brand svg { width: 28px; height: 28px; }
.topsearch { flex: 1 1 220px; min-width: 0; order: 2; }
.topsearch input { width: 100%; }
.nav { display: flex; gap: .25rem; align-items: center; margin-left: auto; flex-wrap: wrap; order: 3; }
.nav a, .nav button.link { padding: .35rem .6rem; border-radius: 6px; color: var(--text); }
.nav a[aria-current="page"] { background: var(--accent-soft); color: var(--accent); }
@media (max-width: 719px) {
  .topsearch { order: 4; flex-basis: 100%; }
  .nav { margin-left: auto; }
}

/* surfaces */
.card { background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); box-shadow: var(--shadow); padding: 1rem; min-width: 0; }
.card > h2:first-child, .card > h3:first-child { margin-top: 0; }
.grid { display: grid; gap: 1rem; grid-template-columns: minmax(0, 1fr); }
@media (min-width: 720px) { .grid.two { grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); } .grid.filters { grid-template-columns: 240px minmax(0, 1fr); } }
.results { list-style: none; padding: 0; margin: 0; display: grid; gap: .75rem; }
.result h3 { margin: 0 0 .25rem; font-size: 1.05rem; }
.meta { display: flex; flex-wrap: wrap; gap: .35rem 1rem; color: var(--muted); font-size: .875rem; }

/* controls */
label { display: block; font-weight: 600; font-size: .9rem; margin-bottom: .25rem; }
.field { margin-bottom: .85rem; }
.field .hint { font-weight: 400; color: var(--muted); font-size: .8rem; }
input[type=text], input[type=search], input[type=password], input[type=email], input[type=url], input[type=number], select, textarea {
  width: 100%; max-width: 100%; font: inherit; color: inherit; background: var(--surface);
  border: 1px solid var(--border); border-radius: 8px; padding: .5rem .65rem; min-height: 2.5rem;
}
textarea { min-height: 6rem; resize: vertical; }
input:focus-visible, select:focus-visible, textarea:focus-visible { outline: 3px solid var(--accent-soft); border-color: var(--accent); outline-offset: 0; }
fieldset { border: 1px solid var(--border); border-radius: 8px; padding: .5rem .75rem .75rem; margin: 0 0 .85rem; min-width: 0; }
legend { font-weight: 600; font-size: .9rem; padding: 0 .25rem; }
.check { display: inline-flex; align-items: center; gap: .4rem; font-weight: 400; margin-right: 1rem; }
.check input { width: 1.1rem; height: 1.1rem; }
button, .button {
  font: inherit; font-weight: 600; display: inline-flex; align-items: center; gap: .4rem; justify-content: center;
  border-radius: 8px; border: 1px solid var(--border); background: var(--surface); color: var(--text);
  padding: .45rem .9rem; min-height: 2.5rem; cursor: pointer; text-decoration: none; white-space: nowrap;
}
button:hover, .button:hover { border-color: var(--accent); text-decoration: none; }
button.primary, .button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-text); }
button.danger { color: var(--danger); }
button.danger:hover { background: var(--danger-soft); border-color: var(--danger); }
button.small, .button.small { padding: .2rem .55rem; min-height: 2rem; font-size: .85rem; }
button.link { background: none; border: none; color: var(--accent); padding: 0; min-height: 0; font-weight: 500; }
button[disabled] { opacity: .55; cursor: not-allowed; }
button[aria-pressed="true"] { background: var(--accent-soft); border-color: var(--accent); color: var(--accent); }

/* tables: scroll inside their own box on narrow screens, never the page */
.table-wrap { overflow-x: auto; max-width: 100%; border: 1px solid var(--border); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .55rem .7rem; border-bottom: 1px solid var(--border); vertical-align: top; }
th { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); background: var(--bg); white-space: nowrap; }
tr:last-child td { border-bottom: none; }
@media (max-width: 719px) {
  table.cards thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0,0,0,0); }
  table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; width: 100%; }
  table.cards tr { border-bottom: 1px solid var(--border); padding: .5rem 0; }
  table.cards td { border: none; padding: .2rem .75rem; }
  table.cards td[data-label] { display: grid; grid-template-columns: 6.5rem minmax(0, 1fr); gap: .5rem; align-items: center; }
  table.cards td[data-label]::before { content: attr(data-label); font-size: .75rem; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
}

/* bits */
.badge { display: inline-block; font-size: .75rem; font-weight: 600; padding: .1rem .5rem; border-radius: 999px; background: var(--bg); border: 1px solid var(--border); color: var(--muted); white-space: nowrap; }
.badge.public { background: var(--ok-soft); color: var(--ok); border-color: transparent; }
.badge.private { background: var(--warn-soft); color: var(--warn); border-color: transparent; }
.badge.held { background: var(--warn-soft); color: var(--warn); border-color: transparent; }
/* signature status and vulnerability severities: words on tinted badges (never colour alone), AA contrast in both schemes */
.badge.sig-ok { background: var(--ok-soft); color: var(--ok); border-color: transparent; }
.badge.sig-bad, .badge.sev-high { background: var(--danger-soft); color: var(--danger); border-color: transparent; }
.badge.sev-critical { background: var(--danger); color: var(--surface); border-color: transparent; }
.badge.sev-medium { background: var(--warn-soft); color: var(--warn); border-color: transparent; }
.badge.sev-low { background: var(--accent-soft); color: var(--accent); border-color: transparent; }
textarea.pem { font-family: var(--mono); font-size: .8rem; min-height: 7rem; }
.chips { display: flex; flex-wrap: wrap; gap: .3rem; }
.alert { border-radius: 8px; padding: .65rem .85rem; margin: 0 0 1rem; border: 1px solid transparent; }
.alert.error { background: var(--danger-soft); color: var(--danger); }
.alert.ok { background: var(--ok-soft); color: var(--ok); }
.alert.info { background: var(--accent-soft); color: var(--text); }
.copy { display: flex; align-items: stretch; gap: 0; max-width: 100%; }
.copy code { flex: 1 1 auto; min-width: 0; overflow-x: auto; white-space: nowrap; background: var(--bg); border: 1px solid var(--border); border-right: none; border-radius: 8px 0 0 8px; padding: .45rem .6rem; }
.copy button { border-radius: 0 8px 8px 0; }
.digest { display: inline-flex; align-items: center; gap: .3rem; white-space: nowrap; }
.digest button { padding: .1rem .4rem; min-height: 1.75rem; font-size: .8rem; }
.tabs { display: flex; gap: .25rem; border-bottom: 1px solid var(--border); margin: 1rem 0; overflow-x: auto; }
.tabs a { padding: .55rem .8rem; color: var(--muted); border-bottom: 2px solid transparent; white-space: nowrap; font-weight: 600; }
.tabs a[aria-current="page"] { color: var(--text); border-color: var(--accent); }
.tabs a:hover { text-decoration: none; color: var(--text); }
.repo-head { display: flex; gap: 1rem; flex-wrap: wrap; align-items: flex-start; justify-content: space-between; margin-bottom: .85rem; }
.repo-head h1 { font-size: 1.5rem; word-break: break-word; }
.stats { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
.stat { font-size: .9rem; color: var(--muted); }
.stat strong { color: var(--text); }
.readme { line-height: 1.65; }
.readme img { max-width: 100%; }
.readme pre { white-space: pre; }
.readme table { display: block; overflow-x: auto; }
.comment { border-top: 1px solid var(--border); padding: .85rem 0; }
.comment:first-child { border-top: none; }
.comment .body > :last-child { margin-bottom: 0; }
.empty { text-align: center; color: var(--muted); padding: 2rem 1rem; }
.pager { display: flex; gap: .5rem; align-items: center; justify-content: center; margin-top: 1rem; }
.secret { background: var(--ok-soft); border-radius: 8px; padding: .75rem; }
footer.site { color: var(--muted); font-size: .8rem; text-align: center; padding: 2rem 1rem; }
dl.kv { display: grid; grid-template-columns: minmax(0, max-content) minmax(0, 1fr); gap: .35rem 1rem; margin: 0; }
dl.kv dt { color: var(--muted); font-size: .875rem; }
dl.kv dd { margin: 0; min-width: 0; }
@media (max-width: 480px) { dl.kv { grid-template-columns: minmax(0, 1fr); } dl.kv dd { margin-bottom: .4rem; } }
.usage meter { display: block; width: 100%; height: .75rem; margin: .35rem 0; }
`;
