/*
 * The Vigil console: a small single-page app over Vigil's HTTP API, in plain JavaScript (no
 * build step). Views, by URL hash:
 *
 *   #/series[?search=&state=&sort=&order=&offset=]   the series index (server-side search/paging)
 *   #/series/<key>                                   one series: chart, anomalies, events, model
 *   #/alerts                                         open alerts, history, notifications
 *   #/silences[?matchers=]                           create and expire silences
 *   #/config                                         the running config (secrets redacted)
 *   #/api                                            the API reference (/api/openapi.json)
 *
 * `/?series=<key>` (the generatorURL in notifications) opens that series. All text from the
 * server is inserted with textContent, never as HTML.
 */
/* global document, window, location, history, fetch, URLSearchParams, clearTimeout, localStorage */

const view = document.getElementById('view');
const toast = document.getElementById('toast');
const STATES = ['firing', 'silenced', 'pending', 'normal'];

// ---- helpers --------------------------------------------------------------------------------

/** Creates an element: h('a', { href: '#' }, 'text', child). `on*` attributes become listeners. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, init) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, ...init });
  const text = await res.text();
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (!res.ok) {
    const msg = body && body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`;
    throw new Error(msg);
  }
  return body;
}

function fmtTime(v) {
  if (v === null || v === undefined || v === '') return '–';
  const d = typeof v === 'number' ? new Date(v) : new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

function fmtNum(v) {
  return globalThis.VigilChart ? globalThis.VigilChart.fmtNum(v) : String(v);
}

function badge(state) {
  return h('span', { class: `badge ${state}` }, state);
}

function say(message) {
  toast.textContent = message;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => (toast.textContent = ''), 6000);
}

function labelChips(labels) {
  return h(
    'ul',
    { class: 'chips', 'aria-label': 'labels' },
    Object.entries(labels || {}).map(([k, v]) => h('li', {}, `${k}="${v}"`)),
  );
}

function seriesHref(key) {
  return `#/series/${encodeURIComponent(key)}`;
}

function matcherText(labels) {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)
    .join(', ');
}

/** Parses `name="value", name=~"re", name!=value` into Alertmanager API matchers. */
function parseMatchers(text) {
  const out = [];
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^,]*?))\s*(?:,|$)/gy;
  let m;
  let pos = 0;
  const s = text.trim();
  while (pos < s.length && (m = re.exec(s))) {
    const op = m[2];
    const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[4].trim();
    out.push({ name: m[1], value, isRegex: op.includes('~'), isEqual: !op.startsWith('!') });
    pos = re.lastIndex;
  }
  if (pos < s.length || out.length === 0) throw new Error(`cannot read matchers at "${s.slice(pos)}"`);
  return out;
}

function setView(title, ...children) {
  view.textContent = '';
  view.append(h('h1', { id: 'title', tabindex: '-1' }, title), ...children.flat());
  view.setAttribute('aria-busy', 'false');
  document.title = `${title} · Vigil`;
}

function errorView(title, err) {
  setView(title, h('p', { class: 'error', role: 'alert' }, String(err && err.message ? err.message : err)));
}

// ---- series list ----------------------------------------------------------------------------

