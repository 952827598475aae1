// ordersync admin UI: plain JavaScript, no build step. Pages are routed by the URL hash and refresh
// themselves every two seconds; every state change is a POST with the X-Ordersync-Request header.
'use strict';

const MODES = {
  exceeded: 'Temporary error, auto-retry limit exceeded',
  permanent: 'Provider reported a permanent error',
  config: 'Misconfiguration, please check provider settings',
  internal: 'System error, needs manual intervention',
  timeout: 'Sync timed out, auto-retry limit exceeded',
};

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
const when = (iso) => iso ? new Date(iso).toLocaleString() : '—';
let timer = null;

async function api(method, path, body) {
  const opts = {method, headers: {'X-Ordersync-Request': '1'}};
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  if (r.status === 401) { location.href = '/login'; throw new Error('logged out'); }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

function toast(text) {
  const t = $('#toast');
  t.textContent = text;
  t.classList.add('show');
  setTimeout(() => t.classList.remove('show'), 2500);
}

async function act(fn, done) {
  try { const r = await fn(); toast(done(r)); render(); } catch (e) { toast('Error: ' + e.message); }
}

/** Replaces the page only when it changed, so a refresh never swaps the button under the pointer. */
function paint(main, html) {
  if (main._html === html) return false;
  main._html = html;
  main.innerHTML = html;
  return true;
}

function describe(row) {
  if (row.state === 'parked') return `Error: ${MODES[row.failure_mode] || row.failure_mode}${row.last_error ? ': ' + row.last_error : ''}`;
  if (row.state === 'retrying') return `Attempt ${row.failed_attempts} of ${row.max_attempts ?? '?'} failed, next try at ${when(row.not_before)}${row.last_error ? ' — ' + row.last_error : ''}`;
  if (row.state === 'in_flight') return 'Syncing now…';
  return 'Pending';
}

// ---- pages ---------------------------------------------------------------------------------

const charts = {};

/** Syncs and failures per minute (or hour) and the 95th percentile latency of a provider, drawn with uPlot. */
function chart(el, stats) {
  const t = stats.points.map((p) => Date.parse(p.t) / 1000);
  const data = [t, stats.points.map((p) => p.syncs), stats.points.map((p) => p.failures), stats.points.map((p) => p.p95)];
  const key = el.dataset.chart;
  const existing = charts[key];
  if (existing && existing.root.isConnected) { existing.setData(data); return; }
  if (typeof uPlot === 'undefined') return;
  el.innerHTML = '';
  charts[key] = new uPlot({
    width: Math.max(220, el.clientWidth), height: 140, legend: {show: true},
    scales: {x: {time: true}, ms: {auto: true}},
    axes: [{}, {size: 40}, {scale: 'ms', side: 1, size: 44, grid: {show: false}}],
    series: [{}, {label: 'syncs', stroke: '#15803d', width: 1.5}, {label: 'failed', stroke: '#b91c1c', width: 1.5},
      {label: 'p95 ms', stroke: '#2563eb', width: 1, dash: [4, 3], scale: 'ms'}],
  }, data, el);
}

async function dashboard(main, params) {
  const win = params.get('window') === '24h' ? '24h' : '1h';
  const [providers, rejected] = await Promise.all([api('GET', '/api/providers'), api('GET', '/api/rejected?limit=1')]);
  if (!providers.length) { paint(main, '<h1>Providers</h1><div class="empty">No mapping files in mappings/ yet.</div>'); return; }
  const stats = await Promise.all(providers.map((p) => api('GET', `/api/providers/${encodeURIComponent(p.identifier)}/stats?window=${win}`)));
  paint(main, `<h1>Providers</h1>
    <div class="toolbar"><span class="muted">over the last</span>
      <a href="#/?window=1h" class="${win === '1h' ? 'active' : ''}">hour</a> · <a href="#/?window=24h" class="${win === '24h' ? 'active' : ''}">24 hours</a>
      <span style="margin-left:auto" data-testid="rejected-count">${rejected.total ? `<a href="#/rejected" class="error">${rejected.total} rejected event${rejected.total === 1 ? '' : 's'}</a>` : '<span class="muted">no rejected events</span>'}</span></div>
    <div class="cards">` + providers.map((p) => {
    const parked = Object.entries(p.queue.parked || {});
    const parkedTotal = parked.reduce((a, [, n]) => a + n, 0);
    const circuit = p.circuit && p.circuit !== 'closed';
    return `<div class="card" data-testid="provider-${esc(p.identifier)}">
      <h3>${esc(p.display_name)} <span class="badge ${esc(p.status)}">${esc(p.status.replace(/_/g, ' '))}</span>
        ${circuit ? `<span class="badge parked" data-testid="circuit-badge-${esc(p.identifier)}">circuit ${esc(p.circuit.replace(/_/g, ' '))}</span>` : ''}
        ${p.paused_until ? '<span class="badge retrying">paused</span>' : ''}</h3>
      <div class="id">${esc(p.identifier)} · ${esc(p.kind || '')}</div>
      <div class="stats">
        <div class="stat"><b data-testid="waiting-${esc(p.identifier)}">${p.queue.waiting}</b><span>waiting</span></div>
        <div class="stat"><b data-testid="inflight-${esc(p.identifier)}">${p.queue.in_flight}</b><span>in flight</span></div>
        <div class="stat ${parkedTotal ? 'bad' : ''}"><b data-testid="parked-${esc(p.identifier)}">${parkedTotal}</b><span>parked${parked.length ? ': ' + parked.map(([m, n]) => `<a href="#/problems?provider=${esc(p.identifier)}&mode=${esc(m)}">${n} ${esc(m)}</a>`).join(', ') : ''}</span></div>
        <div class="stat good"><b data-testid="synced-${esc(p.identifier)}">${p.synced_24h}</b><span>synced in 24 h</span></div>
      </div>
      <div class="chart" data-chart="${esc(p.identifier)}" data-testid="chart-${esc(p.identifier)}"></div>
      <div class="muted" style="margin-top:.6rem">last success ${when(p.last_success)}<br>last failure ${when(p.last_failure)}</div>
      ${circuit ? `<div class="notice" data-testid="circuit-${esc(p.identifier)}">Circuit breaker ${esc(p.circuit.replace(/_/g, ' '))}: the target kept failing, nothing is sent until a probe succeeds (Retry now closes it)</div>` : ''}
      ${p.paused_until ? `<div class="notice" data-testid="paused-${esc(p.identifier)}">Paused by the target's Retry-After until ${when(p.paused_until)} (Retry now lifts it)</div>` : ''}
      ${p.errors.length ? `<ul class="errors">${p.errors.map((e) => `<li>${esc(e.text)}</li>`).join('')}</ul>` : ''}
      ${parkedTotal ? `<p><a href="#/problems?provider=${esc(p.identifier)}" data-testid="problems-link-${esc(p.identifier)}">Show problems →</a></p>` : ''}
    </div>`;
  }).join('') + '</div>');
  providers.forEach((p, n) => { const el = document.querySelector(`[data-chart="${CSS.escape(p.identifier)}"]`); if (el) chart(el, stats[n]); });
}

const STATUS = {n: 'pending', p: 'paid', e: 'expired', c: 'canceled'};
const ACTIONS = {nothing_to_do: 'unchanged (checked)', created: 'created', updated: 'updated', deleted: 'deleted',
  archived: 'archived', sent: 'sent', synced: 'synced'};

/** Orders: search (e-mail, code, name), filters, paging over the stored orders; the query lives in the URL. */
async function orders(main, params) {
  const limit = 50;
  const offset = Math.max(0, Number(params.get('offset') || 0));
  const q = new URLSearchParams({limit: String(limit), offset: String(offset)});
  for (const k of ['q', 'event', 'provider', 'state', 'from', 'to']) if (params.get(k)) q.set(k, params.get(k));
  const [page, providers] = await Promise.all([api('GET', '/api/orders?' + q), api('GET', '/api/providers')]);
  const v = (k) => esc(params.get(k) || '');
  const link = (o) => { const p = new URLSearchParams(params); p.set('offset', String(o)); return '#/orders?' + p; };
  const html = `<h1>Orders</h1>
    <form id="order-search" class="toolbar filters">
      <input name="q" placeholder="e-mail, order code or name" value="${v('q')}" size="28" data-testid="order-q">
      <input name="event" placeholder="event" value="${v('event')}" size="10">
      <select name="provider"><option value="">every provider</option>${providers.map((p) => `<option ${params.get('provider') === p.identifier ? 'selected' : ''}>${esc(p.identifier)}</option>`).join('')}</select>
      <select name="state" data-testid="order-state"><option value="">any state</option>${['problem', 'pending', 'synced'].map((s) => `<option ${params.get('state') === s ? 'selected' : ''}>${s}</option>`).join('')}</select>
      <label class="inline">from <input type="date" name="from" value="${v('from')}"></label>
      <label class="inline">to <input type="date" name="to" value="${v('to')}"></label>
      <button data-testid="order-search">Search</button>
    </form>
    <p class="muted" data-testid="order-total">${page.total} order${page.total === 1 ? '' : 's'}${page.total > limit ? ` · ${offset + 1}–${Math.min(offset + limit, page.total)}` : ''}</p>
    ${page.rows.length ? `<table data-testid="orders"><thead><tr><th>Order</th><th>E-mail</th><th>Buyer</th><th>Status</th><th>Total</th><th>Sync</th><th>Received</th></tr></thead><tbody>
    ${page.rows.map((r) => `<tr data-testid="order-row-${esc(r.code)}">
      <td><a href="#/order/${encodeURIComponent(r.event)}/${encodeURIComponent(r.code)}">${esc(r.event)} / ${esc(r.code)}</a></td>
      <td>${esc(r.email)}</td><td>${esc(r.buyer_name)}</td><td>${esc(STATUS[r.status] || r.status)}</td><td>${esc(r.total)}</td>
      <td>${r.parked ? `<span class="badge parked">${r.parked} parked</span>` : r.queued ? `<span class="badge waiting">${r.queued} queued</span>` : r.synced_providers ? `<span class="badge synced">synced</span>` : '—'}</td>
      <td>${when(r.received_at)}</td></tr>`).join('')}</tbody></table>
    <div class="toolbar">${offset > 0 ? `<a href="${link(Math.max(0, offset - limit))}" data-testid="orders-prev">← newer</a>` : ''}
      ${offset + limit < page.total ? `<a href="${link(offset + limit)}" data-testid="orders-next">older →</a>` : ''}</div>`
    : '<div class="empty" data-testid="no-orders">No order matches.</div>'}`;
  if (!paint(main, html)) return;
  $('#order-search').onsubmit = (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, val] of new FormData(e.target)) if (String(val).trim()) p.set(k, String(val).trim());
    location.hash = '#/orders?' + p;
  };
}

/** A try as one line of the timeline: time, provider, call, status, latency; its bodies folded out. */
function attemptLine(a) {
  // a route, endpoint or Java provider has no HTTP status: without an error it went through
  const ok = !a.error && (a.status == null || (a.status >= 200 && a.status < 300));
  return `<li class="${ok ? 'ok' : 'bad'}" data-testid="attempt-${a.id}">
    <details><summary><span class="muted">${when(a.attempted_at)}</span> <b>${esc(a.provider)}</b> ${esc(a.mapping_id || '')}
      <code>${esc(a.method)} ${esc(a.url)}</code> → <span class="badge ${ok ? 'synced' : 'parked'}" data-testid="attempt-status-${a.id}">${a.status ?? (ok ? 'done' : 'no answer')}</span>
      <span class="muted">${a.latency_ms} ms</span>${a.error ? ` <span class="error">${esc(a.error)}</span>` : ''}</summary>
      ${a.request_body ? `<label>Request</label><pre>${esc(a.request_body)}</pre>` : ''}
      ${a.response_body ? `<label>Answer</label><pre>${esc(a.response_body)}</pre>` : ''}
    </details></li>`;
}

async function problems(main, params) {
  const limit = 50;
  const offset = Math.max(0, Number(params.get('offset') || 0));
  const q = new URLSearchParams({state: 'problems', limit: String(limit), offset: String(offset)});
  const g = new URLSearchParams();
  for (const k of ['provider', 'mode', 'event']) if (params.get(k)) { q.set(k, params.get(k)); g.set(k, params.get(k)); }
  const [page, grouped, providers] = await Promise.all([api('GET', '/api/queue?' + q), api('GET', '/api/queue/groups?' + g), api('GET', '/api/providers')]);
  const selected = new Set([...document.querySelectorAll('input[data-row]:checked')].map((c) => c.dataset.row));
  const v = (k) => esc(params.get(k) || '');
  const link = (o) => { const p = new URLSearchParams(params); p.set('offset', String(o)); return '#/problems?' + p; };
  const html = `<h1>Problems${params.get('provider') ? ' · ' + esc(params.get('provider')) : ''}</h1>
    <form id="problem-filter" class="toolbar filters">
      <select name="provider"><option value="">every provider</option>${providers.map((p) => `<option ${params.get('provider') === p.identifier ? 'selected' : ''}>${esc(p.identifier)}</option>`).join('')}</select>
      <select name="mode"><option value="">any failure</option>${Object.keys(MODES).map((m) => `<option ${params.get('mode') === m ? 'selected' : ''}>${m}</option>`).join('')}</select>
      <input name="event" placeholder="event" value="${v('event')}" size="10"><button>Filter</button>
    </form>
    ${grouped.groups.length ? `<h2>By cause</h2><table data-testid="problem-groups"><thead><tr><th>Rows</th><th>Provider</th><th>Failure</th><th>Cause</th><th></th></tr></thead><tbody>
      ${grouped.groups.map((x, n) => `<tr data-testid="group-${n}"><td><b>${x.count}</b></td><td>${esc(x.provider)}</td>
        <td>${esc(x.description)}</td><td class="error">${esc(x.cause)}</td>
        <td><button class="secondary" data-group-retry="${n}" data-testid="group-retry-${n}">Retry ${x.count}</button>
            <button class="danger" data-group-cancel="${n}">Cancel ${x.count}</button></td></tr>`).join('')}</tbody></table>` : ''}
    <div class="toolbar">
      <button id="bulk-retry" data-testid="bulk-retry">Retry selected</button>
      <button id="bulk-cancel" class="danger" data-testid="bulk-cancel">Cancel selected</button>
      <span class="muted" data-testid="problem-total">${page.total} waiting with a failure${page.total > limit ? ` · ${offset + 1}–${Math.min(offset + limit, page.total)}` : ''}</span>
    </div>
    ${page.rows.length ? `<table><thead><tr><th><input type="checkbox" id="select-all"></th><th>Order</th><th>Provider</th><th>State</th><th>Failure</th><th>Attempts</th><th>Next try</th><th></th></tr></thead><tbody>
    ${page.rows.map((r) => `<tr data-testid="problem-${r.id}">
      <td><input type="checkbox" data-row="${r.id}"></td>
      <td><a href="#/order/${encodeURIComponent(r.event)}/${encodeURIComponent(r.order)}" data-testid="order-link-${esc(r.order)}">${esc(r.event)} / ${esc(r.order)}</a></td>
      <td>${esc(r.provider)}</td>
      <td><span class="badge ${esc(r.state)}">${esc(r.state)}</span></td>
      <td class="error">${esc(r.failure_description || 'Temporary error, will retry')}<br><span class="muted">${esc(r.last_error)}</span></td>
      <td>${r.failed_attempts}</td><td>${r.state === 'parked' ? 'manual' : when(r.not_before)}</td>
      <td><button class="secondary" data-retry="${r.id}">Retry now</button></td></tr>`).join('')}
    </tbody></table>
    <div class="toolbar">${offset > 0 ? `<a href="${link(Math.max(0, offset - limit))}">← previous</a>` : ''}
      ${offset + limit < page.total ? `<a href="${link(offset + limit)}" data-testid="problems-next">next →</a>` : ''}</div>`
    : '<div class="empty" data-testid="no-problems">No problems. Everything is synced or on its way.</div>'}`;
  if (!paint(main, html)) return;
  document.querySelectorAll('input[data-row]').forEach((c) => { c.checked = selected.has(c.dataset.row); });
  const ids = () => [...document.querySelectorAll('input[data-row]:checked')].map((c) => Number(c.dataset.row));
  $('#problem-filter').onsubmit = (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, val] of new FormData(e.target)) if (String(val).trim()) p.set(k, String(val).trim());
    location.hash = '#/problems?' + p;
  };
  $('#select-all')?.addEventListener('change', (e) => document.querySelectorAll('input[data-row]').forEach((c) => { c.checked = e.target.checked; }));
  $('#bulk-retry').onclick = () => act(() => api('POST', '/api/queue/retry', {ids: ids()}), (r) => `${r.retried} queued for retry`);
  $('#bulk-cancel').onclick = () => confirm('Cancel the selected syncs?') && act(() => api('POST', '/api/queue/cancel', {ids: ids()}), (r) => `${r.canceled.length} canceled`);
  document.querySelectorAll('[data-group-retry]').forEach((b) => { b.onclick = () => act(() => api('POST', '/api/queue/retry', {ids: grouped.groups[b.dataset.groupRetry].ids}), (r) => `${r.retried} queued for retry`); });
  document.querySelectorAll('[data-group-cancel]').forEach((b) => { b.onclick = () => confirm(`Cancel ${grouped.groups[b.dataset.groupCancel].count} syncs?`) && act(() => api('POST', '/api/queue/cancel', {ids: grouped.groups[b.dataset.groupCancel].ids}), (r) => `${r.canceled.length} canceled`); });
  document.querySelectorAll('[data-retry]').forEach((b) => { b.onclick = () => act(() => api('POST', `/api/queue/${b.dataset.retry}/retry`), () => 'Queued for retry'); });
}

async function order(main, params, event, code) {
  const [o, providers] = await Promise.all([api('GET', `/api/order?event=${encodeURIComponent(event)}&code=${encodeURIComponent(code)}`), api('GET', '/api/providers')]);
  const byProvider = {};
  for (const p of providers) byProvider[p.identifier] = {rows: [], results: []};
  for (const r of o.queue) (byProvider[r.provider] ||= {rows: [], results: []}).rows.push(r);
  for (const r of o.results) (byProvider[r.provider] ||= {rows: [], results: []}).results.push(r);
  const s = o.summary;
  const html = `<h1>Order ${esc(code)} <span class="muted">· ${esc(event)}</span></h1>
    ${s && !s.error ? `<div class="card order-summary" data-testid="order-summary">
      <div><b data-testid="summary-name">${esc(s.name || '—')}</b>${s.company ? ' · ' + esc(s.company) : ''} · <span data-testid="summary-email">${esc(s.email || '—')}</span></div>
      <div class="muted">${esc(s.event_name || event)} · ${esc(STATUS[s.status] || s.status)} · total <b data-testid="summary-total">${esc(s.total)}</b> · ordered ${when(s.datetime)} · last change ${when(s.last_modified)}</div>
      ${s.positions.length ? `<table><thead><tr><th>#</th><th>Product</th><th>Attendee</th><th>Price</th></tr></thead><tbody>${s.positions.map((p) =>
        `<tr class="${p.canceled ? 'muted' : ''}"><td>${esc(p.position)}</td><td>${esc(p.product)}${p.canceled ? ' (canceled)' : ''}</td><td>${esc(p.attendee)}</td><td>${esc(p.price)}</td></tr>`).join('')}</tbody></table>` : ''}
    </div>` : ''}
    ${Object.entries(byProvider).map(([p, v]) => {
      const row = v.rows.find((r) => r.state !== 'in_flight') || v.rows[0];
      const text = row ? describe(row) : v.results.length ? 'Synced' : 'Not synced to this provider';
      const badge = row ? row.state : v.results.length ? 'synced' : 'waiting';
      return `<div class="status-line" data-testid="status-${esc(p)}">
        <strong>${esc(p)}</strong><span class="badge ${esc(badge)}" data-testid="state-${esc(p)}">${esc(badge.replace('_', ' '))}</span>
        <span class="text" data-testid="status-text-${esc(p)}">${esc(text)}</span>
        ${row && row.state !== 'in_flight' ? `<button data-testid="retry-${esc(p)}" data-retry="${row.id}">Retry now</button>
          <button class="danger" data-testid="cancel-${esc(p)}" data-cancel="${row.id}">Cancel</button>` : ''}
        <button class="secondary" data-testid="sync-${esc(p)}" data-sync="${esc(p)}">Sync now</button>
      </div>`;
    }).join('')}
    <h2>Results</h2>
    ${o.results.length ? `<table data-testid="results"><thead><tr><th>Provider</th><th>Object</th><th>Id</th><th>Remote</th><th>Action</th><th>Synced</th></tr></thead><tbody>
      ${o.results.map((r) => `<tr><td>${esc(r.provider)}</td><td>${esc(r.remote_type)}</td><td>${esc(r.id_field)} = ${esc(r.id_value)}</td>
        <td>${r.external_link ? `<a href="${esc(r.external_link)}" target="_blank" rel="noopener">${esc(r.display_name || r.remote_id)}</a>` : esc(r.display_name || r.remote_id || '')}</td>
        <td>${esc(ACTIONS[r.action] || r.action)}</td><td>${when(r.synced_at)}</td></tr>`).join('')}</tbody></table>` : '<div class="empty">Nothing synced yet.</div>'}
    <h2>Attempts${o.attempts_total > o.attempts.length ? ` <span class="muted">(the newest ${o.attempts.length} of ${o.attempts_total})</span>` : ''}</h2>
    ${o.attempts.length ? `<ol class="timeline" data-testid="attempts">${o.attempts.map(attemptLine).join('')}</ol>` : '<div class="empty">No request sent yet.</div>'}
    <h2>Log</h2>
    <table data-testid="log"><thead><tr><th>Time</th><th>Provider</th><th>Kind</th><th>Message</th></tr></thead><tbody>
      ${o.log.slice().reverse().map((l) => `<tr><td>${when(l.created_at)}</td><td>${esc(l.provider || '')}</td><td>${esc(l.kind)}</td><td>${esc(l.message)}</td></tr>`).join('')}
    </tbody></table>
    <h2>Data protection</h2>
    <p class="muted">Erase everything ordersync holds about this order (snapshot, queue, results, attempts, log). The remote systems keep their copies.</p>
    <button class="danger" id="erase-order" data-testid="erase-order">Erase this order</button>`;
  const open = [...document.querySelectorAll('details[open]')].map((d) => d.parentElement?.dataset.testid);
  if (!paint(main, html)) return;
  open.forEach((id) => { const li = id && document.querySelector(`[data-testid="${id}"] details`); if (li) li.open = true; });
  $('#erase-order').onclick = async () => {
    if (!confirm(`Erase order ${code}? This cannot be undone.`)) return;
    try {
      const r = await api('DELETE', `/api/orders/${encodeURIComponent(event)}/${encodeURIComponent(code)}`);
      toast(`Erased: ${Object.entries(r.deleted).map(([t, n]) => `${n} ${t}`).join(', ')}`);
      location.hash = '#/orders';
    } catch (e) { toast('Error: ' + e.message); }
  };
  document.querySelectorAll('[data-retry]').forEach((b) => { b.onclick = () => act(() => api('POST', `/api/queue/${b.dataset.retry}/retry`), () => 'Queued for retry'); });
  document.querySelectorAll('[data-cancel]').forEach((b) => { b.onclick = () => confirm('Cancel this sync?') && act(() => api('POST', `/api/queue/${b.dataset.cancel}/cancel`), () => 'Canceled'); });
  document.querySelectorAll('[data-sync]').forEach((b) => { b.onclick = () => act(() => api('POST', `/api/order/sync?event=${encodeURIComponent(event)}&code=${encodeURIComponent(code)}`, {provider: b.dataset.sync}), (r) => (r.queued.length ? 'Sync queued' : 'Not queued: ' + r.skipped.map((s) => s.reason).join('; '))); });
}

async function mappings(main, params) {
  if (params.get('edit')) return editor(main, params.get('edit'));
  const providers = await api('GET', '/api/providers');
  if ($('#preview-doc')) { // keep the form while the page refreshes
    return;
  }
  main.innerHTML = `<h1>Mappings</h1>
    ${providers.map((p) => `<div class="card" style="margin-bottom:1rem" data-testid="mapping-${esc(p.identifier)}">
      <h3>${esc(p.display_name)} <span class="badge ${esc(p.status)}">${esc(p.status.replace(/_/g, ' '))}</span>
        <a href="#/mappings?edit=${encodeURIComponent(p.identifier)}" data-testid="edit-${esc(p.identifier)}" style="float:right">Edit</a></h3>
      <div class="muted">${esc(p.file)} · triggers: ${esc((p.triggers || []).join(', '))}</div>
      ${p.errors.length ? `<ul class="errors">${p.errors.map((e) => `<li>${esc(e.text)}</li>`).join('')}</ul>` : '<p class="muted">No errors.</p>'}
      <details data-file="${esc(p.identifier)}"><summary>${esc(p.file)}</summary><pre></pre></details>
    </div>`).join('')}
    <h2>Preview</h2>
    <p class="muted">Paste an order document: see the exact requests a sync would send. Nothing is sent.</p>
    <div class="toolbar"><select id="preview-provider">${providers.map((p) => `<option>${esc(p.identifier)}</option>`).join('')}</select>
      <button id="preview-run">Preview</button></div>
    <label>Order document</label><textarea id="preview-doc" rows="10" placeholder='{"type": "order.paid", "event": {...}, "order": {...}}'></textarea>
    <label>Remote objects as they stand (optional)</label><textarea id="preview-remote" rows="3" placeholder='{"contact": [{"id": "1", "email": "…"}]}'></textarea>
    <pre id="preview-out" data-testid="preview-out"></pre>`;
  document.querySelectorAll('details[data-file]').forEach((d) => d.addEventListener('toggle', async () => {
    if (!d.open) return;
    const r = await fetch(`/api/providers/${encodeURIComponent(d.dataset.file)}/file`);
    $('pre', d).textContent = r.ok ? await r.text() : 'cannot read the file';
  }));
  $('#preview-run').onclick = async () => {
    try {
      const body = {provider: $('#preview-provider').value, document: JSON.parse($('#preview-doc').value || '{}')};
      if ($('#preview-remote').value.trim()) body.remote = JSON.parse($('#preview-remote').value);
      $('#preview-out').textContent = JSON.stringify(await api('POST', '/api/preview', body), null, 2);
    } catch (e) { $('#preview-out').textContent = 'Error: ' + e.message; }
  };
}

/** A text body (the YAML) to the editor's endpoints, JSON back. */
async function sendText(method, path, text, headers = {}) {
  const r = await fetch(path, {method, headers: {'X-Ordersync-Request': '1', 'Content-Type': 'text/plain; charset=utf-8', ...headers}, body: text});
  if (r.status === 401) { location.href = '/login'; throw new Error('logged out'); }
  return {status: r.status, data: await r.json().catch(() => ({}))};
}

const MODES_OF_PROPERTY = ['overwrite', 'if_new', 'if_empty', 'append'];
const KINDS = ['source', 'value', 'template', 'ref'];

/**
 * The mapping editor: the YAML with line numbers and its errors marked in place, validated as you type; a form
 * for one object mapping's properties (pretix's property editor: field from the catalogue, remote field, mode,
 * value map, order); preview against a stored order; save (only what validates); the file's history.
 */
async function editor(main, id) {
  if ($('#ed-text') && $('#ed-text').dataset.provider === id) return; // never redraw under the typing
  const [file, fields, history] = await Promise.all([api('GET', `/api/providers/${encodeURIComponent(id)}/edit`), api('GET', '/api/fields'),
    api('GET', `/api/providers/${encodeURIComponent(id)}/history`)]);
  let version = file.version;
  let objects = file.objects || [];
  let rows = [];
  main.innerHTML = `<h1>Edit ${esc(file.file)} <a class="muted" href="#/mappings" style="font-size:.9rem">back</a></h1>
    <div class="editor"><pre class="gutter" id="ed-gutter" aria-hidden="true"></pre>
      <textarea id="ed-text" data-provider="${esc(id)}" spellcheck="false" wrap="off" data-testid="ed-text"></textarea></div>
    <div class="toolbar"><button id="ed-save" data-testid="ed-save">Save</button>
      <span id="ed-state" data-testid="ed-state" class="muted"></span></div>
    <ul id="ed-errors" class="errors" data-testid="ed-errors"></ul>
    <h2>Properties</h2>
    <div class="toolbar"><label class="inline">object mapping <select id="ed-object" data-testid="ed-object"></select></label>
      <button class="secondary" id="ed-add" data-testid="ed-add">Add property</button>
      <button id="ed-apply" data-testid="ed-apply">Apply to the file</button>
      <span class="muted">edits the text above; save to run it</span></div>
    <table id="ed-props" data-testid="ed-props"><thead><tr><th></th><th>From</th><th>Value</th><th>Remote field</th><th>Mode</th><th>Value map</th><th></th></tr></thead><tbody></tbody></table>
    <dialog id="ed-map"><form method="dialog"><label>Value map: one <code>option = remote value</code> a line</label>
      <textarea id="ed-map-text" rows="8" data-testid="ed-map-text"></textarea>
      <div class="toolbar"><button value="ok" data-testid="ed-map-ok">OK</button><button value="cancel" class="secondary">Cancel</button></div></form></dialog>
    <h2>Preview against a stored order</h2>
    <div class="toolbar"><input id="ed-pv-event" placeholder="event" size="10"><input id="ed-pv-code" placeholder="order code" size="10">
      <button class="secondary" id="ed-preview" data-testid="ed-preview">Preview the text above</button></div>
    <pre id="ed-pv-out" data-testid="ed-pv-out"></pre>
    <h2>History</h2>
    ${history.changes.length ? `<ul class="history" data-testid="ed-history">${history.changes.map((c) => `<li><details><summary>${when(c.changed_at)} · ${esc(c.actor)}${c.instance_id ? ` · on ${esc(c.instance_id)}` : ''}</summary>
      <pre>${esc(c.diff)}</pre></details></li>`).join('')}</ul>` : '<p class="muted" data-testid="ed-history">No saves through the editor yet.</p>'}`;
  const text = $('#ed-text');
  text.value = file.text;
  // a textarea holds LF line ends only: a file with CRLF ones gets them back on save, so that a save changes the
  // lines edited and not every line of the file (and the history shows the edit)
  const crlf = /\r\n/.test(file.text);
  const groups = {order: 'Order', position: 'Position (ticket)', event: 'Event', event_or_date: 'Event or date'};
  const fieldOptions = (current) => {
    const known = new Set(fields.fields.map((f) => f.name));
    let html = Object.entries(groups).map(([input, label]) => `<optgroup label="${esc(label)}">${fields.fields.filter((f) => f.input === input)
      .map((f) => `<option value="${esc(f.name)}" ${f.name === current ? 'selected' : ''}>${esc(f.label)} (${esc(f.name)})</option>`).join('')}</optgroup>`).join('');
    if (current && !known.has(current)) html = `<optgroup label="In this file"><option selected>${esc(current)}</option></optgroup>` + html;
    return html;
  };
  const drawRows = () => {
    $('#ed-props tbody').innerHTML = rows.map((r, n) => {
      const kind = KINDS.find((k) => r[k] !== undefined) || 'source';
      const value = r[kind] ?? '';
      return `<tr data-testid="ed-row-${n}"><td>${n + 1}</td>
        <td><select data-k="kind" data-n="${n}">${KINDS.map((k) => `<option ${k === kind ? 'selected' : ''}>${k}</option>`).join('')}</select></td>
        <td>${kind === 'source' ? `<select data-k="value" data-n="${n}" data-testid="ed-source-${n}">${fieldOptions(value)}</select>`
          : `<input data-k="value" data-n="${n}" value="${esc(value)}" data-testid="ed-value-${n}">`}</td>
        <td><input data-k="remote" data-n="${n}" value="${esc(r.remote ?? '')}" data-testid="ed-remote-${n}"></td>
        <td><select data-k="mode" data-n="${n}">${MODES_OF_PROPERTY.map((m) => `<option ${m === (r.mode || 'overwrite') ? 'selected' : ''}>${m}</option>`).join('')}</select></td>
        <td><button class="secondary" data-map="${n}">${r.value_map ? Object.keys(r.value_map).length + ' entries' : 'none'}</button></td>
        <td><button class="link" data-up="${n}" title="up">↑</button><button class="link" data-down="${n}" title="down">↓</button>
          <button class="link" data-del="${n}" data-testid="ed-del-${n}" title="delete">✕</button></td></tr>`;
    }).join('');
  };
  const pickObject = (keep) => {
    const sel = $('#ed-object');
    const before = keep ? Number(sel.value || 0) : 0;
    sel.innerHTML = (objects || []).map((o, n) => `<option value="${n}">${esc(o.id)} (${esc(o.source)})</option>`).join('');
    sel.value = String(Math.min(before, Math.max(0, (objects || []).length - 1)));
    rows = JSON.parse(JSON.stringify(((objects || [])[Number(sel.value)] || {}).properties || []));
    drawRows();
  };
  const mark = (errors) => {
    const bad = new Set(errors.map((e) => e.line));
    const n = text.value.split('\n').length;
    $('#ed-gutter').innerHTML = Array.from({length: n}, (_, i) => bad.has(i + 1) ? `<span class="bad" data-testid="ed-bad-${i + 1}">${i + 1}</span>` : String(i + 1)).join('\n');
    $('#ed-errors').innerHTML = errors.map((e) => `<li><a href="#" data-line="${e.line}">line ${e.line}, column ${e.column}</a>: ${esc(e.path ? e.path + ': ' : '')}${esc(e.message)}</li>`).join('');
    document.querySelectorAll('[data-line]').forEach((a) => { a.onclick = (ev) => { ev.preventDefault(); goTo(Number(a.dataset.line)); }; });
  };
  const goTo = (line) => {
    const lines = text.value.split('\n');
    const start = lines.slice(0, line - 1).join('\n').length + (line > 1 ? 1 : 0);
    text.focus();
    text.setSelectionRange(start, start + (lines[line - 1] || '').length);
    text.scrollTop = Math.max(0, (line - 5) * 18);
  };
  let timer = null;
  let formDirty = false;
  const check = async () => {
    const r = await sendText('POST', `/api/providers/${encodeURIComponent(id)}/validate`, text.value);
    const errors = r.data.errors || [];
    mark(errors);
    $('#ed-state').textContent = r.status !== 200 ? (r.data.error || 'cannot validate') : errors.length ? `${errors.length} error${errors.length === 1 ? '' : 's'}: not saved while it has errors` : 'valid';
    $('#ed-state').className = errors.length || r.status !== 200 ? 'error' : 'muted';
    if (r.data.objects && !formDirty) { objects = r.data.objects; pickObject(true); }
  };
  text.addEventListener('input', () => { mark([]); clearTimeout(timer); timer = setTimeout(check, 300); });
  text.addEventListener('scroll', () => { $('#ed-gutter').scrollTop = text.scrollTop; });
  mark([]);
  pickObject(false);
  check();
  $('#ed-object').onchange = () => { formDirty = false; rows = JSON.parse(JSON.stringify(objects[Number($('#ed-object').value)].properties || [])); drawRows(); };
  $('#ed-props').addEventListener('change', (ev) => {
    const t = ev.target;
    const n = Number(t.dataset.n);
    if (Number.isNaN(n)) return;
    formDirty = true;
    const r = rows[n];
    if (t.dataset.k === 'kind') {
      const old = KINDS.find((k) => r[k] !== undefined);
      const v = old ? r[old] : '';
      KINDS.forEach((k) => delete r[k]);
      r[t.value] = t.value === 'source' ? (fields.fields[0] || {}).name : v;
      drawRows();
    } else if (t.dataset.k === 'value') {
      const kind = KINDS.find((k) => r[k] !== undefined) || 'source';
      r[kind] = t.value;
    } else if (t.dataset.k === 'mode') {
      if (t.value === 'overwrite') delete r.mode; else r.mode = t.value;
    } else {
      r[t.dataset.k] = t.value;
    }
  });
  $('#ed-props').addEventListener('click', (ev) => {
    const b = ev.target.closest('button');
    if (!b) return;
    formDirty = true;
    if (b.dataset.del) rows.splice(Number(b.dataset.del), 1);
    else if (b.dataset.up && Number(b.dataset.up) > 0) { const n = Number(b.dataset.up); [rows[n - 1], rows[n]] = [rows[n], rows[n - 1]]; }
    else if (b.dataset.down && Number(b.dataset.down) < rows.length - 1) { const n = Number(b.dataset.down); [rows[n + 1], rows[n]] = [rows[n], rows[n + 1]]; }
    else if (b.dataset.map) {
      const n = Number(b.dataset.map);
      $('#ed-map-text').value = Object.entries(rows[n].value_map || {}).map(([k, v]) => `${k} = ${v}`).join('\n');
      $('#ed-map').onclose = () => {
        if ($('#ed-map').returnValue !== 'ok') return;
        const map = {};
        $('#ed-map-text').value.split('\n').map((l) => l.split('=')).filter((p) => p.length >= 2 && p[0].trim())
          .forEach((p) => { map[p[0].trim()] = p.slice(1).join('=').trim(); });
        if (Object.keys(map).length) rows[n].value_map = map; else delete rows[n].value_map;
        drawRows();
      };
      $('#ed-map').showModal();
      return;
    } else return;
    drawRows();
  });
  $('#ed-add').onclick = () => { formDirty = true; rows.push({source: (fields.fields[0] || {}).name, remote: ''}); drawRows(); };
  $('#ed-apply').onclick = async () => {
    try {
      const r = await api('POST', `/api/providers/${encodeURIComponent(id)}/properties`, {text: text.value, object: Number($('#ed-object').value), properties: rows});
      text.value = r.text;
      formDirty = false;
      await check();
      toast('Applied to the text: save to run it');
    } catch (e) { toast('Error: ' + e.message); }
  };
  $('#ed-save').onclick = async () => {
    const r = await sendText('PUT', `/api/providers/${encodeURIComponent(id)}/file`,
      crlf ? text.value.replace(/\r?\n/g, '\r\n') : text.value, {'X-Ordersync-Base': version});
    if (r.status === 200) {
      version = r.data.version;
      toast(r.data.saved ? 'Saved: the provider reloads it within seconds' : 'Nothing changed');
      $('#ed-state').textContent = r.data.saved ? 'saved' : 'unchanged';
      main._html = null;
      setTimeout(() => { $('#ed-text').dataset.provider = ''; render(); }, 300);
    } else {
      if (r.data.errors) mark(r.data.errors);
      $('#ed-state').textContent = r.data.error || 'not saved';
      $('#ed-state').className = 'error';
    }
  };
  $('#ed-preview').onclick = async () => {
    try {
      const out = await api('POST', '/api/preview', {provider: id, mapping: text.value, order: {event: $('#ed-pv-event').value.trim(), code: $('#ed-pv-code').value.trim()}});
      $('#ed-pv-out').textContent = JSON.stringify(out, null, 2);
    } catch (e) { $('#ed-pv-out').textContent = 'Error: ' + e.message; }
  };
}

async function rejected(main, params) {
  if (params.get('id')) {
    if ($('#rejected-payload')) return;
    const r = await api('GET', '/api/rejected/' + params.get('id'));
    main.innerHTML = `<h1>Rejected event #${r.id}</h1><p class="error" style="color:var(--red)">${esc(r.reason)}</p>
      <p class="muted">${esc(r.source)} · ${when(r.received_at)}</p>
      <textarea id="rejected-payload" rows="18">${esc(r.payload)}</textarea>
      <div class="toolbar"><button id="resubmit">Re-submit</button><button id="discard" class="danger">Discard</button><a href="#/rejected">back</a></div>`;
    $('#resubmit').onclick = () => act(() => api('POST', `/api/rejected/${r.id}/resubmit`, $('#rejected-payload').value), () => 'Accepted').then(() => { location.hash = '#/rejected'; });
    $('#discard').onclick = () => confirm('Discard this event?') && act(() => api('POST', `/api/rejected/${r.id}/discard`), () => 'Discarded').then(() => { location.hash = '#/rejected'; });
    return;
  }
  const page = await api('GET', '/api/rejected?limit=200');
  paint(main, `<h1>Rejected events</h1>${page.rows.length ? `<table><thead><tr><th>#</th><th>Received</th><th>Source</th><th>Reason</th></tr></thead><tbody>
    ${page.rows.map((r) => `<tr><td><a href="#/rejected?id=${r.id}">${r.id}</a></td><td>${when(r.received_at)}</td><td>${esc(r.source)}</td><td class="error">${esc(r.reason)}</td></tr>`).join('')}
    </tbody></table>` : '<div class="empty">No rejected events.</div>'}`);
}

/** pretix as a source: its settings (never the token), fetches that fail or are parked, imports with progress. */
async function pretix(main) {
  const s = await api('GET', '/api/sources/pretix');
  if (!s.enabled) {
    paint(main, `<h1>pretix</h1><div class="empty" data-testid="pretix-off">The pretix source is not configured: set
      <code>ordersync.pretix.url</code>, <code>ordersync.pretix.organizer</code> and <code>ORDERSYNC_PRETIX_TOKEN</code>
      (README, "Connect pretix").</div>`);
    return;
  }
  const imports = s.imports || [];
  const changed = paint(main, `<h1>pretix</h1>
    <p class="muted">${esc(s.url)} · organizer <b>${esc(s.organizer)}</b> · events: ${esc(Array.isArray(s.events) ? s.events.join(', ') : s.events)}
      · token ${esc(s.token)} · polling ${s.polling_ms ? esc(s.polling_ms) + ' ms' : 'off'}${s.paused_until ? ` · <b>paused by pretix until ${when(s.paused_until)}</b>` : ''}</p>
    <div class="cards"><div class="card"><h3>Fetches after webhooks</h3><div class="stats">
      <div class="stat"><b data-testid="pretix-fetches">${s.fetches}</b><span>waiting</span></div>
      <div class="stat"><b>${s.retrying}</b><span>retrying (pretix unreachable)</span></div>
      <div class="stat ${s.parked ? 'bad' : ''}"><b data-testid="pretix-parked">${s.parked}</b><span>parked (token, unknown order)</span></div></div></div></div>
    ${s.problems.length ? `<table><thead><tr><th>Order</th><th>Error</th></tr></thead><tbody>${s.problems.map((p) =>
      `<tr><td>${esc(p.event)} / ${esc(p.code)}</td><td class="error">${esc(p.error)}</td></tr>`).join('')}</tbody></table>
      <div class="toolbar"><button id="pretix-retry">Retry parked fetches</button></div>` : ''}
    <h2>Import every order of an event</h2>
    <form id="pretix-import" class="toolbar"><input id="pretix-import-event" placeholder="event slug" required>
      <button>Import</button></form>
    ${imports.length ? `<table data-testid="pretix-imports"><thead><tr><th>#</th><th>Event</th><th>State</th><th>Progress</th><th>Last error</th><th></th></tr></thead><tbody>
      ${imports.map((i) => `<tr><td>${i.id}</td><td>${esc(i.event)}</td><td data-testid="pretix-import-state-${i.id}">${esc(i.state)}</td>
        <td data-testid="pretix-import-progress-${i.id}">${i.done + i.unchanged} / ${i.total ?? '?'}${i.unchanged ? ` (${i.unchanged} unchanged)` : ''}</td>
        <td class="error">${esc(i.last_error)}</td>
        <td>${i.state === 'running' ? `<button class="danger" data-cancel-import="${i.id}">Cancel</button>` : ''}</td></tr>`).join('')}</tbody></table>` : ''}`);
  if (!changed) return;
  if ($('#pretix-retry')) $('#pretix-retry').onclick = () => act(() => api('POST', '/api/sources/pretix/retry', {}), (r) => `${r.retried} due again`);
  main.querySelectorAll('[data-cancel-import]').forEach((b) => {
    b.onclick = () => {
      const id = b.dataset.cancelImport;
      if (!confirm(`Cancel import #${id}? The orders it took in stay; it reads no further page.`)) return;
      act(() => api('POST', `/api/sources/pretix/import/${encodeURIComponent(id)}/cancel`, {}), () => `Import #${id} canceled`);
    };
  });
  $('#pretix-import').onsubmit = (e) => {
    e.preventDefault();
    act(() => api('POST', '/api/sources/pretix/import', {event: $('#pretix-import-event').value.trim()}), (r) => `Import #${r.id} of ${r.event} started`);
  };
}

