// The netbranch live page, served by the HTTP view (api/server/web-route.ts): the tables with search, sort and
// paging, the table shown kept live by its event stream, the primary's commits and merges as a graph with a lane
// per actor, and the diff between two commits. Plain DOM and hand-drawn SVG: no framework, no build step, nothing
// from another origin. Every request carries the token as a Bearer header. Nothing the server sends is put into
// the page as HTML: text goes in through textContent, SVG through createElementNS.

const TOKEN_KEY = 'netbranch.token';
const PAGE = 100;
const COMMITS_EVERY_MS = 2_000;
/** Three heartbeats (every 15 s) missed: the stream is dead, open another. */
const STREAM_SILENT_MS = 40_000;
const FRESH_MS = 2_500;
const SVG = 'http://www.w3.org/2000/svg';
const LANE_COLOURS = ['#2f6fb3', '#c0612b', '#3b8f4e', '#8a4fb5', '#b3407a', '#6f7f1f', '#2a8f8f', '#7a5a3a'];
const $ = (id) => document.getElementById(id);
const isRecord = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

const state = {
  hello: null,
  /** The tables' clock minus ours (ms): times in rows are shown relative to the router's now. */
  skew: 0,
  table: '',
  prefix: '',
  /** The `after` of each page before this one, and this page's. */
  afters: [],
  after: undefined,
  next: undefined,
  more: false,
  /** key → value: the page shown. */
  rows: new Map(),
  sort: { col: 'key', dir: 1 },
  /** key → when its row was first drawn (data-seen: the web bench reads it) and when a change last came for it. */
  shownAt: new Map(),
  changedAt: new Map(),
  /** Changes to keys beyond this page, since it was listed. */
  outside: 0,
  live: null,
  retries: 0,
  commits: [],
  head: -1,
  selected: null,
  marked: [],
  commitTimer: 0,
  renderQueued: false,
};

class Unauthorized extends Error {}

// ------------------------------------------------------------------ the token

const token = () => sessionStorage.getItem(TOKEN_KEY) ?? '';
const auth = () => ({ authorization: `Bearer ${token()}` });

function askToken(why = '') {
  closeLive();
  $('app').hidden = true;
  $('signout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = why;
  $('token').focus();
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  void start();
});
$('signout').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); askToken(); });

// ------------------------------------------------------------------ the API