async function seriesList(params) {
  const q = {
    search: params.get('search') || '',
    state: params.get('state') || '',
    sort: params.get('sort') || 'key',
    order: params.get('order') || 'asc',
    offset: Number(params.get('offset') || 0),
    limit: 50,
  };
  const search = h('input', {
    type: 'search',
    id: 'search',
    name: 'search',
    value: q.search,
    placeholder: 'e.g. service="api" or cpu',
    autocomplete: 'off',
  });
  const state = h(
    'select',
    { id: 'state', name: 'state' },
    h('option', { value: '' }, 'All'),
    STATES.map((s) => h('option', { value: s, selected: q.state === s }, s)),
  );
  const sort = h(
    'select',
    { id: 'sort', name: 'sort' },
    h('option', { value: 'key', selected: q.sort === 'key' }, 'Series key'),
    h('option', { value: 'state', selected: q.sort === 'state' }, 'State (firing first)'),
  );
  const order = h(
    'select',
    { id: 'order', name: 'order' },
    h('option', { value: 'asc', selected: q.order === 'asc' }, 'Ascending'),
    h('option', { value: 'desc', selected: q.order === 'desc' }, 'Descending'),
  );
  const summary = h('p', { id: 'series-summary', class: 'muted', 'aria-live': 'polite' }, 'Loading…');
  const tbody = h('tbody');
  const table = h(
    'table',
    { id: 'series-table' },
    h('caption', {}, 'Series'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col' }, 'Series'),
        h('th', { scope: 'col', class: 'num' }, 'Last score'),
        h('th', { scope: 'col', class: 'num' }, 'Samples'),
        h('th', { scope: 'col' }, 'Last sample (UTC)'),
      ),
    ),
    tbody,
  );
  const prev = h('button', { type: 'button', id: 'prev' }, '← Previous');
  const next = h('button', { type: 'button', id: 'next' }, 'Next →');
  const form = h(
    'form',
    { class: 'toolbar', role: 'search', 'aria-label': 'Series', onsubmit: (e) => e.preventDefault() },
    h('div', { class: 'field' }, h('label', { for: 'search' }, 'Search series'), search),
    h('div', { class: 'field' }, h('label', { for: 'state' }, 'State'), state),
    h('div', { class: 'field' }, h('label', { for: 'sort' }, 'Sort by'), sort),
    h('div', { class: 'field' }, h('label', { for: 'order' }, 'Order'), order),
  );
  setView('Series', form, summary, table, h('div', { class: 'pager' }, prev, next));

  let seq = 0;
  async function load() {
    const my = ++seq;
    const qs = new URLSearchParams();
    if (q.search) qs.set('search', q.search);
    if (q.state) qs.set('state', q.state);
    if (q.sort !== 'key') qs.set('sort', q.sort);
    if (q.order !== 'asc') qs.set('order', q.order);
    if (q.offset) qs.set('offset', String(q.offset));
    history.replaceState(null, '', `#/series${qs.toString() ? `?${qs}` : ''}`);
    qs.set('limit', String(q.limit));
    const t0 = window.performance.now();
    let page;
    try {
      page = await api(`/api/v1/series?${qs}`);
    } catch (err) {
      summary.textContent = `Cannot list series: ${err.message}`;
      summary.className = 'error';
      return;
    }
    if (my !== seq) return; // a newer request is on its way
    const ms = Math.round(window.performance.now() - t0);
    summary.className = 'muted';
    const first = page.total === 0 ? 0 : page.offset + 1;
    const last = page.offset + page.items.length;
    const counts = STATES.map((s) => `${page.counts[s].toLocaleString('en')} ${s}`).join(' · ');
    summary.textContent = `${first.toLocaleString('en')}–${last.toLocaleString('en')} of ${page.total.toLocaleString('en')} series (${counts}) · ${ms} ms`;
    tbody.textContent = '';
    for (const it of page.items) {
      const st = it.status || {};
      tbody.append(
        h(
          'tr',
          { 'data-key': it.key },
          h('td', {}, badge(it.state)),
          h('td', { class: 'key' }, h('a', { href: seriesHref(it.key) }, it.key)),
          h('td', { class: 'num' }, fmtNum(st.lastScore)),
          h('td', { class: 'num' }, st.samples === undefined ? '–' : st.samples.toLocaleString('en')),
          h('td', {}, Number.isFinite(st.lastTs) ? fmtTime(st.lastTs) : '–'),
        ),
      );
    }
    if (page.items.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 5 }, 'No series match.')));
    prev.disabled = page.offset === 0;
    next.disabled = last >= page.total;
    table.setAttribute('data-total', String(page.total));
  }
  let timer;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      q.search = search.value.trim();
      q.offset = 0;
      void load();
    }, 250);
  });
  for (const [el, k] of [
    [state, 'state'],
    [sort, 'sort'],
    [order, 'order'],
  ]) {
    el.addEventListener('change', () => {
      q[k] = el.value;
      q.offset = 0;
      void load();
    });
  }
  prev.addEventListener('click', () => {
    q.offset = Math.max(0, q.offset - q.limit);
    void load();
  });
  next.addEventListener('click', () => {
    q.offset += q.limit;
    void load();
  });
  await load();
}

// ---- one series -----------------------------------------------------------------------------

