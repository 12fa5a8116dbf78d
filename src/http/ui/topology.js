// The dashboard's topology panel, served as /ui/topology.js after app.js (whose helpers it uses
// through window.netpulse): the root causes holding alarms now, and the links LLDP/CDP report
// (down ones first), from GET /api/v1/topology. Hidden when `topology:` is off. Every value goes
// into the page as text (textContent), never as HTML.
(() => {
  'use strict';

  const ui = window.netpulse;
  if (!ui) return;
  const { $, el, cell, api, shortTime, fullTime, setMeta } = ui;

  function renderHolds(holds) {
    const fragment = document.createDocumentFragment();
    for (const hold of holds) {
      const tr = el('tr');
      const place = hold.port ? `${hold.device} ${hold.port}` : hold.device;
      tr.appendChild(cell('dev', place, hold.root));
      tr.appendChild(cell('', hold.summary || ''));
      const what = hold.cleared
        ? `cleared · ${hold.held_cleared.length} cleared while held`
        : `holding ${hold.held.length}` + (hold.held_cleared.length ? ` · ${hold.held_cleared.length} cleared` : '');
      tr.appendChild(cell('', what, hold.held.join('\n')));
      fragment.appendChild(tr);
    }
    if (!holds.length) {
      const tr = el('tr');
      const td = cell('empty', 'No alarm held behind a root cause');
      td.colSpan = 3;
      tr.appendChild(td);
      fragment.appendChild(tr);
    }
    $('holds').replaceChildren(fragment);
    $('hold-count').textContent = holds.length.toLocaleString();
  }

  function renderEdges(edges, nodes) {
    const unreachable = new Set(nodes.filter((node) => !node.reachable).map((node) => node.device));
    const roots = new Set(nodes.filter((node) => node.is_root).map((node) => node.device));
    const name = (device) => (roots.has(device) ? `${device} (root)` : device);
    // Down links and links with alarms first, then by name.
    const sorted = edges.slice().sort((a, b) => {
      const bad = (edge) => (!edge.up || edge.alarms.length ? 0 : 1);
      return bad(a) - bad(b) || `${a.a}${a.a_port}`.localeCompare(`${b.a}${b.a_port}`);
    });
    const fragment = document.createDocumentFragment();
    for (const edge of sorted) {
      const tr = el('tr', !edge.up || edge.alarms.length ? 'link-down' : '');
      tr.appendChild(cell('dev', `${name(edge.a)} ${edge.a_port}`));
      tr.appendChild(cell('dev', `${name(edge.b)} ${edge.b_port}`));
      tr.appendChild(cell('', edge.protocols.join('+')));
      const state = edge.up ? 'up' : 'down';
      tr.appendChild(cell('', `${state} since ${shortTime(edge.since)}`, fullTime(edge.since)));
      const far = [edge.a, edge.b].filter((device) => unreachable.has(device));
      const note = edge.alarms.length ? `${edge.alarms.length} alarm(s)` : '';
      tr.appendChild(cell('', [note, far.length ? `unreachable: ${far.join(', ')}` : ''].filter(Boolean).join(' · '), edge.alarms.join('\n')));
      fragment.appendChild(tr);
    }
    if (!edges.length) {
      const tr = el('tr');
      const td = cell('empty', 'No adjacency reported yet');
      td.colSpan = 5;
      tr.appendChild(td);
      fragment.appendChild(tr);
    }
    $('links').replaceChildren(fragment);
    $('link-count').textContent = edges.length.toLocaleString();
  }

  async function refresh() {
    if (ui.authNeeded()) return;
    try {
      const topology = await api('api/v1/topology');
      const panel = $('topology-panel');
      panel.hidden = !topology.enabled;
      if (!topology.enabled) return;
      renderHolds(topology.holds || []);
      renderEdges(topology.edges || [], topology.nodes || []);
      const roots = (topology.roots || []).join(', ') || 'none';
      setMeta('topology-meta', `roots: ${roots}${topology.roots_inferred ? ' (inferred)' : ''}`, false);
    } catch (err) {
      setMeta('topology-meta', err.message, true);
    }
  }

  async function loop() {
    await refresh();
    setTimeout(loop, ui.REFRESH_MS * 2);
  }

  document.addEventListener('netpulse:token', refresh);
  loop();
})();
