/* sked dashboard: jobs, runs with a live log, workflow step graphs, a 24-hour
   timeline, the nodes of a cluster. Plain ES2020, no dependencies. Every request goes to a relative
   api/v1/... URL (so a path prefix in front of the daemon works); everything
   from the API reaches the page through textContent or attributes, never as
   markup. Views redraw only the parts whose data changed, so the periodic
   refresh does not flicker or steal focus. */
'use strict';
(() => {
  const REFRESH_MS = 3000;
  const SVGNS = 'http://www.w3.org/2000/svg';
  const ACTIVE = new Set(['queued', 'running']);
  const enc = encodeURIComponent;
  const $ = (id) => document.getElementById(id);

  /* ---- DOM helpers ---------------------------------------------------- */

  function build(el, attrs, kids) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid == null || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }
  const h = (tag, attrs, ...kids) => build(document.createElement(tag), attrs, kids);
  const s = (tag, attrs, ...kids) => build(document.createElementNS(SVGNS, tag), attrs, kids);

  /* Replaces box's children with make()'s only when key changed. */
  function patch(box, key, make) {
    if (box._key === key) return false;
    box._key = key;
    box.replaceChildren(...[make()].flat(Infinity).filter((x) => x != null && x !== false));
    return true;
  }

  /* ---- formatting ----------------------------------------------------- */

  const stClass = (st) => 'st-' + (/^[a-z_]+$/.test(st || '') ? st : 'unknown');
  const stLabel = (st) => (st ? String(st).replace(/_/g, ' ') : 'never ran');
  const badge = (st) => h('span', { class: 'badge ' + stClass(st || 'none') }, stLabel(st));
  const ms = (iso) => (iso ? Date.parse(iso) : NaN);

  function absTime(iso) {
    const t = ms(iso);
    if (isNaN(t)) return '—';
    return new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  }
  function relTime(iso, now = Date.now()) {
    const t = ms(iso);
    if (isNaN(t)) return '—';
    const d = t - now, a = Math.abs(d) / 1000;
    if (a < 2) return 'now';
    const txt = a < 45 ? `${Math.round(a)} s` : a < 5400 ? `${Math.round(a / 60)} min`
      : a < 129600 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
    return d > 0 ? `in ${txt}` : `${txt} ago`;
  }
  /* A <time> showing "in 4 min" with the absolute instant as its tooltip. */
  function when(iso, now) {
    if (!iso) return h('span', { class: 'muted' }, '—');
    return h('time', { datetime: iso, title: `${absTime(iso)} (${iso})` }, relTime(iso, now));
  }
  function duration(sec) {
    if (sec == null || isNaN(sec)) return '—';
    if (sec < 1) return `${Math.round(sec * 1000)} ms`;
    if (sec < 60) return `${Math.round(sec * 10) / 10} s`;
    const m = Math.floor(sec / 60), r = Math.round(sec % 60);
    if (m < 60) return r ? `${m} min ${r} s` : `${m} min`;
    const hh = Math.floor(m / 60), mm = m % 60;
    if (hh < 48) return mm ? `${hh} h ${mm} min` : `${hh} h`;
    return `${Math.floor(hh / 24)} d ${hh % 24} h`;
  }
  /* Seconds a run has taken so far (running) or took. */
  function elapsed(run, now = Date.now()) {
    if (run.duration != null) return run.duration;
    const st = ms(run.started_at);
    if (isNaN(st)) return null;
    const end = run.ended_at ? ms(run.ended_at) : now;
    return Math.max(0, (end - st) / 1000);
  }
  const runLink = (id, text) => h('a', { href: `#/runs/${id}` }, text || `#${id}`);
  const jobLink = (name) => h('a', { href: `#/jobs/${enc(name)}` }, name);

  /* ---- talking to the daemon ------------------------------------------ */

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  async function api(path, opts = {}) {
    const init = { method: opts.method || 'GET', cache: 'no-store', credentials: 'same-origin',
      headers: { Accept: opts.accept || 'application/json', ...(opts.headers || {}) } };
    if (opts.body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    /* Long enough for someone to type a token into the browser's login dialog. */
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 60000);
    init.signal = ctl.signal;
    let res;
    try {
      res = await fetch('api/v1/' + path, init);
    } catch (e) {
      throw new ApiError(0, ctl.signal.aborted ? 'no answer within 60 s' : e.message || 'network error');
    } finally {
      clearTimeout(timer);
    }
    if (opts.raw && (res.ok || res.status === 416 || res.status === 404)) return res;
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!res.ok) throw new ApiError(res.status, (data && data.error) || res.statusText || 'request failed');
    return data;
  }
  function explain(err) {
    if (!(err instanceof ApiError)) return `Something went wrong in the page: ${err.message || err}`;
    switch (err.status) {
      case 0: return `Cannot reach the sked daemon (${err.message}). Retrying…`;
      case 401: return 'Not signed in (401): this daemon needs a token. Reload the page and give the token as the password.';
      case 403: return `Not allowed (403): ${err.message}. This token can only read.`;
      case 503: return `The daemon is busy or stopping (503): ${err.message}`;
      default: return `${err.message} (HTTP ${err.status})`;
    }
  }

  /* ---- banner, toast, tooltip ----------------------------------------- */

  let bannerSticky = false;   // shown by a failed refresh: the next good one clears it
  function showError(err, sticky = false) {
    $('banner-text').textContent = explain(err);
    $('banner').hidden = false;
    bannerSticky = sticky;
  }
  function clearStickyError() {
    if (bannerSticky) { $('banner').hidden = true; bannerSticky = false; }
  }
  let toastTimer = 0;
  function toast(...kids) {
    const t = $('toast');
    t.replaceChildren(...kids);
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 12000);
  }
  function showTip(evt, lines) {
    const tip = $('tip');
    tip.replaceChildren(...lines.map((l, i) => h(i ? 'div' : 'strong', null, l)));
    tip.hidden = false;
    const r = evt.target.getBoundingClientRect();
    const x = evt.clientX || r.left + r.width / 2, y = evt.clientY || r.top;
    const w = tip.offsetWidth, ht = tip.offsetHeight;
    tip.style.left = `${Math.max(4, Math.min(window.innerWidth - w - 4, x + 12)) + window.scrollX}px`;
    tip.style.top = `${(y + 16 + ht > window.innerHeight ? y - ht - 10 : y + 16) + window.scrollY}px`;
  }
  const hideTip = () => { $('tip').hidden = true; };

  /* ---- shared state ---------------------------------------------------- */

  const state = { status: null, view: null, inflight: false };
  const isAdmin = () => !!state.status && state.status.role === 'admin';

  /* Runs an admin action from a button: disables it meanwhile, reports errors. */
  async function act(button, fn) {
    button.disabled = true;
    try {
      await fn();
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
      refreshSoon();
    }
  }
  async function triggerJob(name, params) {
    const r = await api(`jobs/${enc(name)}/trigger`, { method: 'POST', body: params ? { params } : undefined });
    toast(`Triggered ${name}: `, h('a', { href: `#/runs/${r.run_id}`, class: 'toast-run' }, `run #${r.run_id}`));
  }
  const pauseJob = (name, pause) => api(`jobs/${enc(name)}/${pause ? 'pause' : 'resume'}`, { method: 'POST' });
  function jobButtons(job) {
    return [
      h('button', { type: 'button', class: 'primary trigger', 'data-job': job.name,
        'aria-label': `Trigger ${job.name} now`,
        onclick: (e) => act(e.currentTarget, () => triggerJob(job.name)) }, 'Trigger'),
      h('button', { type: 'button', class: job.paused ? 'resume' : 'pause', 'data-job': job.name,
        'aria-label': `${job.paused ? 'Resume' : 'Pause'} ${job.name}`,
        onclick: (e) => act(e.currentTarget, () => pauseJob(job.name, !job.paused)) },
      job.paused ? 'Resume' : 'Pause'),
    ];
  }

  /* ---- sparkline: the last runs, newest on the right -------------------- */

  function sparkline(recent, slots = 20) {
    const runs = (recent || []).slice(0, slots).reverse();
    const bw = 6, H = 24, now = Date.now();
    const durs = runs.map((r) => elapsed(r, now) || 0);
    const max = Math.max(1e-3, ...durs);
    const counts = {};
    runs.forEach((r) => { counts[r.status] = (counts[r.status] || 0) + 1; });
    const label = runs.length ? `Last ${runs.length} runs: ` +
      Object.entries(counts).map(([k, n]) => `${n} ${stLabel(k)}`).join(', ') : 'No runs yet';
    const svg = s('svg', { class: 'spark', width: slots * bw, height: H, viewBox: `0 0 ${slots * bw} ${H}`,
      role: 'img', 'aria-label': label });
    svg.append(s('title', null, label));
    runs.forEach((r, i) => {
      const bh = r.started_at ? 3 + Math.round((H - 3) * Math.sqrt(durs[i] / max)) : 3;
      const x = (slots - runs.length + i) * bw;
      svg.append(s('a', { href: `#/runs/${r.id}`, 'aria-label': `run ${r.id}` },
        s('title', null, `#${r.id} ${stLabel(r.status)} · ${duration(durs[i])} · ${absTime(r.started_at)}`),
        s('rect', { class: 'bar ' + stClass(r.status), x: x + 1, y: H - bh, width: bw - 2, height: bh, rx: 1 })));
    });
    return svg;
  }

  /* ---- step graph of a workflow ---------------------------------------- */

  /* steps: [{name, needs}] in file order; runs: {step name: its latest run}. */
  function stepGraph(steps, runs) {
    const byName = new Map(steps.map((st) => [st.name, st]));
    const depth = new Map();
    const depthOf = (name, seen = new Set()) => {
      if (depth.has(name)) return depth.get(name);
      if (seen.has(name) || !byName.has(name)) return 0;
      seen.add(name);
      const needs = byName.get(name).needs || [];
      const d = needs.length ? 1 + Math.max(...needs.map((n) => depthOf(n, seen))) : 0;
      depth.set(name, d);
      return d;
    };
    steps.forEach((st) => depthOf(st.name));
    const layers = [];
    steps.forEach((st) => {
      const d = depth.get(st.name);
      if (!layers[d]) layers[d] = [];
      layers[d].push(st);
    });
    /* Order each layer by where its needs sit (fewer crossings), else file order. */
    const row = new Map();
    layers.forEach((layer) => {
      const key = (st) => {
        const ps = (st.needs || []).filter((n) => row.has(n)).map((n) => row.get(n));
        return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : steps.indexOf(st);
      };
      layer.sort((a, b) => key(a) - key(b)).forEach((st, i) => row.set(st.name, i));
    });
    const W = 150, H = 46, GX = 56, GY = 18, P = 8;
    const rows = Math.max(1, ...layers.map((l) => (l ? l.length : 0)));
    const width = P * 2 + layers.length * W + (layers.length - 1) * GX;
    const height = P * 2 + rows * H + (rows - 1) * GY;
    const pos = (name) => ({ x: P + depth.get(name) * (W + GX), y: P + row.get(name) * (H + GY) });
    const svg = s('svg', { class: 'graph', width, height, viewBox: `0 0 ${width} ${height}`,
      role: 'group', 'aria-label': 'Workflow steps' },
    s('defs', null, s('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: 8, refY: 4, markerWidth: 8,
      markerHeight: 8, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L8,4 L0,8 z', class: 'arrowhead' }))));
    for (const st of steps) {
      for (const need of st.needs || []) {
        if (!byName.has(need)) continue;
        const a = pos(need), b = pos(st.name);
        const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x - 2, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
        svg.append(s('path', { class: 'edge', 'data-from': need, 'data-to': st.name,
          d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, 'marker-end': 'url(#arrow)' }));
      }
    }
    for (const st of steps) {
      const run = runs && runs[st.name];
      const status = run ? run.status : runs ? 'pending' : 'none';
      const { x, y } = pos(st.name);
      const name = st.name.length > 19 ? st.name.slice(0, 18) + '…' : st.name;
      const sub = run ? `${stLabel(status)}${run.attempt > 1 ? ` · try ${run.attempt}` : ''}` +
        (elapsed(run) != null ? ` · ${duration(elapsed(run))}` : '') : runs ? 'not started' : '';
      const box = [s('title', null, `${st.name}: ${run ? stLabel(status) : sub || 'step'}`),
        s('rect', { x, y, width: W, height: H, rx: 6 }),
        s('text', { x: x + 10, y: y + (sub ? 19 : 28), class: 'name' }, name),
        sub && s('text', { x: x + 10, y: y + 36, class: 'sub' }, sub)];
      const attrs = { class: `step ${stClass(status)}`, 'data-step': st.name, 'data-status': status };
      svg.append(run ? s('a', { ...attrs, href: `#/runs/${run.id}`,
        'aria-label': `Step ${st.name}: ${stLabel(status)}; open its run` }, box) : s('g', attrs, box));
    }
    return h('div', { class: 'graph-wrap' }, svg);
  }

  /* ---- small building blocks --------------------------------------------- */

  const facts = (pairs, cls = '') => h('dl', { class: 'facts ' + cls },
    pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
  function kvTable(obj, empty) {
    const keys = obj && typeof obj === 'object' ? Object.keys(obj) : [];
    if (!keys.length) return h('span', { class: 'muted' }, empty);
    return h('table', { class: 'kv' }, h('tbody', null, keys.map((k) => h('tr', null,
      h('th', { scope: 'row' }, k),
      h('td', null, typeof obj[k] === 'string' ? obj[k] : JSON.stringify(obj[k]))))));
  }
  function runsTable(runs, { showJob = false, showStep = false } = {}) {
    if (!runs.length) return h('p', { class: 'muted' }, 'No runs yet.');
    const now = Date.now();
    return h('div', { class: 'table-wrap' }, h('table', { class: 'list' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Run'),
        showJob && h('th', { scope: 'col' }, 'Job'), showStep && h('th', { scope: 'col' }, 'Step'),
        ['Status', 'Try', 'Trigger', 'Started', 'Duration', 'Exit'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, runs.map((r) => h('tr', null,
        h('td', null, runLink(r.id)), showJob && h('td', null, jobLink(r.job)),
        showStep && h('td', null, r.step || '—'), h('td', null, badge(r.status)),
        h('td', null, r.attempt ?? '—'), h('td', null, r.event || r.trigger || '—'),
        h('td', null, when(r.started_at || r.scheduled_at, now)),
        h('td', { class: 'num' }, duration(elapsed(r, now))),
        h('td', { class: 'num' }, r.exit_code != null ? r.exit_code : r.signal != null ? `signal ${r.signal}` : '—'))))));
  }
  const section = (title, ...kids) => h('section', { class: 'panel' }, h('h2', null, title), kids);

  /* The nodes sharing this daemon's store (GET nodes): one row each. */
  function ageText(msec) {
    const a = Math.max(0, Number(msec) || 0) / 1000;
    return a < 90 ? `${Math.round(a)} s` : a < 5400 ? `${Math.round(a / 60)} min`
      : a < 129600 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  }
  function nodesTable(nodes) {
    if (!nodes.length) return h('p', { class: 'muted' }, 'No node has reported to the store yet.');
    return h('div', { class: 'table-wrap' }, h('table', { class: 'list nodes' },
      h('thead', null, h('tr', null, ['Node', 'Role', 'Heartbeat', 'Running', 'Labels']
        .map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, nodes.map((n) => h('tr', { 'data-node': n.name, class: n.alive ? null : 'silent' },
        h('td', null, h('strong', null, n.name), n.self && h('span', { class: 'tag' }, 'this node')),
        h('td', null, n.leader ? h('span', { class: 'tag leader' }, 'leader') : h('span', { class: 'muted' }, 'standby')),
        h('td', { title: n.seen_at ? `last heart-beat ${absTime(n.seen_at)}` : null }, n.alive
          ? `${ageText(n.age_ms)} ago`
          : [h('span', { class: 'tag silent' }, 'silent'), ` for ${ageText(n.age_ms)}`]),
        h('td', { class: 'num' }, `${n.running ?? 0}/${n.max_parallel ?? '—'}`),
        h('td', null, (n.labels || []).length
          ? n.labels.map((l) => h('code', { class: 'label' }, l))
          : h('span', { class: 'muted' }, '—')))))));
  }

  /* ---- the jobs list ----------------------------------------------------- */

  const COLS = ['Name', 'Trigger', 'Next run', 'Last', 'Recent runs', 'State', 'Actions'];

  class JobsView {
    constructor() {
      try { this.filter = sessionStorage.getItem('sked.filter') || ''; } catch (e) { this.filter = ''; }
      this.rows = new Map();
      this.jobs = null;
    }
    mount(root) {
      const input = h('input', { id: 'filter', type: 'search', value: this.filter, placeholder: 'name contains…',
        autocomplete: 'off', spellcheck: 'false' });
      input.addEventListener('input', () => {
        this.filter = input.value;
        try { sessionStorage.setItem('sked.filter', this.filter); } catch (e) { /* private mode */ }
        this.render();
      });
      this.count = h('span', { class: 'muted count' });
      this.head = h('thead');
      this.body = h('tbody');
      this.empty = h('p', { class: 'muted empty', hidden: true });
      this.nodesBox = h('div', { id: 'nodes' });
      root.append(
        h('div', { class: 'title-row' }, h('h1', null, 'Jobs ', this.count),
          h('div', { class: 'filter' }, h('label', { for: 'filter' }, 'Filter'), input)),
        h('div', { class: 'table-wrap' }, h('table', { class: 'list jobs' }, this.head, this.body)),
        this.empty, this.nodesBox);
    }
    async refresh() {
      /* Nodes: only where there can be more than one (a PostgreSQL store). */
      const st = state.status || {};
      const cluster = st.store === 'postgres' || st.nodes > 1;
      const [data, nodes] = await Promise.all([api('jobs?recent=20'),
        cluster ? api('nodes').catch(() => null) : null]);
      this.jobs = data.jobs || [];
      this.nodes = nodes && Array.isArray(nodes.nodes) ? nodes.nodes : null;
      this.render();
    }
    render() {
      if (!this.jobs) return;
      const admin = isAdmin();
      const nodes = this.nodes;
      patch(this.nodesBox, JSON.stringify(nodes), () => (nodes
        ? h('section', { class: 'panel nodes-panel' }, h('h2', null, 'Nodes ',
          h('span', { class: 'muted count' }, `${nodes.filter((n) => n.alive).length} of ${nodes.length} alive`)),
        nodesTable(nodes))
        : null));
      patch(this.head, admin, () => h('tr', null,
        COLS.slice(0, admin ? 7 : 6).map((c) => h('th', { scope: 'col' }, c))));
      const f = this.filter.trim().toLowerCase();
      const shown = this.jobs.filter((j) => j.name.toLowerCase().includes(f));
      this.count.textContent = f ? `${shown.length} of ${this.jobs.length}` : `${this.jobs.length}`;
      this.empty.hidden = shown.length > 0;
      this.empty.textContent = this.jobs.length ? 'No job name matches the filter.' : 'No jobs are configured.';
      const now = Date.now(), seen = new Set();
      shown.forEach((job, i) => {
        seen.add(job.name);
        let tr = this.rows.get(job.name);
        if (!tr) {
          tr = h('tr', { 'data-job': job.name });
          tr.cells_ = Array.from({ length: 7 }, () => h('td'));
          this.rows.set(job.name, tr);
        }
        const cells = [
          [job.name + job.kind + job.enabled, () => [jobLink(job.name),
            job.kind === 'workflow' && h('span', { class: 'tag' }, 'workflow'),
            job.enabled === false && h('span', { class: 'tag' }, 'disabled')]],
          [job.trigger + job.trigger_text, () => [h('code', null, job.trigger || '—'),
            job.trigger_text && h('div', { class: 'muted small' }, job.trigger_text)]],
          [job.next + relTime(job.next, now), () => when(job.next, now)],
          [job.last_status, () => badge(job.last_status)],
          [JSON.stringify(job.recent) + (job.running ? now : ''), () => sparkline(job.recent)],
          [`${job.paused}/${job.running}/${job.waiting}`, () => [
            job.paused ? h('span', { class: 'tag paused' }, 'paused') : h('span', { class: 'muted' }, 'active'),
            job.running > 0 && h('span', { class: 'tag running' }, `${job.running} running`),
            job.waiting > 0 && h('span', { class: 'tag' }, `${job.waiting} waiting`)]],
          admin && [`${job.paused}`, () => h('div', { class: 'actions' }, jobButtons(job))],
        ].filter(Boolean);
        if (tr.childElementCount !== cells.length) tr.replaceChildren(...tr.cells_.slice(0, cells.length));
        tr.cells_.forEach((td, k) => { td.dataset.label = COLS[k]; });
        cells.forEach(([key, make], k) => patch(tr.cells_[k], String(key), make));
        if (this.body.children[i] !== tr) this.body.insertBefore(tr, this.body.children[i] || null);
      });
      for (const [name, tr] of this.rows) {
        if (!seen.has(name)) tr.remove();
      }
    }
  }

  /* ---- one job ---------------------------------------------------------- */

  class JobView {
    constructor(name) { this.name = name; }
    mount(root) {
      this.actions = h('div', { class: 'actions' });
      this.badge = h('span');
      this.facts = h('div');
      this.upcoming = h('div');
      this.graph = h('div');
      this.params = h('div');
      this.runs = h('div');
      this.def = h('pre', { class: 'code' });
      root.append(h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Jobs'), ' / '),
        h('div', { class: 'title-row' }, h('h1', null, this.name, ' ', this.badge), this.actions),
        this.params, h('div', { class: 'cols' }, section('Facts', this.facts), section('Upcoming', this.upcoming)),
        this.graph, section('Runs', this.runs), section('Definition', this.def));
    }
    async refresh() {
      let job;
      try {
        job = await api(`jobs/${enc(this.name)}`);
      } catch (e) {
        if (e.status === 404) {
          patch(this.facts, '404', () => h('p', null, `There is no job named “${this.name}”.`));
        }
        throw e;
      }
      const runs = await api(`runs?job=${enc(this.name)}&limit=50`);
      const now = Date.now(), admin = isAdmin();
      patch(this.badge, job.kind + job.paused, () => [job.kind === 'workflow' && h('span', { class: 'tag' }, 'workflow'),
        job.paused && h('span', { class: 'tag paused' }, 'paused')]);
      patch(this.actions, `${admin}${job.paused}`, () => (admin ? jobButtons(job) : null));
      patch(this.facts, JSON.stringify(job) + relTime(job.next, now), () => facts([
        ['Trigger', [h('code', null, job.trigger || '—'), job.trigger_text ? ` — ${job.trigger_text}` : '']],
        ['Time zone', job.timezone || '—'],
        ['Next run', job.next ? [when(job.next, now), h('span', { class: 'muted' }, ` · ${absTime(job.next)}`)] : '—'],
        ['Last outcome', badge(job.last_status)],
        ['State', [job.paused ? 'paused' : 'active', job.enabled === false ? ', disabled' : '',
          job.running ? `, ${job.running} running` : '', job.waiting ? `, ${job.waiting} waiting` : '']],
        job.recent && ['Recent', sparkline(job.recent)],
      ]));
      patch(this.upcoming, JSON.stringify(job.upcoming) + (job.upcoming || []).map((u) => relTime(u, now)), () =>
        (job.upcoming && job.upcoming.length
          ? h('ol', { class: 'upcoming' }, job.upcoming.map((u) => h('li', null, absTime(u), ' ',
            h('span', { class: 'muted' }, `(${relTime(u, now)})`))))
          : h('p', { class: 'muted' }, 'No scheduled fires (manual, or paused).')));
      patch(this.graph, JSON.stringify(job.steps), () => (Array.isArray(job.steps) && job.steps.length
        ? section('Steps', stepGraph(job.steps, null)) : null));
      const declared = job.definition && job.definition.params;
      patch(this.params, admin + JSON.stringify(declared), () => (admin && declared && typeof declared === 'object'
        && Object.keys(declared).length ? this.paramsForm(declared) : null));
      patch(this.runs, JSON.stringify(runs.runs) + ((runs.runs || []).some((r) => ACTIVE.has(r.status)) ? now : ''),
        () => [runsTable(runs.runs || []), runs.next_before != null &&
          h('p', { class: 'muted small' }, 'Showing the latest 50 runs.')]);
      patch(this.def, JSON.stringify(job.definition), () => JSON.stringify(job.definition ?? null, null, 2));
    }
    paramsForm(declared) {
      const inputs = Object.entries(declared).map(([k, v], i) => {
        const id = `param-${i}`;
        return [h('label', { for: id }, k), h('input', { id, name: k, value: v == null ? '' : String(v) })];
      });
      const form = h('form', { class: 'panel params' }, h('h2', null, 'Run with parameters'),
        h('div', { class: 'param-grid' }, inputs), h('button', { type: 'submit', class: 'primary' }, 'Trigger with these'));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const params = {};
        for (const el of form.querySelectorAll('input')) params[el.name] = el.value;
        act(form.querySelector('button'), () => triggerJob(this.name, params));
      });
      return form;
    }
  }

  /* ---- one run: facts, log, step graph ----------------------------------- */

  class RunView {
    constructor(id) { this.id = id; this.job = undefined; this.log = null; this.es = null; }
    mount(root) {
      this.title = h('h1', null, `Run #${this.id}`);
      this.crumbs = h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Jobs'), ' / ');
      this.actions = h('div', { class: 'actions' });
      this.facts = h('div');
      this.graph = h('div');
      this.logState = h('span', { class: 'muted small', id: 'log-state' });
      this.logEl = h('pre', { class: 'log', id: 'log', tabindex: '0', 'aria-label': 'Run output' });
      this.follow = h('input', { type: 'checkbox', id: 'follow', checked: true });
      this.logBox = h('section', { class: 'panel', hidden: true },
        h('div', { class: 'title-row' }, h('h2', null, 'Output ', this.logState),
          h('label', { class: 'small' }, this.follow, ' follow')), this.logEl);
      root.append(this.crumbs, h('div', { class: 'title-row' }, this.title, this.actions),
        section('Facts', this.facts), this.graph, this.logBox);
    }
    unmount() { if (this.es) { this.es.close(); this.es = null; } }
    async refresh() {
      const run = await api(`runs/${this.id}`).catch((e) => {
        if (e.status === 404) patch(this.facts, '404', () => h('p', null, `There is no run #${this.id}.`));
        throw e;
      });
      if (run.step == null && Array.isArray(run.steps) && this.job === undefined) {
        this.job = await api(`jobs/${enc(run.job)}`).catch(() => null);
      }
      const now = Date.now(), admin = isAdmin(), active = ACTIVE.has(run.status);
      this.interval = run.status === 'queued' ? 1000 : REFRESH_MS;   // catch the start of a short run
      document.title = `#${run.id} ${run.job} · sked`;
      patch(this.crumbs, `${run.job}/${run.parent_id}`, () => [h('a', { href: '#/' }, 'Jobs'), ' / ', jobLink(run.job),
        run.parent_id != null && [' / ', runLink(run.parent_id, `workflow run #${run.parent_id}`)], ' /']);
      patch(this.title, run.status + run.step, () => [`Run #${run.id} `, run.step ? h('span', { class: 'muted' }, `step ${run.step} `) : '',
        badge(run.status)]);
      patch(this.actions, `${admin}${active}`, () => (!admin ? null : active
        ? this.confirmButton('Cancel', 'danger cancel', () => api(`runs/${this.id}/cancel`, { method: 'POST' })
          .then(() => toast(`Cancelling run #${this.id}`)))
        : h('button', { type: 'button', class: 'retry', onclick: (e) => act(e.currentTarget, async () => {
          const r = await api(`runs/${this.id}/retry`, { method: 'POST' });
          toast('Retrying: ', h('a', { href: `#/runs/${r.run_id}`, class: 'toast-run' }, `run #${r.run_id}`));
        }) }, 'Retry')));
      const d = elapsed(run, now);
      patch(this.facts, JSON.stringify(run) + (active ? now : ''), () => facts([
        ['Status', [badge(run.status), run.reason ? h('span', null, ` ${run.reason}`) : '']],
        ['Job', [jobLink(run.job), run.step ? ` · step ${run.step}` : '']],
        ['Trigger', run.event ? `event: ${run.event}` : (run.trigger || '—')],
        ['Attempt', run.attempt ?? '—'],
        ['Scheduled', [when(run.scheduled_at, now), ` · ${absTime(run.scheduled_at)}`]],
        run.queued_at && ['Queued', absTime(run.queued_at)],
        ['Started', run.started_at ? absTime(run.started_at) : '—'],
        ['Ended', run.ended_at ? absTime(run.ended_at) : active ? 'not yet' : '—'],
        ['Duration', d == null ? '—' : duration(d) + (run.ended_at ? '' : ' so far')],
        ['Exit', run.exit_code != null ? `code ${run.exit_code}` : run.signal != null ? `signal ${run.signal}` : '—'],
        run.pid != null && active && ['PID', String(run.pid)],
        run.node && ['Node', run.node],
        ['Parameters', kvTable(run.params, 'none')],
        ['Outputs', kvTable(run.outputs, 'none')],
      ], 'wide'));
      if (Array.isArray(run.steps)) {
        const latest = {};
        for (const st of run.steps) latest[st.step] = st;  // oldest first: a retry wins
        const steps = this.job && Array.isArray(this.job.steps) ? this.job.steps
          : Object.keys(latest).map((name) => ({ name, needs: [] }));
        patch(this.graph, JSON.stringify([steps, run.steps]) + (active ? now : ''), () => section('Steps',
          stepGraph(steps, latest), runsTable(run.steps.slice().reverse(), { showStep: true })));
      }
      this.updateLog(run);
    }
    confirmButton(label, cls, fn) {
      const b = h('button', { type: 'button', class: cls }, label);
      let armed = 0;
      b.addEventListener('click', () => {
        if (!armed) {
          b.textContent = `Really ${label.toLowerCase()}?`;
          armed = setTimeout(() => { armed = 0; b.textContent = label; }, 4000);
          return;
        }
        clearTimeout(armed);
        armed = 0;
        b.textContent = label;
        act(b, fn);
      });
      return b;
    }
    updateLog(run) {
      const active = ACTIVE.has(run.status);
      if (Array.isArray(run.steps) && !run.has_log) return;   // a workflow has no output of its own
      this.logBox.hidden = false;
      if (this.es || this.log === 'done') return;
      if (run.status === 'running' && !this.noStream) return this.stream();
      if (run.status === 'queued') { this.logState.textContent = '(waiting for the run to start)'; return; }
      if (run.has_log === false) {
        this.log = 'done';
        this.logState.textContent = '(this run has no output)';
        return;
      }
      if (this.log !== 'loading') this.fetchLog(run).catch((e) => showError(e));
    }
    stream() {
      this.logEl.textContent = '';
      this.logEl.dataset.mode = 'stream';
      this.logState.textContent = '(live)';
      const es = new EventSource(`api/v1/runs/${this.id}/log?follow=1`);
      this.es = es;
      /* A long log arrives as many events: draw them once per frame. */
      const queue = [];
      es.onmessage = (e) => {
        if (queue.push(e.data) > 5000) queue.shift();
        if (queue.length === 1) requestAnimationFrame(() => this.append(queue.splice(0)));
      };
      es.onopen = () => { this.logState.textContent = '(live)'; };
      /* The run went to another node: its output is there. Read it through
         this daemon (it fetches it from that node) instead. */
      es.addEventListener('node', (e) => {
        es.close();
        this.es = null;
        this.log = null;
        this.noStream = true;
        let node = '';
        try { node = JSON.parse(e.data).node; } catch (err) { node = ''; }
        this.logState.textContent = node ? `(runs on node ${node})` : '(runs on another node)';
        refreshSoon();
      });
      es.addEventListener('end', (e) => {
        es.close();
        this.es = null;
        this.log = 'done';
        let st = '';
        try { st = JSON.parse(e.data).status; } catch (err) { st = ''; }
        this.logState.textContent = st ? `(ended: ${stLabel(st)})` : '(ended)';
        refreshSoon();
      });
      es.onerror = () => {
        if (es.readyState === EventSource.CLOSED) {   // refused (401, 404, …): read the file instead
          this.es = null;
          this.log = null;
          this.noStream = true;   // poll the text instead
          this.logState.textContent = '(live stream unavailable)';
        } else {
          this.logState.textContent = '(reconnecting…)';
        }
      };
    }
    async fetchLog(run) {
      this.log = 'loading';
      const LIMIT = 256 * 1024;
      try {
        let res = await api(`runs/${this.id}/log`, { raw: true, accept: 'text/plain', headers: { Range: `bytes=-${LIMIT}` } });
        if (res.status === 416) res = await api(`runs/${this.id}/log`, { raw: true, accept: 'text/plain' });
        const node = res.headers.get('X-Sked-Node');
        if (res.status === 404) {
          let why = '';
          if (node) {
            try { why = (await res.json()).error || ''; } catch (err) { why = ''; }
          }
          this.logEl.textContent = '';
          this.logState.textContent = why ? `(${why})` : '(no output)';
        } else {
          let text = await res.text();
          this.logEl.dataset.mode = 'text';
          this.logEl.textContent = '';
          if (res.status === 206 && !/^bytes 0-/.test(res.headers.get('Content-Range') || '')) {
            text = text.slice(text.indexOf('\n') + 1);   // the first line is cut
            this.logEl.append(h('span', { class: 'muted' }, '… (earlier output not shown)\n'));
          }
          this.append(text.replace(/\n$/, '').split('\n').filter((l, i, a) => l || a.length > 1));
          this.logState.textContent = (text ? '' : '(empty)') + (node ? ` (from node ${node})` : '');
          this.scroll(true);
        }
        this.log = ACTIVE.has(run.status) ? null : 'done';
      } catch (e) {
        this.log = null;
        if (e instanceof ApiError && e.status === 502) {   // its node is down: say so here
          this.logState.textContent = `(${e.message})`;
          this.log = ACTIVE.has(run.status) ? null : 'done';
          return;
        }
        throw e;
      }
    }
    /* Lines look like "2026-11-27T04:05:06.123Z out | text": the stamp is dimmed,
       lines from stderr and from sked itself are marked. */
    append(lines) {
      const el = this.logEl;
      const atEnd = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
      const frag = document.createDocumentFragment();
      for (const line of lines) {
        const m = /^(\S+ (\w+) \| )(.*)$/.exec(line);
        frag.append(m ? h('span', { class: `line ${m[2]}` }, h('span', { class: 'stamp' }, m[1]), m[3], '\n')
          : h('span', { class: 'line' }, line, '\n'));
      }
      el.append(frag);
      while (el.childNodes.length > 5000) el.firstChild.remove();
      this.scroll(atEnd);
    }
    scroll(atEnd) {
      if (this.follow.checked && atEnd) this.logEl.scrollTop = this.logEl.scrollHeight;
    }
  }

  /* ---- timeline: the last 24 hours as a Gantt chart ---------------------- */

  class TimelineView {
    constructor() { this.interval = 10000; this.data = null; }
    mount(root) {
      this.note = h('p', { class: 'muted small' });
      this.chart = h('div', { class: 'gantt', id: 'gantt' });
      root.append(h('div', { class: 'title-row' }, h('h1', null, 'Timeline'),
        h('p', { class: 'muted' }, 'The last 24 hours. Hover a bar for the run; click to open it.')),
      h('section', { class: 'panel' }, this.chart, this.note));
      this.onResize = () => this.render();
      window.addEventListener('resize', this.onResize);
    }
    unmount() { window.removeEventListener('resize', this.onResize); hideTip(); }
    async refresh() {
      const now = Date.now();
      const since = new Date(now - 86400e3).toISOString();
      const [runs, jobs] = await Promise.all([api(`runs?since=${enc(since)}&limit=1000`), api('jobs')]);
      this.data = { runs: runs.runs || [], more: runs.next_before != null, jobs: (jobs.jobs || []).map((j) => j.name) };
      this.render();
    }
    render() {
      if (!this.data) return;
      const { runs, jobs, more } = this.data;
      const now = Date.now(), t0 = now - 86400e3;
      const names = [...new Set([...jobs, ...runs.map((r) => r.job)])];
      const narrow = this.chart.clientWidth < 600;
      const LW = narrow ? 90 : 150, RH = 26, TH = 22;
      const width = Math.max(this.chart.clientWidth || 800, 480), plot = width - LW - 10;
      const height = TH + Math.max(1, names.length) * RH + 4;
      const X = (t) => LW + ((t - t0) / 86400e3) * plot;
      const svg = s('svg', { class: 'timeline', width, height, viewBox: `0 0 ${width} ${height}`,
        role: 'group', 'aria-label': `Runs of the last 24 hours, ${runs.length} runs` });
      names.forEach((n, i) => {
        const y = TH + i * RH;
        if (i % 2) svg.append(s('rect', { class: 'band', x: 0, y, width, height: RH }));
        const label = n.length > (narrow ? 11 : 20) ? n.slice(0, narrow ? 10 : 19) + '…' : n;
        svg.append(s('a', { href: `#/jobs/${enc(n)}` }, s('text', { class: 'row-label', x: 6, y: y + RH / 2 + 4 },
          s('title', null, n), label)));
      });
      const step = [1, 2, 3, 4, 6].find((k) => (plot / 24) * k >= 52) || 6;
      const hour = 3600e3;
      for (let t = Math.ceil(t0 / hour) * hour; t <= now; t += hour) {
        const d = new Date(t), x = X(t);
        svg.append(s('line', { class: 'tick', x1: x, x2: x, y1: TH - 4, y2: height }));
        if (d.getHours() % step === 0 && x > LW + 14 && x < width - 14) {
          svg.append(s('text', { class: 'tick-label', x, y: TH - 8, 'text-anchor': 'middle' },
            d.getHours() ? d.toLocaleTimeString(undefined, { hour: 'numeric' })
              : d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric' })));
        }
      }
      svg.append(s('line', { class: 'now', x1: X(now), x2: X(now), y1: TH - 4, y2: height }));
      for (const r of runs) {
        const row = names.indexOf(r.job), y = TH + row * RH + 6;
        const start = ms(r.started_at), end = r.ended_at ? ms(r.ended_at) : now;
        const at = isNaN(start) ? ms(r.scheduled_at || r.queued_at || r.ended_at) : start;
        if (isNaN(at) || row < 0) continue;
        const lines = [`${r.job} · run #${r.id}`, `${stLabel(r.status)}${r.reason ? ` — ${r.reason}` : ''}`,
          `${isNaN(start) ? 'scheduled' : 'started'} ${absTime(isNaN(start) ? r.scheduled_at : r.started_at)}`,
          !isNaN(start) && (r.ended_at ? `ended ${absTime(r.ended_at)} · ${duration(elapsed(r, now))}`
            : `running for ${duration(elapsed(r, now))}`)].filter(Boolean);
        let mark;
        if (isNaN(start)) {
          const x = X(Math.max(t0, at));
          mark = s('path', { class: `mark ${stClass(r.status)}`, d: `M${x},${y} l5,7 l-5,7 l-5,-7 z` });
        } else {
          const x1 = X(Math.max(t0, start)), x2 = X(Math.min(now, Math.max(end, start)));
          mark = s('rect', { class: `bar ${stClass(r.status)}`, x: x1, y, width: Math.max(3, x2 - x1), height: RH - 12, rx: 2 });
        }
        const a = s('a', { href: `#/runs/${r.id}`, class: 'run', 'data-run': r.id, 'aria-label': lines.join(', ') }, mark);
        const show = (e) => showTip(e, lines);
        a.addEventListener('mousemove', show);
        a.addEventListener('focus', show);
        a.addEventListener('mouseleave', hideTip);
        a.addEventListener('blur', hideTip);
        svg.append(a);
      }
      hideTip();
      this.chart.replaceChildren(svg);
      this.note.textContent = (runs.length ? `${runs.length} run${runs.length > 1 ? 's' : ''}.` : 'No runs in the last 24 hours.') +
        (more ? ' Only the latest 1000 are shown.' : '');
    }
  }

  /* ---- routing and the refresh loop -------------------------------------- */

  function route() {
    const parts = location.hash.replace(/^#\/?/, '').split('/');
    if (parts[0] === 'runs' && /^\d+$/.test(parts[1] || '')) return ['run', new RunView(Number(parts[1]))];
    if (parts[0] === 'jobs' && parts[1]) {
      let name = parts.slice(1).join('/');
      try { name = decodeURIComponent(name); } catch (e) { /* keep it as written */ }
      return ['job', new JobView(name)];
    }
    if (parts[0] === 'timeline') return ['timeline', new TimelineView()];
    return ['jobs', new JobsView()];
  }

  let timer = 0;
  function show() {
    if (state.view && state.view.unmount) state.view.unmount();
    const [name, view] = route();
    state.view = view;
    document.title = 'sked';
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    const root = $('view');
    root.replaceChildren();
    root.dataset.view = name;
    view.mount(root);
    state.inflight = false;
    refresh();
  }

  async function refreshStatus() {
    const st = await api('status');
    const was = state.status && state.status.role;
    state.status = st;
    const now = Date.now();
    const parts = [`sked ${st.version || ''}`.trim(),
      st.store === 'postgres' && st.node ? `node ${st.node}` : null, `up ${duration(st.uptime)}`,
      `${st.active_runs || 0} running`, st.waiting_runs ? `${st.waiting_runs} waiting` : null,
      st.next_job ? `next: ${st.next_job} ${relTime(st.next_due, now)}` : null].filter(Boolean);
    const standby = st.leading === false;
    patch($('daemon'), parts.join() + st.role + standby, () => [parts.join(' · '),
      standby && h('span', { class: 'tag', title: 'Another node leads this PostgreSQL store and runs its jobs' }, 'standby'),
      st.role !== 'admin' && h('span', { class: 'tag', title: 'This token can only read' }, 'read-only')]);
    return was !== st.role;
  }

  async function refresh() {
    clearTimeout(timer);
    const view = state.view;
    let delay = view.interval || REFRESH_MS;
    if (state.inflight) {
      state.again = true;   // asked for while one is going: run again right after it
    } else if (!document.hidden) {
      state.again = false;
      state.inflight = true;
      try {
        const roleChanged = await refreshStatus();
        if (view === state.view) {
          await view.refresh();
          if (roleChanged && view.render) view.render();
        }
        clearStickyError();
      } catch (e) {
        if (view === state.view) showError(e, true);
      } finally {
        if (view === state.view) state.inflight = false;
      }
      if (state.again) delay = 150;
    }
    if (view !== state.view) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, delay);
  }
  function refreshSoon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 150);
  }

  function start() {
    $('banner-close').addEventListener('click', () => { $('banner').hidden = true; bannerSticky = false; });
    window.addEventListener('hashchange', () => { hideTip(); show(); $('view').focus({ preventScroll: true }); });
    document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshSoon(); });
    document.addEventListener('keydown', (e) => {
      const f = $('filter');
      if (e.key === '/' && f && document.activeElement !== f && !/INPUT|TEXTAREA/.test(e.target.tagName)) {
        e.preventDefault();
        f.focus();
      }
    });
    window.addEventListener('error', (e) => showError(e.error || new Error(e.message)));
    show();
  }
  start();
})();