/** The response when it is a success; a refused token asks for another. */
async function checked(res) {
  if (res.ok) return res;
  const body = await res.json().catch(() => null);
  const msg = body?.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`;
  if (res.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    askToken(msg);
    throw new Unauthorized(msg);
  }
  throw Object.assign(new Error(msg), { status: res.status });
}

async function api(path) {
  return (await checked(await fetch(path, { headers: auth(), cache: 'no-store' }))).json();
}

const tablePath = (t) => `/api/${encodeURIComponent(t)}`;

// ------------------------------------------------------------------ start

async function start() {
  if (!token()) return askToken();
  try {
    state.hello = await api('/api');
  } catch (e) {
    if (!(e instanceof Unauthorized)) askToken(e.message);
    return;
  }
  state.skew = state.hello.now - Date.now();
  $('login').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  showHello(state.hello);
  const names = state.hello.tables.map((t) => t.name);
  openTable(names.includes('nat') ? 'nat' : names[0]);
  void refreshCommits();
  clearInterval(state.commitTimer);
  state.commitTimer = setInterval(() => { if (!document.hidden) void refreshCommits(); }, COMMITS_EVERY_MS);
}

function showHello(h) {
  $('role').textContent = h.role;
  $('ifaces').textContent = (h.interfaces ?? []).map((i) => `${i.role} ${i.dev} ${i.ip}/${i.prefix}`).join(' · ');
  const tabs = $('tabs');
  tabs.replaceChildren(...h.tables.map((t) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('role', 'tab');
    b.dataset.table = t.name;
    b.textContent = t.name;
    b.title = t.keyExample ? `keys like ${t.keyExample}` : t.name;
    b.addEventListener('click', () => openTable(t.name));
    return b;
  }));
}

// ------------------------------------------------------------------ one table, live

function openTable(name) {
  state.table = name;
  state.sort = { col: 'key', dir: 1 };
  state.shownAt.clear();
  state.changedAt.clear();
  for (const b of $('tabs').children) b.setAttribute('aria-selected', String(b.dataset.table === name));
  const t = state.hello.tables.find((x) => x.name === name);
  $('prefix').value = '';
  $('prefix').placeholder = t?.keyExample ? `key prefix, e.g. ${t.keyExample.slice(0, Math.max(4, t.keyExample.length - 3))}` : 'key prefix';
  goToPage(undefined, []);
}

function goToPage(after, afters) {
  state.after = after;
  state.afters = afters;
  state.prefix = $('prefix').value;
  follow();
}

/**
 * The table's stream first, then its page: changes that come while the page loads are applied after it, so none
 * falls between the list and the stream. A stream that ends (the server stopped, a resync) is opened again and
 * the page listed again.
 */
function follow() {
  closeLive();
  const ctl = new AbortController();
  state.live = ctl;
  const pending = [];
  let listed = false;
  const onEvent = (ev) => (listed ? applyEvent(ev) : pending.push(ev));
  const onOpen = async () => {
    state.retries = 0;
    setLive('on', `following ${state.table}`);
    try {
      await loadPage();
      $('table-error').textContent = '';
    } catch (e) {
      if (!(e instanceof Unauthorized)) refused(e.message);
    }
    listed = true;
    for (const ev of pending.splice(0)) applyEvent(ev);
    render();
  };
  const ended = (e) => {
    // A refusal (forbidden, unknown table) stays one until the token or the table changes: say so, do not retry.
    if (e?.status >= 400 && e.status < 500 && !(e instanceof Unauthorized)) { setLive('off', e.message); refused(e.message); return; }
    retry(ctl, e ? e.message : 'the stream ended');
  };
  stream(state.table, state.prefix, onEvent, onOpen, ctl.signal).then(() => ended(null), ended);
}

/** The table cannot be shown: its error instead of rows. */
function refused(message) {
  $('table-error').textContent = message;
  state.rows = new Map();
  state.more = false;
  render();
}

function closeLive() {
  state.live?.abort();
  state.live = null;
}

function retry(ctl, why) {
  if (ctl.signal.aborted || state.live !== ctl || $('app').hidden) return;
  const wait = Math.min(15_000, 500 * 2 ** state.retries++);
  setLive('wait', `${why}; again in ${Math.round(wait / 1000)} s`);
  setTimeout(() => { if (state.live === ctl) follow(); }, wait);
}

function setLive(mode, title) {
  const el = $('live');
  el.className = `live ${mode}`;
  el.textContent = mode === 'on' ? 'live' : mode === 'wait' ? 'reconnecting' : 'offline';
  el.title = title;
}

/**
 * Reads `GET /api/TABLE/events` (Server-Sent Events) until it ends. EventSource cannot send an Authorization
 * header, so the stream is read with fetch() and a ReadableStream reader, and its events are parsed here.
 */
async function stream(table, prefix, onEvent, onOpen, signal) {
  const q = prefix ? `?prefix=${encodeURIComponent(prefix)}` : '';
  const res = await checked(await fetch(`${tablePath(table)}/events${q}`, { headers: auth(), cache: 'no-store', signal }));
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let opened = false;
  for (;;) {
    const { value, done } = await readWithin(reader, STREAM_SILENT_MS);
    if (done) return;
    buf += value;
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const ev = parseEvent(buf.slice(0, i));
      buf = buf.slice(i + 2);
      if (!opened) { opened = true; void onOpen(); } // the server's first block is a comment: the watch is on
      if (ev) onEvent(ev);
    }
  }
}

/** The reader's next chunk, or the end of the stream when nothing (not even a heartbeat) came for `ms`. */
function readWithin(reader, ms) {
  let timer;
  const silent = new Promise((resolve) => {
    timer = setTimeout(() => { void reader.cancel('silent'); resolve({ done: true }); }, ms);
  });
  return Promise.race([reader.read(), silent]).finally(() => clearTimeout(timer));
}

/** One SSE block: its `event:` and `data:` lines (a comment block gives null). */
function parseEvent(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  return data.length ? { event, data: JSON.parse(data.join('\n')) } : null;
}

async function loadPage() {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (state.prefix) q.set('prefix', state.prefix);
  if (state.after !== undefined) q.set('after', state.after);
  const r = await api(`${tablePath(state.table)}?${q}`);
  state.rows = new Map(r.entries.map((e) => [e.key, e.value]));
  state.more = r.more;
  state.next = r.next;
  state.outside = 0;
}

function applyEvent(ev) {
  if (ev.event === 'end') { setLive('wait', ev.data.reason); return; } // the server closes the stream next
  if (ev.event !== 'change') return;
  const { key, value } = ev.data;
  if (!onThisPage(key)) state.outside++;
  else if (value === null) state.rows.delete(key);
  else { state.rows.set(key, value); state.changedAt.set(key, Date.now()); }
  queueRender();
}

/** Is `key` within the page shown (pages are ranges of keys in the server's order)? */
function onThisPage(key) {
  if (state.after !== undefined && key <= state.after) return false;
  if (!state.more) return true;
  let last;
  for (const k of state.rows.keys()) if (last === undefined || k > last) last = k;
  return last === undefined || key <= last;
}

function queueRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => { state.renderQueued = false; render(); });
}

// ------------------------------------------------------------------ drawing the table

function render() {
  const rows = [...state.rows].map(([key, value]) => ({ key, value }));
  const cols = columnsOf(rows);
  const { col, dir } = state.sort;
  rows.sort((a, b) => dir * compare(cell(a, col), cell(b, col)));
  renderHead(cols);
  const now = Date.now();
  $('rows').tBodies[0].replaceChildren(...rows.map((r) => renderRow(r, cols, now)));
  const page = state.afters.length + 1;
  $('page-info').textContent = `${rows.length} ${rows.length === 1 ? 'entry' : 'entries'} · page ${page}${state.more ? ' · more after' : ''}${col !== 'key' ? ' · sorted within the page' : ''}`;
  $('prev').disabled = $('first').disabled = page === 1;
  $('next').disabled = !state.more;
  $('outside').hidden = state.outside === 0;
  $('outside').textContent = `${state.outside} change(s) to entries beyond this page`;
}

/** The value's fields, in the order the first rows have them (a value that is no object is one column). */
function columnsOf(rows) {
  const cols = new Set();
  for (const { value } of rows) {
    if (isRecord(value)) for (const k of Object.keys(value)) cols.add(k);
    else cols.add('value');
  }
  return ['key', ...cols];
}

function cell(row, col) {
  if (col === 'key') return row.key;
  const v = row.value;
  return isRecord(v) ? v[col] : col === 'value' ? v : undefined;
}

function compare(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = a === undefined || a === null ? '' : String(a);
  const y = b === undefined || b === null ? '' : String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function renderHead(cols) {
  const tr = document.createElement('tr');
  for (const c of cols) {
    const th = document.createElement('th');
    th.dataset.col = c;
    th.textContent = c + (state.sort.col === c ? (state.sort.dir > 0 ? ' ▲' : ' ▼') : '');
    th.setAttribute('aria-sort', state.sort.col === c ? (state.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
    tr.append(th);
  }
  $('rows').tHead.replaceChildren(tr);
}

function renderRow(r, cols, now) {
  const tr = document.createElement('tr');
  tr.dataset.key = r.key;
  if (!state.shownAt.has(r.key)) state.shownAt.set(r.key, now);
  tr.dataset.seen = String(state.shownAt.get(r.key));
  if (now - (state.changedAt.get(r.key) ?? -Infinity) < FRESH_MS) tr.className = 'fresh';
  for (const c of cols) {
    const td = document.createElement('td');
    const v = cell(r, c);
    const shown = show(c, v);
    td.textContent = shown.text;
    if (shown.title) td.title = shown.title;
    if (typeof v === 'number') td.className = 'num';
    tr.append(td);
  }
  return tr;
}

/** A cell's text: times on an epoch clock relative to the router's now, objects as JSON. */
function show(col, v) {
  if (v === undefined || v === null) return { text: '' };
  if (typeof v === 'object') return { text: JSON.stringify(v) };
  if (typeof v === 'number' && v > 1e12 && state.hello.now > 1e12 && /^(created|lastSeen|expires|time|.*At)$/.test(col)) {
    return { text: relative(v - (Date.now() + state.skew)), title: new Date(v).toISOString() };
  }
  return { text: String(v) };
}

function relative(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
  return ms < 0 ? `${text} ago` : `in ${text}`;
}

$('rows').tHead.addEventListener('click', (e) => {
  const col = e.target.closest('th')?.dataset.col;
  if (!col) return;
  state.sort = { col, dir: state.sort.col === col ? -state.sort.dir : 1 };
  render();
});
$('rows').tBodies[0].addEventListener('click', (e) => {
  const key = e.target.closest('tr')?.dataset.key;
  if (key !== undefined) void showHistory(state.table, key);
});
let searchTimer = 0;
$('prefix').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => goToPage(undefined, []), 300);
});
$('next').addEventListener('click', () => { if (state.more) goToPage(state.next, [...state.afters, state.after]); });
$('prev').addEventListener('click', () => { if (state.afters.length) goToPage(state.afters.at(-1), state.afters.slice(0, -1)); });
$('first').addEventListener('click', () => goToPage(undefined, []));

// ------------------------------------------------------------------ an entry's history

async function showHistory(table, key) {
  const out = $('details');
  try {
    const h = await api(`${tablePath(table)}/${encodeURIComponent(key)}/history?limit=20`);
    const rows = h.entries.map((e) => [`#${e.seq}`, when(e.time), e.author, e.message, e.value === null ? '(removed)' : JSON.stringify(e.value)]);
    out.replaceChildren(heading(`History of ${table} ${key}${h.complete ? '' : ' (older changes released)'}`), grid(['commit', 'time', 'author', 'message', 'value'], rows));
  } catch (e) {
    if (!(e instanceof Unauthorized)) out.replaceChildren(errorLine(e.message));
  }
}