async function seriesPage(key) {
  let d;
  try {
    d = await api(`/api/v1/series/detail?key=${encodeURIComponent(key)}&points=2000`);
  } catch (err) {
    return errorView(key, err);
  }
  const alertLabels = { alertname: d.metric, ...d.labels };
  const silenceHref = `#/silences?matchers=${encodeURIComponent(matcherText(alertLabels))}`;
  const chart = h('div', {
    class: 'chart',
    id: 'chart',
    role: 'img',
    'aria-label': `Chart of ${key}: ${d.points.length} points, actual against the expected band, ${d.anomalies.length} anomalies, ${d.events.length} alert events`,
  });
  const alertInfo = d.alert
    ? h(
        'p',
        {},
        `Alert ${d.alert.lifecycle} since ${fmtTime(d.alert.startsAt)}`,
        d.alert.silencedBy.length ? ` · silenced by ${d.alert.silencedBy.join(', ')}` : '',
        d.alert.inhibitedBy.length ? ` · inhibited by ${d.alert.inhibitedBy.join(', ')}` : '',
        d.alert.flapping ? ' · flapping' : '',
      )
    : h('p', { class: 'muted' }, 'No open alert.');
  const facts = h('dl', { class: 'facts', id: 'model' });
  const addFact = (k, v) => facts.append(h('dt', {}, k), h('dd', {}, v));
  addFact('Detected periods', d.periods.length ? d.periods.join(', ') : 'none detected');
  addFact('Anomaly threshold', fmtNum(d.threshold));
  for (const [k, v] of Object.entries(d.model || {}))
    addFact(k, typeof v === 'number' ? fmtNum(v) : String(v));
  if (d.status) {
    addFact('Samples processed', String(d.status.samples));
    addFact('Last sample', fmtTime(d.status.lastTs));
    addFact('Last score', fmtNum(d.status.lastScore));
  }
  const anomalies = h(
    'table',
    { id: 'anomalies' },
    h('caption', {}, `Anomalies (score ≥ ${fmtNum(d.threshold)}), newest first`),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Time (UTC)'),
        h('th', { scope: 'col', class: 'num' }, 'Actual'),
        h('th', { scope: 'col', class: 'num' }, 'Expected'),
        h('th', { scope: 'col', class: 'num' }, 'Score'),
      ),
    ),
    h(
      'tbody',
      {},
      d.anomalies.length === 0
        ? h('tr', {}, h('td', { colspan: 4 }, 'None in the points shown.'))
        : d.anomalies
            .slice(-100)
            .reverse()
            .map((a) =>
              h(
                'tr',
                {},
                h('td', {}, fmtTime(a.ts)),
                h('td', { class: 'num' }, fmtNum(a.value)),
                h('td', { class: 'num' }, fmtNum(a.expected)),
                h('td', { class: 'num' }, fmtNum(a.score)),
              ),
            ),
    ),
  );
  const events = h(
    'table',
    { id: 'events' },
    h('caption', {}, 'Alert events'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Event'),
        h('th', { scope: 'col' }, 'Event time (UTC)'),
        h('th', { scope: 'col' }, 'Recorded at'),
        h('th', { scope: 'col', class: 'num' }, 'Score'),
        h('th', { scope: 'col' }, 'Stage'),
      ),
    ),
    h(
      'tbody',
      {},
      d.events.length === 0
        ? h('tr', {}, h('td', { colspan: 5 }, 'No alert events.'))
        : d.events
            .slice()
            .reverse()
            .map((e) =>
              h(
                'tr',
                {},
                h('td', {}, badge(e.status)),
                h('td', {}, fmtTime(e.ts)),
                h('td', {}, fmtTime(e.at)),
                h('td', { class: 'num' }, fmtNum(e.score)),
                h('td', {}, e.stage || ''),
              ),
            ),
    ),
  );
  setView(
    key,
    h(
      'p',
      {},
      badge(d.state),
      ' ',
      h('a', { href: silenceHref, id: 'silence-series' }, 'Silence this series…'),
    ),
    labelChips(alertLabels),
    alertInfo,
    h(
      'figure',
      {},
      chart,
      h(
        'figcaption',
        {},
        'Blue: actual. Dashed purple: expected. Shaded: the band of normal values. Red dots: anomalies. ' +
          'Vertical lines: alert events (F firing, R resolved).',
      ),
    ),
    h(
      'div',
      { class: 'grid' },
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'model-h' },
        h('h2', { id: 'model-h' }, 'Model'),
        facts,
      ),
    ),
    h('h2', {}, 'Anomalies'),
    anomalies,
    h('h2', {}, 'Alert events'),
    events,
  );
  if (!globalThis.VigilChart) {
    chart.textContent = 'The chart library did not load.';
    return;
  }
  globalThis.VigilChart.render(chart, d, {});
  chart.setAttribute('data-rendered', 'true');
}

// ---- alerts ---------------------------------------------------------------------------------

