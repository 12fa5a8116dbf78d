// The dashboard's script, served as /ui/app.js so that the page's Content-Security-Policy can
// refuse every inline script (script-src 'self'). Embedded in the binary with the page.
(() => {
  'use strict';

  const MAX_ROWS = 500;
  const BACKFILL = 100;
  const REFRESH_MS = 5000;
  const TOKEN_KEY = 'netpulse.token';
  const SEVERITIES = ['info', 'warning', 'minor', 'major', 'critical'];
  const FILTERS = [
    ['f-source', 'source'],
    ['f-device', 'device'],
    ['f-type', 'type_prefix'],
    ['f-severity', 'min_severity'],
    ['f-alarmstate', 'alarmstate'],
  ];
  const $ = (id) => document.getElementById(id);

  // ---------- small helpers (text only: nothing untrusted goes through innerHTML) ----------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function cell(className, text, title) {
    const td = el('td', className, text);
    if (title) td.title = title;
    return td;
  }
  function severityOf(value) {
    return SEVERITIES.includes(value) ? value : 'info';
  }
  function badge(severity) {
    const sev = severityOf(severity);
    return el('span', 'badge ' + sev, severity || 'info');
  }
  function num(value) {
    return typeof value === 'number' ? value.toLocaleString() : (value ?? '–');
  }
  const pad = (n) => String(n).padStart(2, '0');
  function parseTime(value) {
    if (!value) return null;
    const date = new Date(value);
    return isNaN(date.getTime()) ? null : date;
  }
  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }
  /** Local time: HH:MM:SS today, "Mon DD HH:MM" otherwise. */
  function shortTime(value) {
    const date = parseTime(value);
    if (!date) return '–';
    const hms = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
    if (sameDay(date, new Date())) return hms;
    return date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) +
      ` ${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }
  function fullTime(value) {
    const date = parseTime(value);
    return date ? date.toLocaleString() + ` (${value})` : '';
  }
  function ago(value) {
    const date = parseTime(value);
    if (!date) return '';
    let s = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
    if (s < 60) return `${s}s ago`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ago`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h}h ${m % 60}m ago`;
    return `${Math.floor(h / 24)}d ago`;
  }
  /** The end of a CloudEvents type (the full one is in the title): com.cisco.sdwan.alarm.raised → alarm.raised. */
  function shortType(type) {
    const parts = String(type || '').split('.');
    return parts.length > 2 ? parts.slice(-2).join('.') : String(type || '');
  }
  function sourceName(source) {
    return String(source || '').replace(/^\/netpulse\//, '');
  }
  function safeLink(url) {
    try {
      const parsed = new URL(url, location.href);
      return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null;
    } catch (_) {
      return null;
    }
  }
  function nowLabel() {
    const d = new Date();
    return `updated ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  // ---------- the token ----------
  let token = null;
  let authNeeded = false;

  function loadToken() {
    const hash = location.hash.replace(/^#/, '');
    let fromHash = null;
    for (const part of hash.split('&')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq) === 'token') {
        try { fromHash = decodeURIComponent(part.slice(eq + 1)); } catch (_) { fromHash = part.slice(eq + 1); }
      }
    }
    if (fromHash !== null) {
      token = fromHash || null;
      storeToken(token);
      // The token must not stay in the address bar, the history or a bookmark.
      history.replaceState(null, '', location.pathname + location.search);
    } else {
      try { token = sessionStorage.getItem(TOKEN_KEY); } catch (_) { token = null; }
    }
  }
  function storeToken(value) {
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) { /* storage disabled: keep it in memory */ }
  }

  function askForToken(message) {
    if (!authNeeded) {
      authNeeded = true;
      stopStream();
      setStatus('token needed', 'down');
    }
    $('token-error').textContent = message || '';
    $('token-overlay').hidden = false;
    const input = $('token-input');
    input.value = '';
    input.focus();
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('token-input').value.trim();
    if (!value) return;
    token = value;
    storeToken(token);
    authNeeded = false;
    $('token-overlay').hidden = true;
    restartStream();
    refreshAll();
    document.dispatchEvent(new CustomEvent('netpulse:token'));
  });
  $('token-button').addEventListener('click', () => {
    $('token-error').textContent = '';
    $('token-overlay').hidden = false;
    $('token-input').focus();
  });
  $('token-overlay').addEventListener('click', (e) => {
    if (e.target === $('token-overlay') && !authNeeded) $('token-overlay').hidden = true;
  });

  // ---------- the API ----------
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function apiUrl(path, params) {
    const url = new URL(path, document.baseURI);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== '' && value !== null && value !== undefined) url.searchParams.set(key, value);
    }
    return url;
  }

  /** A call of the API; `options.method` and `options.body` (sent as JSON) for changes. */
  async function api(path, params, options) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    const init = { headers, cache: 'no-store', method: (options && options.method) || 'GET' };
    if (options && options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    let response;
    try {
      response = await fetch(apiUrl(path, params), init);
    } catch (_) {
      throw new ApiError(0, 'network', 'netpulse is not reachable');
    }
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch (_) { /* not JSON */ }
      const message = (body && typeof body.error === 'string') ? body.error : `HTTP ${response.status}`;
      const error = new ApiError(response.status, body && body.code, message);
      if (response.status === 401) {
        askForToken(token ? `The token was refused: ${message}` : '');
      }
      throw error;
    }
    return response.json();
  }

  // ---------- filters ----------
  function currentFilters() {
    const filters = {};
    for (const [id, key] of FILTERS) {
      const value = $(id).value.trim();
      if (value) filters[key] = value;
    }
    return filters;
  }
  function loadFiltersFromUrl() {
    const params = new URLSearchParams(location.search);
    for (const [id, key] of FILTERS) {
      if (params.has(key)) $(id).value = params.get(key);
    }
  }
  function saveFiltersToUrl() {
    const params = new URLSearchParams(location.search);
    for (const [, key] of FILTERS) params.delete(key);
    for (const [key, value] of Object.entries(currentFilters())) params.set(key, value);
    const query = params.toString();
    history.replaceState(null, '', location.pathname + (query ? '?' + query : ''));
  }
  let filterTimer = null;
  function filtersChanged(immediate) {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      saveFiltersToUrl();
      restartStream();
    }, immediate ? 0 : 450);
  }
  for (const [id] of FILTERS) {
    const input = $(id);
    if (input.tagName === 'SELECT') input.addEventListener('change', () => filtersChanged(true));
    else {
      input.addEventListener('input', () => filtersChanged(false));
      input.addEventListener('change', () => filtersChanged(true));
    }
  }
  $('filters').addEventListener('submit', (e) => { e.preventDefault(); filtersChanged(true); });
  $('f-clear').addEventListener('click', () => {
    for (const [id] of FILTERS) $(id).value = '';
    filtersChanged(true);
  });

  // ---------- the event list ----------
  const tbody = $('events');
  const rows = new Map(); // seq -> row
  const eventsBySeq = new Map(); // seq -> event (for the details view)

  function renderEvent(ev, fresh) {
    const seq = Number(ev.seq);
    const sev = severityOf(ev.severity);
    const tr = el('tr', `event sev-${sev}` + (fresh ? ' fresh' : ''));
    tr.dataset.seq = String(seq);
    tr.appendChild(cell('time', shortTime(ev.time), fullTime(ev.time)));
    const sevCell = cell('sev');
    sevCell.appendChild(badge(ev.severity));
    tr.appendChild(sevCell);
    tr.appendChild(cell('device', ev.device || '–', ev.device));
    tr.appendChild(cell('c-src', sourceName(ev.source), ev.source));
    tr.appendChild(cell('type c-type', shortType(ev.type), ev.type));
    const summary = cell('summary', null, ev.summary);
    if (ev.alarmstate === 'raised' || ev.alarmstate === 'cleared') {
      summary.appendChild(el('span', 'tag ' + ev.alarmstate, ev.alarmstate));
    }
    if (ev.resync) summary.appendChild(el('span', 'tag resync', 'resync'));
    summary.appendChild(document.createTextNode(ev.summary || ''));
    const link = ev.link ? safeLink(ev.link) : null;
    if (link) {
      const a = el('a', 'ext', '↗');
      a.href = link;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      a.title = 'Open on its platform';
      a.addEventListener('click', (e) => e.stopPropagation());
      summary.appendChild(a);
    }
    tr.appendChild(summary);
    return tr;
  }

  function addEvent(ev, fresh) {
    const seq = Number(ev && ev.seq);
    if (!Number.isFinite(seq) || rows.has(seq)) return false;
    const tr = renderEvent(ev, fresh);
    // Newest (highest seq) on top; events normally arrive in order, so look from the ends.
    const last = tbody.lastElementChild;
    if (!last || Number(last.dataset.seq) > seq) {
      tbody.appendChild(tr);
    } else {
      let before = tbody.firstElementChild;
      while (before && Number(before.dataset.seq) > seq) before = before.nextElementSibling;
      tbody.insertBefore(tr, before);
    }
    rows.set(seq, tr);
    eventsBySeq.set(seq, ev);
    while (rows.size > MAX_ROWS) {
      const oldest = tbody.lastElementChild;
      const oldSeq = Number(oldest.dataset.seq);
      oldest.remove();
      rows.delete(oldSeq);
      eventsBySeq.delete(oldSeq);
    }
    updateShown();
    return true;
  }

  function clearEvents() {
    tbody.textContent = '';
    rows.clear();
    eventsBySeq.clear();
    updateShown();
  }

  function updateShown() {
    $('shown').textContent = rows.size.toLocaleString();
    $('events-empty').hidden = rows.size > 0;
  }

  tbody.addEventListener('click', (e) => {
    const tr = e.target.closest('tr.event');
    if (!tr) return;
    const ev = eventsBySeq.get(Number(tr.dataset.seq));
    if (!ev) return;
    $('details-title').textContent = `#${ev.seq} ${ev.device || ''} — ${ev.summary || ev.type || ''}`;
    $('details-json').textContent = JSON.stringify(ev, null, 2);
    $('details').hidden = false;
    // alerting.js shows the event's trace and offers to silence it.
    document.dispatchEvent(new CustomEvent('netpulse:details', { detail: ev }));
  });
  $('details-close').addEventListener('click', () => { $('details').hidden = true; });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') $('details').hidden = true;
  });

  // ---------- the live stream (SSE) ----------
  let stream = null;
  let generation = 0;
  let lastSeq = null;
  let received = 0;
  let retryTimer = null;
  let retryDelay = 1000;
  let noticeTimer = null;

  function setStatus(text, kind) {
    $('status').textContent = text;
    $('conn').className = 'conn ' + kind;
  }

  function stopStream() {
    generation++;
    clearTimeout(retryTimer);
    if (stream) { stream.close(); stream = null; }
  }

  /** New filters (or a new token): clear the list, show recent history, then go live from there. */
  async function restartStream() {
    stopStream();
    const gen = generation;
    clearEvents();
    lastSeq = null;
    retryDelay = 1000;
    if (authNeeded) return;
    setStatus('connecting', 'wait');
    $('events-empty').textContent = 'Waiting for events…';
    try {
      const page = await api('api/v1/events', Object.assign(currentFilters(), { order: 'newest', limit: BACKFILL }));
      if (gen !== generation) return;
      for (const ev of page.events || []) {
        addEvent(ev, false);
        if (lastSeq === null || Number(ev.seq) > lastSeq) lastSeq = Number(ev.seq);
      }
      $('events-meta').textContent = '';
    } catch (err) {
      if (gen !== generation || authNeeded) return;
      $('events-meta').textContent = `history unavailable: ${err.message}`;
    }
    connect(gen);
  }

  function connect(gen) {
    if (gen !== generation || authNeeded) return;
    const params = currentFilters();
    if (lastSeq !== null) params.after = lastSeq;
    if (token) params.access_token = token;
    const source = new EventSource(apiUrl('api/v1/events/stream', params));
    stream = source;

    source.onopen = () => {
      if (gen !== generation) return;
      retryDelay = 1000;
      setStatus('live', 'live');
    };
    source.onmessage = (message) => {
      if (gen !== generation) return;
      let ev;
      try { ev = JSON.parse(message.data); } catch (_) { return; }
      if (!ev || typeof ev !== 'object') return;
      const seq = Number(ev.seq);
      if (Number.isFinite(seq) && (lastSeq === null || seq > lastSeq)) lastSeq = seq;
      if (addEvent(ev, true)) {
        received++;
        $('received').textContent = received.toLocaleString();
      }
      if (ev.alarmstate === 'raised' || ev.alarmstate === 'cleared') alarmsSoon();
      // An operator acknowledged or closed an alarm (here, another screen, a Webex room).
      if (typeof ev.type === 'string' && ev.type.startsWith('io.netpulse.operator.alarm.')) alarmsSoon();
    };
    source.addEventListener('notice', (message) => {
      if (gen !== generation) return;
      let notice = {};
      try { notice = JSON.parse(message.data) || {}; } catch (_) { /* keep empty */ }
      showNotice(notice);
    });
    source.onerror = () => {
      if (gen !== generation) return;
      if (source.readyState === EventSource.CLOSED) {
        // The server refused the stream (e.g. 401) or answered something else than a stream:
        // the browser gives up, so find out why and retry ourselves.
        stream = null;
        setStatus('reconnecting', 'wait');
        probeThenRetry(gen);
      } else {
        // The browser reconnects by itself, sending Last-Event-ID.
        setStatus('reconnecting', 'wait');
      }
    };
  }

  async function probeThenRetry(gen) {
    try {
      await api('api/v1/events', Object.assign(currentFilters(), { limit: 1 }));
    } catch (err) {
      if (gen !== generation || authNeeded) return;
      if (err.status === 400 || err.status === 403) {
        setStatus('stream refused', 'down');
        $('events-meta').textContent = err.message;
      }
    }
    if (gen !== generation || authNeeded) return;
    retryTimer = setTimeout(() => connect(gen), retryDelay);
    retryDelay = Math.min(retryDelay * 2, 15000);
  }

  function showNotice(notice) {
    const box = $('notice');
    const kind = notice.notice === 'retention' ? 'Some events are no longer stored'
      : notice.notice === 'lagging' ? 'This screen fell behind the event rate' : 'Notice';
    box.textContent = `${kind}: ${notice.message || ''}`;
    box.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { box.hidden = true; }, 30000);
  }

  // ---------- alarms ----------
  let alarmsBusy = false;
  let alarmsAgain = false;
  let alarmsTimer = null;
  function alarmsSoon() {
    clearTimeout(alarmsTimer);
    alarmsTimer = setTimeout(refreshAlarms, 250);
  }

  async function refreshAlarms() {
    if (authNeeded) return;
    if (alarmsBusy) { alarmsAgain = true; return; }
    alarmsBusy = true;
    try {
      const data = await api('api/v1/alarms', { state: 'active' });
      renderAlarms(data.alarms || []);
      setMeta('alarms-meta', nowLabel(), false);
    } catch (err) {
      setMeta('alarms-meta', err.message, true);
    } finally {
      alarmsBusy = false;
      if (alarmsAgain) { alarmsAgain = false; alarmsSoon(); }
    }
  }

  function renderAlarms(alarms) {
    const body = $('alarms');
    const rank = (a) => SEVERITIES.indexOf(severityOf(a.severity));
    alarms = alarms.filter((a) => a.raised !== false).slice().sort((a, b) =>
      rank(b) - rank(a) || String(b.last_seen || '').localeCompare(String(a.last_seen || '')));
    const fragment = document.createDocumentFragment();
    const counts = {};
    for (const alarm of alarms) {
      const sev = severityOf(alarm.severity);
      counts[sev] = (counts[sev] || 0) + 1;
      const tr = el('tr', 'alarm sev-' + sev + (alarm.operator ? ' op-' + alarm.operator.state : ''));
      tr.dataset.key = alarm.key || '';
      const sevCell = cell('sev');
      sevCell.appendChild(badge(alarm.severity));
      tr.appendChild(sevCell);
      tr.appendChild(cell('device', alarm.device || '–', alarm.device));
      const summary = cell('summary', null, [alarm.summary, alarm.type, alarm.source].filter(Boolean).join('\n'));
      summary.appendChild(el('div', 'clamp', alarm.summary || alarm.type || ''));
      tr.appendChild(summary);
      tr.appendChild(cell('time c-seen-first', shortTime(alarm.first_seen), fullTime(alarm.first_seen)));
      tr.appendChild(cell('time', shortTime(alarm.last_seen), `${fullTime(alarm.last_seen)} — ${ago(alarm.last_seen)}`));
      tr.appendChild(cell('num', num(alarm.events)));
      tr.appendChild(operatorCell(alarm));
      fragment.appendChild(tr);
    }
    if (!alarms.length) {
      const tr = el('tr');
      const td = cell('empty', 'No active alarms');
      td.colSpan = 7;
      tr.appendChild(td);
      fragment.appendChild(tr);
    }
    body.replaceChildren(fragment);
    $('alarm-count').textContent = alarms.length.toLocaleString();
    document.title = alarms.length ? `(${alarms.length}) netpulse` : 'netpulse';
    const summary = $('alarm-summary');
    summary.replaceChildren();
    for (const sev of SEVERITIES.slice().reverse()) {
      if (counts[sev]) summary.appendChild(el('span', 'badge ' + sev, `${counts[sev]} ${sev}`));
    }
  }

  /**
   * What an operator did to an alarm (acknowledged by whom, when, with what note) and, for a token
   * with the ack scope (body.can-ack, set by alerting.js), its Ack and Close buttons.
   */
  function operatorCell(alarm) {
    const td = cell('operator');
    const op = alarm.operator;
    if (op) {
      const where = op.via && op.via.channel === 'webex' ? ' in Webex' : '';
      td.appendChild(el('span', 'op ' + op.state, `${op.state === 'closed' ? 'closed' : 'ack'} by ${op.by}`));
      td.title = `${op.state} by ${op.by}${where} at ${fullTime(op.at)}${op.note ? ': ' + op.note : ''}`;
    }
    const actions = el('span', 'actions ack-only');
    if (!op) actions.appendChild(alarmButton(alarm.key, 'ack', 'Ack', 'Acknowledge: someone is on it'));
    if (!op || op.state !== 'closed') {
      actions.appendChild(alarmButton(alarm.key, 'close', 'Close', 'Close: off the active list until it is raised again'));
    }
    td.appendChild(actions);
    return td;
  }

  function alarmButton(key, action, label, title) {
    const button = el('button', 'alarm-' + action, label);
    button.type = 'button';
    button.title = title;
    button.addEventListener('click', async (event) => {
      event.stopPropagation();
      button.disabled = true;
      try {
        // The key holds ':' and '/': one percent-encoded path segment.
        await api(`api/v1/alarms/${encodeURIComponent(key || '')}/${action}`, null, { method: 'POST', body: {} });
      } catch (err) {
        setMeta('alarms-meta', err.message, true);
        button.disabled = false;
      }
      alarmsSoon();
    });
    return button;
  }

  // ---------- sources and sinks ----------
  function stateClass(state) {
    if (state === 'connected') return 'ok';
    if (state === 'backoff' || state === 'connecting') return 'warn';
    return 'bad';
  }

  function metric(label, value, alert) {
    const m = el('div', 'metric' + (alert ? ' alert' : ''));
    m.appendChild(el('span', 'v', num(value)));
    m.appendChild(el('span', 'l', label));
    return m;
  }

  async function refreshSources() {
    if (authNeeded) return;
    try {
      const data = await api('api/v1/sources');
      renderSources(data.sources || []);
      setMeta('sources-meta', nowLabel(), false);
    } catch (err) {
      setMeta('sources-meta', err.message, true);
    }
  }

  function renderSources(sources) {
    const box = $('sources');
    const fragment = document.createDocumentFragment();
    const names = document.createDocumentFragment();
    let connected = 0;
    for (const s of sources) {
      const cls = stateClass(s.state);
      if (cls === 'ok') connected++;
      const card = el('div', 'card source ' + cls);
      card.dataset.name = s.name || '';
      const head = el('div', 'head');
      head.appendChild(el('span', 'name', s.name));
      head.appendChild(el('span', 'kind', [s.type, s.provider].filter(Boolean).join(' · ')));
      head.appendChild(el('span', 'state ' + cls, s.state || 'unknown'));
      card.appendChild(head);
      const metrics = el('div', 'metrics');
      metrics.appendChild(metric('events', s.events, false));
      metrics.appendChild(metric('rejected', s.rejected, s.rejected > 0));
      metrics.appendChild(metric('gaps', s.gaps, s.gaps > 0));
      if (s.type === 'dme') {
        metrics.appendChild(metric('relogins', s.relogins, s.relogins > 0));
        metrics.appendChild(metric('late refreshes', s.late_refreshes, s.late_refreshes > 0));
        metrics.appendChild(metric('failed refreshes', s.refresh_failures, s.refresh_failures > 0));
      }
      card.appendChild(metrics);
      // Cluster mode: the node holding the device's lease runs its session; the others show it stopped.
      if ('owner' in s) {
        card.appendChild(el('div', 'since owner', s.owner ? `owner ${s.owner}` : 'owner: none yet'));
      }
      if (Array.isArray(s.subscription_health) && s.subscription_health.length) {
        card.appendChild(renderSubscriptions(s.subscription_health));
      }
      if (s.state === 'connected' && s.connected_since) {
        card.appendChild(el('div', 'since', `connected ${ago(s.connected_since)}` +
          (s.last_event_at ? ` · last event ${ago(s.last_event_at)}` : '')));
      } else if (s.last_event_at) {
        card.appendChild(el('div', 'since', `last event ${ago(s.last_event_at)}`));
      }
      if (s.last_error) {
        const err = el('div', 'lasterr');
        err.title = s.last_error;
        if (s.last_error_at) err.appendChild(el('span', 'when', ago(s.last_error_at) + ': '));
        err.appendChild(document.createTextNode(s.last_error));
        card.appendChild(err);
      }
      fragment.appendChild(card);
      const option = el('option');
      option.value = s.name || '';
      names.appendChild(option);
    }
    if (!sources.length) fragment.appendChild(el('div', 'empty-block', 'No sources configured'));
    box.replaceChildren(fragment);
    $('source-names').replaceChildren(names);
    $('source-count').textContent = sources.length.toLocaleString();
    $('health-summary').replaceChildren();
    if (sources.length) {
      const b = el('b', null, `${connected}/${sources.length}`);
      $('health-summary').append(b, ' sources connected');
    }
  }

  // One line per DME subscription: its state, the margin left before the device would expire
  // it, and its late and failed refreshes.
  function renderSubscriptions(subscriptions) {
    const list = el('div', 'subs');
    for (const sub of subscriptions) {
      const state = sub.state || 'unknown';
      const cls = state === 'healthy' ? 'ok' : state === 'at_risk' ? 'warn' : 'bad';
      const line = el('div', 'sub ' + cls);
      line.title = [sub.query, 'id ' + sub.id, sub.last_error].filter(Boolean).join('\n');
      line.appendChild(el('span', 'q', sub.query));
      const margin = sub.margin_ms == null ? '–' : (Math.max(0, sub.margin_ms) / 1000).toFixed(1) + ' s';
      const timeout = (sub.timeout_ms / 1000).toFixed(0) + ' s';
      line.appendChild(el('span', 'm', `${state.replace('_', ' ')} · ${margin} of ${timeout} left` +
        ` · ${num(sub.late_refreshes)} late · ${num(sub.refresh_failures)} failed`));
      list.appendChild(line);
    }
    return list;
  }

  async function refreshSinks() {
    if (authNeeded) return;
    try {
      const data = await api('api/v1/sinks');
      renderSinks(data.sinks || []);
      setMeta('sinks-meta', nowLabel(), false);
    } catch (err) {
      setMeta('sinks-meta', err.message, true);
    }
  }

  function renderSinks(sinks) {
    const fragment = document.createDocumentFragment();
    for (const s of sinks) {
      const tr = el('tr', 'sink');
      tr.dataset.name = s.name || '';
      tr.appendChild(cell('device', s.name, s.name));
      tr.appendChild(cell('', s.type));
      tr.appendChild(cell('num' + (s.pending > 100 ? ' warnv' : ''), num(s.pending)));
      tr.appendChild(cell('num', num(s.delivered)));
      tr.appendChild(cell('num' + (s.dead > 0 ? ' bad' : ''), num(s.dead)));
      fragment.appendChild(tr);
    }
    if (!sinks.length) {
      const tr = el('tr');
      const td = cell('empty', 'No sinks configured');
      td.colSpan = 5;
      tr.appendChild(td);
      fragment.appendChild(tr);
    }
    $('sinks').replaceChildren(fragment);
    $('sink-count').textContent = sinks.length.toLocaleString();
  }

  function setMeta(id, text, error) {
    const meta = $(id);
    meta.textContent = error ? '⚠ ' + text : text;
    meta.classList.toggle('error', !!error);
  }

  function refreshAll() {
    return Promise.allSettled([refreshAlarms(), refreshSources(), refreshSinks()]);
  }

  async function refreshLoop() {
    await refreshAll();
    setTimeout(refreshLoop, REFRESH_MS);
  }

  // ---------- clock ----------
  function tick() {
    const d = new Date();
    $('clock').textContent = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  // ---------- what alerting.js uses ----------
  window.netpulse = {
    $, el, cell, badge, api, shortTime, fullTime, ago, sourceName, setMeta,
    authNeeded: () => authNeeded,
    REFRESH_MS,
  };

  // ---------- start ----------
  loadToken();
  loadFiltersFromUrl();
  tick();
  setInterval(tick, 1000);
  restartStream();
  refreshLoop();
})();