// ------------------------------------------------------------------ commits and merges

async function refreshCommits() {
  try {
    const r = await api(`/api/commits?limit=${$('commit-limit').value}`);
    if (r.head === state.head && r.commits.length === state.commits.length) return;
    state.head = r.head;
    state.commits = r.commits;
    drawGraph();
  } catch (e) {
    if (!(e instanceof Unauthorized)) $('graph').replaceChildren(errorLine(e.message));
  }
}
$('commit-limit').addEventListener('change', () => { state.head = -1; void refreshCommits(); });

const actorOf = (author) => author.replace(/#\d+$/, '');
/** A merge of an actor's (or a person's) branch into the primary: drawn from that lane. */
const fromLane = (c) => c.kind === 'merge' || c.kind === 'fast-forward';

const ROW = 22;
const LANE = 64;
const TOP = 30;

function svg(name, attrs = {}, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** The lanes: the primary's, then one per actor whose merges are in the list. */
function lanesOf(commits) {
  const actors = [...new Set(commits.filter(fromLane).map((c) => actorOf(c.author)))].sort();
  return ['primary', ...actors];
}

function drawGraph() {
  const commits = state.commits;
  const lanes = lanesOf(commits);
  const x = (lane) => 34 + lanes.indexOf(lane) * LANE;
  const y = (i) => TOP + i * ROW + ROW / 2;
  const labelX = x(lanes.at(-1)) + 22;
  const root = svg('svg', { width: labelX + 520, height: TOP + commits.length * ROW + 8, role: 'img', 'aria-label': 'commit graph' });
  root.append(...lanes.map((l) => svg('text', { x: x(l), y: 14, class: 'lane-name', 'text-anchor': 'middle' }, l)));
  for (const l of lanes) root.append(laneLine(commits, l, x(l), y));
  commits.forEach((c, i) => root.append(commitRow(c, i, x, y(i), labelX)));
  $('graph').replaceChildren(root);
}

/** The lane's line, from its newest commit to its oldest in the list. */
function laneLine(commits, lane, lx, y) {
  const rows = commits.map((c, i) => (lane === 'primary' || (fromLane(c) && actorOf(c.author) === lane) ? i : -1)).filter((i) => i >= 0);
  if (rows.length === 0) return svg('g');
  return svg('line', { x1: lx, x2: lx, y1: y(rows[0]), y2: y(rows.at(-1)), class: lane === 'primary' ? 'lane primary' : 'lane', stroke: colour(lane) });
}

function colour(lane) {
  const lanes = lanesOf(state.commits);
  return lane === 'primary' ? '#444' : LANE_COLOURS[(lanes.indexOf(lane) - 1) % LANE_COLOURS.length];
}

function commitRow(c, i, x, cy, labelX) {
  const actor = actorOf(c.author);
  const merged = fromLane(c);
  const g = svg('g', {
    class: `commit kind-${c.kind}${merged ? ' from-actor' : ''}${c.conflicts.length ? ' conflicted' : ''}${state.selected === c.seq ? ' selected' : ''}${state.marked.includes(c.seq) ? ' marked' : ''}`,
    'data-seq': c.seq, 'data-kind': c.kind, 'data-author': c.author, 'data-conflicts': c.conflicts.length, tabindex: 0,
  });
  // The whole row takes the click, not only the node and its label.
  g.append(svg('rect', { x: 0, y: cy - ROW / 2, width: '100%', height: ROW, class: 'hit' }));
  const px = x('primary');
  if (merged) {
    g.append(svg('line', { x1: x(actor), y1: cy, x2: px, y2: cy, class: 'edge', stroke: colour(actor) }));
    g.append(svg('circle', { cx: x(actor), cy, r: 4, class: 'actor-node', fill: colour(actor) }));
  }
  g.append(svg('circle', { cx: px, cy, r: merged ? 6 : 4, class: 'node', fill: merged ? colour(actor) : '#fff', stroke: '#444' }));
  g.append(svg('text', { x: labelX, y: cy + 4, class: 'label' }, commitLabel(c)));
  g.append(svg('title', {}, `${c.message}\n${when(c.time)}`));
  return g;
}

function commitLabel(c) {
  const changes = Object.entries(c.changes).map(([t, n]) => `${t} ${n}`).join(', ');
  const settled = fromLane(c) ? ` · ${c.conflicts.length} conflict${c.conflicts.length === 1 ? '' : 's'} settled` : '';
  return `#${c.seq} ${c.kind === 'fast-forward' ? 'ff' : c.kind} ${c.author}${changes ? ` · ${changes}` : ''}${settled}`;
}

$('graph').addEventListener('click', (e) => {
  const g = e.target.closest('g.commit');
  if (!g) return;
  const seq = Number(g.dataset.seq);
  if (e.shiftKey) mark(seq);
  else select(seq);
});
$('graph').addEventListener('keydown', (e) => {
  const g = e.target.closest?.('g.commit');
  if (g && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); select(Number(g.dataset.seq)); }
});

function select(seq) {
  state.selected = seq;
  drawGraph();
  const c = state.commits.find((x) => x.seq === seq);
  if (c) showCommit(c);
}

/** Shift-click: the two commits marked last are diffed, older to newer. */
function mark(seq) {
  state.marked = [...state.marked.filter((s) => s !== seq), seq].slice(-2);
  drawGraph();
  if (state.marked.length === 2) void showDiff(Math.min(...state.marked), Math.max(...state.marked));
}

function showCommit(c) {
  const rows = [
    ['commit', `#${c.seq} (${c.kind})`], ['author', c.author], ['time', when(c.time)], ['parents', c.parents.map((p) => `#${p}`).join(', ') || '—'],
    ['message', c.message], ['changes', Object.entries(c.changes).map(([t, n]) => `${t}: ${n}`).join(', ') || 'none'],
    ['conflicts settled', String(c.conflicts.length)],
  ];
  const parts = [heading(`Commit #${c.seq}`), grid(null, rows)];
  if (c.conflicts.length) parts.push(grid(['table', 'key', 'settled by'], c.conflicts.map((x) => [x.table, x.key, x.reason])));
  const buttons = document.createElement('div');
  buttons.className = 'bar';
  if (c.parents.length) buttons.append(button('Diff with its parent', () => showDiff(c.parents[0], c.seq)));
  buttons.append(button('Diff to the head', () => showDiff(c.seq, undefined)), button('Mark for diff', () => mark(c.seq)));
  parts.push(buttons);
  $('details').replaceChildren(...parts);
}

async function showDiff(from, to) {
  const out = $('diff');
  try {
    const d = await api(`/api/diff?from=${from}${to === undefined ? '' : `&to=${to}`}&limit=500`);
    const rows = d.changes.map((x) => [x.table, x.key, ...changeText(x.before, x.after)]);
    out.replaceChildren(heading(`Diff #${d.from} → #${d.to}: ${d.changes.length}${d.more ? '+' : ''} change${d.changes.length === 1 ? '' : 's'}`),
      d.changes.length ? grid(['table', 'key', 'before', 'after'], rows) : note('nothing you may read changed'));
  } catch (e) {
    if (!(e instanceof Unauthorized)) out.replaceChildren(heading(`Diff #${from} → #${to ?? 'head'}`), errorLine(e.message));
  }
}

// ------------------------------------------------------------------ small pieces

function when(t) {
  return t > 1e12 ? `${new Date(t).toLocaleTimeString()} (${relative(t - (Date.now() + state.skew))})` : `t=${t} ms`;
}

/** A value as text: absent as a dash, a record as its fields (`state: "udp-new", pktsIn: 0`), else JSON. */
function brief(v) {
  if (v === null || v === undefined) return '—';
  return isRecord(v) ? Object.entries(v).map(([k, x]) => `${k}: ${JSON.stringify(x)}`).join(', ') : JSON.stringify(v);
}

/** A diff entry's two sides: only the fields that differ when both are records, else the whole values. */
function changeText(before, after) {
  if (!isRecord(before) || !isRecord(after)) return [brief(before), brief(after)];
  const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  return [before, after].map((side) => fields.map((k) => `${k}: ${brief(side[k])}`).join(', '));
}

function heading(text) {
  const h = document.createElement('h3');
  h.textContent = text;
  return h;
}

function note(text) {
  const p = document.createElement('p');
  p.className = 'muted';
  p.textContent = text;
  return p;
}

function errorLine(text) {
  const p = note(text);
  p.className = 'error';
  return p;
}

function button(text, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

/** A small table: a header row when `head` is given, else label/value rows. */
function grid(head, rows) {
  const t = document.createElement('table');
  t.className = 'grid';
  if (head) {
    const tr = t.createTHead().insertRow();
    for (const h of head) { const th = document.createElement('th'); th.textContent = h; tr.append(th); }
  }
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    r.forEach((v, i) => {
      const td = document.createElement(!head && i === 0 ? 'th' : 'td');
      td.textContent = v;
      tr.append(td);
    });
  }
  return t;
}

void start();