function alertName(labels) {
  const { alertname, ...rest } = labels;
  return h('span', {}, h('strong', {}, alertname || '(no alertname)'), ' ', labelChips(rest));
}

async function alertsPage() {
  let open;
  let hist;
  let notes;
  try {
    [open, hist, notes] = await Promise.all([
      api('/api/v1/alerts'),
      api('/api/v1/alerts/history?limit=100'),
      api('/api/v1/notifications?limit=50'),
    ]);
  } catch (err) {
    return errorView('Alerts', err);
  }
  const openTable = h(
    'table',
    { id: 'open-alerts' },
    h('caption', {}, `Open alerts (${open.length})`),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col' }, 'Alert'),
        h('th', { scope: 'col' }, 'Since (UTC)'),
        h('th', { scope: 'col', class: 'num' }, 'Actual'),
        h('th', { scope: 'col', class: 'num' }, 'Expected'),
        h('th', { scope: 'col', class: 'num' }, 'Score'),
        h('th', { scope: 'col' }, 'Suppressed by'),
        h('th', { scope: 'col' }, 'Actions'),
      ),
    ),
    h(
      'tbody',
      {},
      open.length === 0
        ? h('tr', {}, h('td', { colspan: 8 }, 'No open alerts.'))
        : open.map((a) => {
            const v = a.vigil || {};
            const by = [
              ...a.status.silencedBy.map((s) => `silence ${s}`),
              ...a.status.inhibitedBy.map((s) => `inhibited by ${s}`),
              ...a.status.mutedBy,
            ];
            return h(
              'tr',
              { 'data-fingerprint': a.fingerprint },
              h(
                'td',
                {},
                badge(a.lifecycle === 'pending' ? 'pending' : a.status.state),
                a.flapping ? ' flapping' : '',
              ),
              h('td', {}, alertName(a.labels)),
              h('td', {}, fmtTime(a.startsAt)),
              h('td', { class: 'num' }, fmtNum(v.actual)),
              h('td', { class: 'num' }, fmtNum(v.expected)),
              h('td', { class: 'num' }, fmtNum(v.score)),
              h('td', {}, by.join(', ') || '–'),
              h(
                'td',
                {},
                v.seriesKey ? h('a', { href: seriesHref(v.seriesKey) }, 'Chart') : '',
                ' ',
                h(
                  'a',
                  {
                    href: `#/silences?matchers=${encodeURIComponent(matcherText(a.labels))}`,
                    'data-action': 'silence',
                  },
                  'Silence…',
                ),
              ),
            );
          }),
    ),
  );
  const histTable = h(
    'table',
    { id: 'alert-history' },
    h('caption', {}, 'History (firing and resolved, newest first)'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Recorded (UTC)'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Alert'),
        h('th', { scope: 'col' }, 'Started (UTC)'),
        h('th', { scope: 'col', class: 'num' }, 'Score'),
      ),
    ),
    h(
      'tbody',
      {},
      hist.entries.length === 0
        ? h('tr', {}, h('td', { colspan: 5 }, 'No history yet.'))
        : hist.entries.map((e) =>
            h(
              'tr',
              {},
              h('td', {}, fmtTime(e.at)),
              h('td', {}, badge(e.status)),
              h('td', {}, e.seriesKey ? h('a', { href: seriesHref(e.seriesKey) }, e.seriesKey) : e.alertname),
              h('td', {}, fmtTime(e.startsAt)),
              h('td', { class: 'num' }, fmtNum(e.score)),
            ),
          ),
    ),
  );
  const noteTable = h(
    'table',
    { id: 'notifications' },
    h('caption', {}, 'Notifications (delivery log, newest first)'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Created (UTC)'),
        h('th', { scope: 'col' }, 'Receiver'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Reason'),
        h('th', { scope: 'col' }, 'Alerts'),
        h('th', { scope: 'col', class: 'num' }, 'Attempts'),
      ),
    ),
    h(
      'tbody',
      {},
      notes.notifications.length === 0
        ? h('tr', {}, h('td', { colspan: 6 }, 'No notifications yet.'))
        : notes.notifications.map((n) =>
            h(
              'tr',
              {},
              h('td', {}, fmtTime(n.createdAt)),
              h('td', {}, `${n.receiver} (${n.integrationType})`),
              h('td', {}, badge(n.status)),
              h('td', {}, n.reason),
              h('td', {}, n.alerts.map((a) => `${a.alertname} ${a.status}`).join(', ')),
              h('td', { class: 'num' }, String(n.attemptCount)),
            ),
          ),
    ),
  );
  setView('Alerts', openTable, h('h2', {}, 'History'), histTable, h('h2', {}, 'Notifications'), noteTable);
}

