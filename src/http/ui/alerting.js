// The dashboard's alerting views, served as /ui/alerting.js after app.js (whose helpers it uses
// through window.netpulse): an event's trace in the details panel, the Silence… button (admin
// tokens only), the silences and the maintenance windows. Every value goes into the page as
// text (textContent), never as HTML.
(() => {
  'use strict';

  const ui = window.netpulse;
  if (!ui) return;
  const { $, el, cell, api, shortTime, fullTime, sourceName, setMeta } = ui;

  // ---------- the caller's scope ----------
  let admin = false;
  let ack = false;

  async function refreshScope() {
    if (ui.authNeeded()) return;
    try {
      const me = await api('api/v1/whoami');
      admin = me && me.scope === 'admin';
      ack = admin || (me && me.scope === 'ack');
    } catch (_) {
      admin = false;
      ack = false;
    }
    document.body.classList.toggle('admin', admin);
    // Acknowledging and closing alarms (app.js's alarm rows): the ack scope, or admin.
    document.body.classList.toggle('can-ack', ack);
  }

  // ---------- words ----------
  /** `device=edge-1, source=vmanage`: a matcher in one line. */
  function describeMatcher(matcher) {
    const parts = [];
    for (const [key, value] of Object.entries(matcher || {})) {
      if (Array.isArray(value) && value.length && typeof value[0] !== 'object') {
        parts.push(`${key}=${value.join('|')}`);
      } else if (key === 'data' && Array.isArray(value)) {
        for (const condition of value) {
          const test = condition.regex !== undefined ? `~${condition.regex}` : `=${JSON.stringify(condition.equals)}`;
          parts.push(`${condition.pointer}${test}`);
        }
      } else if (value !== null && value !== undefined && !Array.isArray(value)) {
        parts.push(`${key}≥${value}`);
      }
    }
    return parts.join(', ') || 'everything';
  }

  /** What a decision says, in words. */
  function describeOutcome(row) {
    switch (row.outcome) {
      case 'grouped': {
        const reported = (row.notifications || []).map((seq) => `#${seq}`).join(', ');
        return reported ? `notified in ${reported} (group ${row.group})` : `grouped into ${row.group}, not notified yet`;
      }
      case 'silenced': return `silenced by ${row.mute}`;
      case 'inhibited': return `inhibited by alarm ${row.alarm} (rule ${row.rule})`;
      case 'held': return `held behind the root cause ${row.root} (listed in its notification)`;
      case 'muted': return `muted by interval ${row.interval}`;
      case 'flapping': return `flapping (group ${row.group})`;
      case 'not_notified': return `not notified: ${row.why}`;
      default: return String(row.outcome || '');
    }
  }

  function describeDelivery(delivery) {
    let text = delivery.status;
    if (delivery.attempts) text += `, ${delivery.attempts} failed attempt${delivery.attempts > 1 ? 's' : ''}`;
    if (delivery.last_error) text += `: ${delivery.last_error}`;
    if (delivery.status === 'pending' && delivery.next_attempt) text += ` (next ${shortTime(delivery.next_attempt)})`;
    return text;
  }

  function table(headings, rows) {
    const t = el('table');
    const head = el('tr');
    for (const heading of headings) head.appendChild(el('th', null, heading));
    const thead = el('thead');
    thead.appendChild(head);
    t.appendChild(thead);
    const body = el('tbody');
    for (const row of rows) body.appendChild(row);
    t.appendChild(body);
    return t;
  }

  // ---------- the trace of the event in the details panel ----------
  let shown = null; // the event whose details are open
  let traceGeneration = 0;

  document.addEventListener('netpulse:details', (e) => {
    shown = e.detail;
    showTrace(shown);
  });

  async function showTrace(ev, again) {
    const gen = ++traceGeneration;
    const box = $('details-trace');
    // A refresh keeps what is shown until the new answer replaces it (no flicker).
    if (!again) box.replaceChildren(el('div', 'verdict pending', 'Loading the trace…'));
    let trace;
    try {
      trace = await api(`api/v1/events/${encodeURIComponent(ev.seq)}/trace`);
    } catch (err) {
      if (gen === traceGeneration) box.replaceChildren(el('div', 'verdict pending', `No trace: ${err.message}`));
      return;
    }
    if (gen !== traceGeneration) return;
    box.replaceChildren(renderTrace(trace));
    // The router decides within moments, and a group notifies after its group_wait: look
    // again while the panel shows this event and something is still to come.
    const waiting = trace.pending || (trace.routes || []).some((row) =>
      row.outcome === 'grouped' && !(row.notifications || []).length);
    if (waiting) {
      setTimeout(() => {
        if (gen === traceGeneration && shown === ev && !$('details').hidden) showTrace(ev, true);
      }, trace.pending ? 2000 : 5000);
    }
  }

  function renderTrace(trace) {
    const fragment = document.createDocumentFragment();
    const verdicts = {
      pending: 'Pending: the alerting router has not reached this event yet.',
      no_route: 'Matched no route and no sink: nobody was notified.',
      routed: trace.matched_route ? 'Matched routes:' : 'Matched no route; delivered through sinks’ match:',
    };
    fragment.appendChild(el('div', 'verdict ' + trace.verdict, verdicts[trace.verdict] || trace.verdict));

    const routes = trace.routes || [];
    if (routes.length) {
      fragment.appendChild(el('h4', null, 'Routes'));
      fragment.appendChild(table(['Route', 'Sink', 'What happened'], routes.map((row) => {
        const tr = el('tr');
        tr.appendChild(cell('', row.route));
        tr.appendChild(cell('', row.sink));
        const what = cell('');
        what.appendChild(el('span', 'outcome ' + String(row.outcome || ''), describeOutcome(row)));
        tr.appendChild(what);
        return tr;
      })));
    }

    const notifications = trace.notifications || [];
    if (notifications.length) {
      fragment.appendChild(el('h4', null, 'Notifications'));
      fragment.appendChild(table(['#', 'Sink', 'Summary', 'Delivery'], notifications.map((n) => {
        const tr = el('tr');
        tr.appendChild(cell('num', `#${n.seq}`, n.group ? `group ${n.group}, number ${n.number}` : ''));
        tr.appendChild(cell('', n.sink || ''));
        tr.appendChild(cell('', n.summary || '', fullTime(n.time)));
        const delivery = cell('');
        for (const d of n.deliveries || []) delivery.appendChild(el('div', 'status ' + d.status, describeDelivery(d)));
        tr.appendChild(delivery);
        return tr;
      })));
    }

    const deliveries = trace.deliveries || [];
    if (deliveries.length) {
      fragment.appendChild(el('h4', null, 'Deliveries (sinks’ match:)'));
      fragment.appendChild(table(['Sink', 'State'], deliveries.map((d) => {
        const tr = el('tr');
        tr.appendChild(cell('', d.sink));
        const state = cell('');
        state.appendChild(el('span', 'status ' + d.status, describeDelivery(d)));
        tr.appendChild(state);
        return tr;
      })));
    }
    return fragment;
  }

  // ---------- the silence / window dialog ----------
  let mode = 'silence';

  function splitList(value) {
    return String(value || '').split(',').map((part) => part.trim()).filter(Boolean);
  }

  function localInput(date) {
    const pad = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }

  function openMuteDialog(kind, prefill) {
    mode = kind;
    const silence = kind === 'silence';
    $('mute-title').textContent = silence ? 'New silence' : 'New maintenance window';
    $('mute-help').textContent = silence
      ? 'New alarms that match are stored and shown, but not notified, until the silence ends.'
      : 'New alarms that match are stored and shown, but not notified, during the window.';
    $('mute-span-duration').hidden = !silence;
    $('mute-span-times').hidden = silence;
    $('mute-source').value = (prefill && prefill.source) || '';
    $('mute-device').value = (prefill && prefill.device) || '';
    $('mute-type').value = (prefill && prefill.type) || '';
    $('mute-type-prefix').value = '';
    $('mute-comment').value = '';
    $('mute-duration').value = '2h';
    const start = new Date(Date.now() + 5 * 60 * 1000);
    $('mute-starts').value = localInput(start);
    $('mute-ends').value = localInput(new Date(start.getTime() + 2 * 3600 * 1000));
    $('mute-error').textContent = '';
    $('mute-submit').disabled = false;
    $('mute-overlay').hidden = false;
    $('mute-comment').focus();
  }

  function closeMuteDialog() {
    $('mute-overlay').hidden = true;
  }

  function muteBody() {
    const matchers = {};
    const source = splitList($('mute-source').value);
    const device = splitList($('mute-device').value);
    const type = splitList($('mute-type').value);
    const prefix = splitList($('mute-type-prefix').value);
    if (source.length) matchers.source = source;
    if (device.length) matchers.device = device;
    if (type.length) matchers.type = type;
    if (prefix.length) matchers.type_prefix = prefix;
    const body = { matchers, comment: $('mute-comment').value.trim() };
    if (mode === 'silence') {
      body.duration = $('mute-duration').value;
    } else {
      const starts = new Date($('mute-starts').value);
      const ends = new Date($('mute-ends').value);
      if (isNaN(starts.getTime()) || isNaN(ends.getTime())) return { error: 'Give the window’s start and end.' };
      body.starts_at = starts.toISOString();
      body.ends_at = ends.toISOString();
    }
    if (!Object.keys(matchers).length) return { error: 'Name at least a source, a device or a type: a mute of everything is refused.' };
    return { body };
  }

  $('mute-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const { body, error } = muteBody();
    if (error) { $('mute-error').textContent = error; return; }
    $('mute-submit').disabled = true;
    try {
      await api(mode === 'silence' ? 'api/v1/silences' : 'api/v1/windows', null, { method: 'POST', body });
      closeMuteDialog();
      refreshMutes();
    } catch (err) {
      $('mute-error').textContent = err.message;
    } finally {
      $('mute-submit').disabled = false;
    }
  });
  $('mute-cancel').addEventListener('click', closeMuteDialog);
  $('mute-overlay').addEventListener('click', (e) => {
    if (e.target === $('mute-overlay')) closeMuteDialog();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeMuteDialog();
  });

  $('details-silence').addEventListener('click', () => {
    if (!shown) return;
    openMuteDialog('silence', {
      source: sourceName(shown.source),
      device: shown.device || '',
      type: shown.type || '',
    });
  });
  $('window-new').addEventListener('click', () => openMuteDialog('window', null));

  // ---------- the silences and windows lists ----------
  async function end(kind, mute) {
    const word = kind === 'silences' ? 'Expire the silence' : 'Delete the window';
    if (!window.confirm(`${word} on ${describeMatcher(mute.matcher)} (${mute.comment})?`)) return;
    try {
      await api(`api/v1/${kind}/${encodeURIComponent(mute.id)}`, null, { method: 'DELETE' });
    } catch (err) {
      setMeta(kind + '-meta', err.message, true);
    }
    refreshMutes();
  }

  function renderMutes(kind, mutes) {
    const now = Date.now();
    const fragment = document.createDocumentFragment();
    const windows = kind === 'windows';
    for (const mute of mutes) {
      const future = new Date(mute.starts_at).getTime() > now;
      const tr = el('tr', 'mute' + (future ? ' future' : ''));
      tr.dataset.id = mute.id || '';
      tr.appendChild(cell('', describeMatcher(mute.matcher), mute.id));
      if (windows) tr.appendChild(cell('time', shortTime(mute.starts_at), fullTime(mute.starts_at)));
      const until = (future && !windows ? `from ${shortTime(mute.starts_at)} ` : '') + `until ${shortTime(mute.ends_at)}`;
      tr.appendChild(cell('time', windows ? shortTime(mute.ends_at) : until, fullTime(mute.ends_at)));
      tr.appendChild(cell('', mute.created_by, `created ${fullTime(mute.created_at)}`));
      tr.appendChild(cell('', mute.comment));
      const actions = cell('actions admin-only');
      const button = el('button', null, windows ? 'Delete' : 'Expire');
      button.type = 'button';
      button.addEventListener('click', () => end(kind, mute));
      actions.appendChild(button);
      tr.appendChild(actions);
      fragment.appendChild(tr);
    }
    if (!mutes.length) {
      const tr = el('tr');
      const td = cell('empty', windows ? 'No maintenance window' : 'No silence');
      td.colSpan = windows ? 6 : 5;
      tr.appendChild(td);
      fragment.appendChild(tr);
    }
    $(kind).replaceChildren(fragment);
    $(kind === 'silences' ? 'silence-count' : 'window-count').textContent = mutes.length.toLocaleString();
  }

  async function refreshList(kind) {
    try {
      const data = await api('api/v1/' + kind);
      renderMutes(kind, data[kind] || []);
      setMeta(kind + '-meta', '', false);
    } catch (err) {
      setMeta(kind + '-meta', err.message, true);
    }
  }

  function refreshMutes() {
    if (ui.authNeeded()) return Promise.resolve();
    return Promise.allSettled([refreshList('silences'), refreshList('windows')]);
  }

  async function loop() {
    await refreshMutes();
    setTimeout(loop, ui.REFRESH_MS * 2);
  }

  document.addEventListener('netpulse:token', () => {
    refreshScope();
    refreshMutes();
  });

  refreshScope();
  loop();
})();