// ---- routing -------------------------------------------------------------------------------

async function render() {
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query || '');
  const parts = (path || '/').split('/').filter(Boolean).map(decodeURIComponent);
  const main = $('#main');
  const page = parts[0] || 'dashboard';
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.nav === page));
  try {
    if (page === 'orders') await orders(main, params);
    else if (page === 'problems') await problems(main, params);
    else if (page === 'order') await order(main, params, parts[1], parts[2]);
    else if (page === 'mappings') await mappings(main, params);
    else if (page === 'rejected') await rejected(main, params);
    else if (page === 'pretix') await pretix(main, params);
    else await dashboard(main, params);
  } catch (e) {
    if (e.message !== 'logged out') paint(main, `<div class="empty">${esc(e.message)}</div>`);
  }
}

window.addEventListener('hashchange', () => { $('#main').innerHTML = ''; $('#main')._html = null; render(); });
$('#find-order').addEventListener('submit', (e) => {
  e.preventDefault();
  location.hash = `#/order/${encodeURIComponent($('#find-event').value.trim())}/${encodeURIComponent($('#find-code').value.trim())}`;
});
$('#logout').onclick = async () => { await api('POST', '/api/logout'); location.href = '/login'; };
render();
clearInterval(timer);
timer = setInterval(() => { if (!document.hidden) render(); }, 2000);