// ---- silences -------------------------------------------------------------------------------

async function silencesPage(params) {
  const matchers = h('input', {
    id: 'matchers',
    name: 'matchers',
    required: true,
    value: params.get('matchers') || '',
    size: 60,
    'aria-describedby': 'matchers-help',
  });
  const duration = h(
    'select',
    { id: 'duration', name: 'duration' },
    [
      ['30m', 30],
      ['1h', 60],
      ['2h', 120],
      ['4h', 240],
      ['1d', 1440],
      ['1w', 10080],
    ].map(([label, min]) => h('option', { value: String(min), selected: label === '2h' }, label)),
  );
  const createdBy = h('input', {
    id: 'created-by',
    name: 'createdBy',
    required: true,
    value: (window.localStorage && localStorage.getItem('vigil.createdBy')) || '',
    autocomplete: 'username',
  });
  const comment = h('textarea', { id: 'comment', name: 'comment', required: true });
  const status = h('p', { id: 'silence-status', role: 'status', 'aria-live': 'polite' });
  const form = h(
    'form',
    { id: 'silence-form', class: 'panel', 'aria-labelledby': 'new-silence' },
    h('h2', { id: 'new-silence' }, 'New silence'),
    h(
      'div',
      { class: 'toolbar' },
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'matchers' }, 'Matchers'),
        matchers,
        h(
          'small',
          { id: 'matchers-help', class: 'muted' },
          'e.g. alertname="cpu", host=~"db-.*" (all must match)',
        ),
      ),
      h('div', { class: 'field' }, h('label', { for: 'duration' }, 'Duration'), duration),
    ),
    h(
      'div',
      { class: 'toolbar' },
      h('div', { class: 'field' }, h('label', { for: 'created-by' }, 'Created by'), createdBy),
      h('div', { class: 'field' }, h('label', { for: 'comment' }, 'Comment'), comment),
    ),
    h('button', { type: 'submit', class: 'primary', id: 'create-silence' }, 'Create silence'),
    status,
  );
  const showExpired = h('input', { type: 'checkbox', id: 'show-expired' });
  const tbody = h('tbody');
  const list = h(
    'table',
    { id: 'silences' },
    h('caption', {}, 'Silences'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col' }, 'Matchers'),
        h('th', { scope: 'col' }, 'Starts (UTC)'),
        h('th', { scope: 'col' }, 'Ends (UTC)'),
        h('th', { scope: 'col' }, 'Created by'),
        h('th', { scope: 'col' }, 'Comment'),
        h('th', { scope: 'col' }, 'Actions'),
      ),
    ),
    tbody,
  );
  setView('Silences', form, h('p', {}, h('label', {}, showExpired, ' Show expired silences')), list);

  async function load() {
    let all;
    try {
      all = await api('/api/v1/silences');
    } catch (err) {
      tbody.textContent = '';
      tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'error' }, err.message)));
      return;
    }
    tbody.textContent = '';
    const shown = all.filter((s) => showExpired.checked || s.status.state !== 'expired');
    if (shown.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 7 }, 'No silences.')));
    for (const s of shown) {
      const expire =
        s.source === 'api' && s.status.state !== 'expired'
          ? h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'data-action': 'expire',
                'aria-label': `Expire silence ${s.id}`,
                onclick: async (e) => {
                  e.target.disabled = true;
                  try {
                    await api(`/api/v1/silences/${encodeURIComponent(s.id)}`, { method: 'DELETE' });
                    say(`Silence ${s.id} expired.`);
                  } catch (err) {
                    say(`Cannot expire: ${err.message}`);
                  }
                  await load();
                },
              },
              'Expire',
            )
          : s.source === 'config'
            ? h('span', { class: 'muted' }, 'from config')
            : '';
      tbody.append(
        h(
          'tr',
          { 'data-silence-id': s.id },
          h('td', {}, badge(s.status.state)),
          h(
            'td',
            { class: 'key' },
            s.matchers
              .map((m) => `${m.name}${m.isEqual === false ? '!' : '='}${m.isRegex ? '~' : ''}"${m.value}"`)
              .join(', '),
          ),
          h('td', {}, fmtTime(s.startsAt)),
          h('td', {}, fmtTime(s.endsAt)),
          h('td', {}, s.createdBy),
          h('td', {}, s.comment),
          h('td', {}, expire),
        ),
      );
    }
  }
  showExpired.addEventListener('change', () => void load());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.className = '';
    let parsed;
    try {
      parsed = parseMatchers(matchers.value);
    } catch (err) {
      status.className = 'error';
      status.textContent = err.message;
      matchers.focus();
      return;
    }
    const now = Date.now();
    const body = {
      matchers: parsed,
      startsAt: new Date(now).toISOString(),
      endsAt: new Date(now + Number(duration.value) * 60_000).toISOString(),
      createdBy: createdBy.value.trim(),
      comment: comment.value.trim(),
    };
    const button = document.getElementById('create-silence');
    button.disabled = true;
    try {
      const r = await api('/api/v1/silences', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
      });
      if (window.localStorage) localStorage.setItem('vigil.createdBy', body.createdBy);
      status.textContent = `Silence ${r.silenceID} created.`;
      status.setAttribute('data-silence-id', r.silenceID);
      comment.value = '';
      await load();
    } catch (err) {
      status.className = 'error';
      status.textContent = `Cannot create the silence: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  });
  await load();
}

// ---- config and API reference ---------------------------------------------------------------

async function configPage() {
  try {
    const cfg = await api('/api/v1/config');
    setView(
      'Running configuration',
      h('p', { class: 'muted' }, 'Defaults filled in; secrets are shown as "<secret>".'),
      h(
        'pre',
        { class: 'config', id: 'config', tabindex: '0', 'aria-label': 'configuration (JSON)' },
        JSON.stringify(cfg, null, 2),
      ),
    );
  } catch (err) {
    errorView('Running configuration', err);
  }
}

async function apiPage() {
  let doc;
  try {
    doc = await api('/api/openapi.json');
  } catch (err) {
    return errorView('API reference', err);
  }
  const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || 'other';
      if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, ops: [] });
      byTag.get(tag).ops.push({ path, method, op });
    }
  }
  const sections = [];
  for (const { tag, ops } of byTag.values()) {
    if (ops.length === 0) continue;
    sections.push(
      h(
        'section',
        { 'aria-labelledby': `tag-${tag.name}` },
        h('h2', { id: `tag-${tag.name}` }, tag.name),
        tag.description ? h('p', { class: 'muted' }, tag.description) : '',
        ops.map(({ path, method, op }) =>
          h(
            'div',
            { class: `op ${method}` },
            h(
              'p',
              {},
              h('span', { class: 'method' }, method.toUpperCase()),
              h('code', {}, path),
              ' — ',
              op.summary || '',
            ),
            op.description ? h('p', { class: 'muted' }, op.description) : '',
            op.parameters && op.parameters.length
              ? h(
                  'p',
                  {},
                  'Parameters: ',
                  op.parameters.map((p) => `${p.name} (${p.in}${p.required ? ', required' : ''})`).join(', '),
                )
              : '',
            h('p', { class: 'muted' }, 'Responses: ', Object.keys(op.responses || {}).join(', ')),
          ),
        ),
      ),
    );
  }
  setView(
    `API reference (OpenAPI ${doc.openapi})`,
    h('p', {}, 'Machine-readable: ', h('a', { href: '/api/openapi.json' }, '/api/openapi.json'), '.'),
    sections,
  );
}

// ---- router ---------------------------------------------------------------------------------

async function route() {
  view.setAttribute('aria-busy', 'true');
  const hash = location.hash.replace(/^#/, '') || '/series';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  const section = path.split('/')[1] || 'series';
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.getAttribute('data-nav') === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const rest = path.slice(`/${section}/`.length);
  if (section === 'series' && rest) await seriesPage(decodeURIComponent(rest));
  else if (section === 'series') await seriesList(params);
  else if (section === 'alerts') await alertsPage();
  else if (section === 'silences') await silencesPage(params);
  else if (section === 'config') await configPage();
  else if (section === 'api') await apiPage();
  else setView('Not found', h('p', {}, 'No such page. ', h('a', { href: '#/series' }, 'Series')));
  const title = document.getElementById('title');
  if (title && route.navigated) title.focus();
  route.navigated = true;
  document.body.setAttribute('data-view', section);
}

window.addEventListener('hashchange', () => void route());
const fromLink = new URLSearchParams(location.search).get('series');
if (fromLink) history.replaceState(null, '', `${location.pathname}${seriesHref(fromLink)}`);
// chart.js and uPlot are deferred classic scripts: they have run before this module.
void route();
