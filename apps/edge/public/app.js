// The live page: submit a prompt, watch the tokens arrive, share a viewer link, survive reloads
// and dropped connections. Plain ES modules, no build: the SDK is served from its tsc output.
import { HttpError, RetryBudgetExceededError, TokencastClient } from '@tokencast/client';

const $ = (id) => document.getElementById(id);
const GAPS_SHOWN = 120;
const SAVE_EVERY_MS = 150;

/** Everything about the generation on screen, before there is one (the state resetView() returns to). */
function freshView() {
  return {
    id: null,
    token: null,
    /** This tab submitted it (so it measures TTFT itself and keeps the form). */
    owner: false,
    offset: 0,
    text: '',
    /** The model's reasoning, its signature (null: none yet), a refusal, and the tool calls ({index, id, name, arguments}). */
    reasoning: '',
    signature: null,
    refusal: '',
    toolCalls: [],
    count: 0,
    gaps: [],
    ttftMs: null,
    reconnects: 0,
    /** GET /v1/generations/:id timings, once the generation is over. */
    serverTimings: null,
    /** performance.now() of the submit (owner only), first and last token seen in this page load. */
    t0: null,
    firstAt: null,
    lastAt: null,
    tokensSinceLoad: 0,
    abort: null,
  };
}

/** Everything about the generation on screen; a snapshot of it survives a reload (sessionStorage). */
const view = freshView();

/**
 * The API key lives in this variable only, never in sessionStorage or localStorage: anything
 * else served on this origin could read those. A reload forgets it; the page then watches with
 * the read token in its URL (shareLink), and asks for the key again only to submit.
 */
let apiKey = '';
let client = makeClient();
/** The DOM of each tool call on screen, by index. */
const toolEls = new Map();
/** The reader opened or closed the reasoning: leave it as they chose. */
let reasoningToggled = false;
let saveTimer = null;
let drawQueued = false;

function makeClient() {
  return new TokencastClient(apiKey ? { apiKey } : {});
}

function setState(state, label = state) {
  document.body.dataset.state = state;
  $('status').textContent = label;
}

function showError(message) {
  const el = $('error');
  el.textContent = message;
  el.hidden = !message;
}

// ---- persistence: the id in the URL, the text and offset in this tab's sessionStorage ----

const storeKey = (id) => `tokencast:gen:${id}`;

function save() {
  clearTimeout(saveTimer);
  saveTimer = null;
  if (!view.id) return;
  const snapshot = {
    offset: view.offset,
    text: view.text,
    reasoning: view.reasoning,
    signature: view.signature,
    refusal: view.refusal,
    toolCalls: view.toolCalls,
    count: view.count,
    gaps: view.gaps.slice(-GAPS_SHOWN),
    ttftMs: view.ttftMs,
    owner: view.owner,
    reconnects: view.reconnects,
  };
  try {
    sessionStorage.setItem(storeKey(view.id), JSON.stringify(snapshot));
  } catch {
    // Storage full or disabled: a reload then replays from the start, which is still correct.
  }
}

function scheduleSave() {
  saveTimer ??= setTimeout(save, SAVE_EVERY_MS);
}

function load(id) {
  try {
    const s = JSON.parse(sessionStorage.getItem(storeKey(id)) ?? 'null');
    if (s && Number.isSafeInteger(s.offset) && typeof s.text === 'string') return s;
  } catch {}
  return null;
}

addEventListener('pagehide', save);

// ---- rendering ----

function fmtMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function percentile(values, p) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

function drawMetrics() {
  drawQueued = false;
  $('tokens').textContent = String(view.count);
  $('offset').textContent = view.offset ? `offset ${view.offset}` : '';
  $('reconnects').textContent = String(view.reconnects);
  $('ttft').textContent = fmtMs(view.ttftMs);
  const gaps = view.gaps;
  const server = view.serverTimings;
  if (server && server.itl_mean_ms !== null) {
    $('itl').textContent = fmtMs(server.itl_mean_ms);
    $('itl-p95').textContent = `mean · p95 ${fmtMs(server.itl_p95_ms)}`;
  } else if (gaps.length) {
    $('itl').textContent = fmtMs(gaps.reduce((a, b) => a + b, 0) / gaps.length);
    $('itl-p95').textContent = `mean · p95 ${fmtMs(percentile(gaps, 0.95))}`;
  }
  if (server && server.tokens_per_second !== null) {
    $('tps').textContent = String(server.tokens_per_second);
  } else if (view.firstAt !== null && view.lastAt > view.firstAt && view.tokensSinceLoad > 1) {
    $('tps').textContent = ((view.tokensSinceLoad - 1) / ((view.lastAt - view.firstAt) / 1000)).toFixed(1);
  }
  drawSpark(gaps.slice(-GAPS_SHOWN));
  const out = $('output');
  const nearBottom = out.scrollHeight - out.scrollTop - out.clientHeight < 40;
  if (nearBottom) out.scrollTop = out.scrollHeight;
}

function queueDraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(drawMetrics);
}

function drawSpark(gaps) {
  const svg = $('spark');
  if (!gaps.length) {
    svg.replaceChildren();
    return;
  }
  // Scale to a high percentile, not the max: one stall (a reconnect) must not flatten the rest.
  const top = Math.max(1, percentile(gaps, 0.95) * 1.5);
  const w = 240 / GAPS_SHOWN;
  const ns = 'http://www.w3.org/2000/svg';
  const bars = gaps.map((g, i) => {
    const h = Math.max(1, Math.min(40, (g / top) * 40));
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('x', String(i * w));
    r.setAttribute('y', String(40 - h));
    r.setAttribute('width', String(Math.max(0.5, w - 0.5)));
    r.setAttribute('height', String(h));
    if (g > top) r.setAttribute('class', 'over');
    return r;
  });
  svg.replaceChildren(...bars);
}

function resetView() {
  view.abort?.abort();
  Object.assign(view, freshView());
  $('output').textContent = '';
  $('output').hidden = false;
  $('reasoning').hidden = true;
  $('reasoning').open = true;
  $('reasoning-text').textContent = '';
  $('reasoning-meta').textContent = '';
  $('refusal').hidden = true;
  $('refusal-text').textContent = '';
  $('tool-calls').replaceChildren();
  toolEls.clear();
  reasoningToggled = false;
  $('itl').textContent = '–';
  $('itl-p95').textContent = '';
  $('tps').textContent = '–';
  $('ttft-src').textContent = '';
  $('share-box').hidden = true;
  delete document.body.dataset.timings;
  showError('');
  drawMetrics();
}

// ---- reasoning, tool calls, refusal ----

function appendReasoning(text, signature) {
  const box = $('reasoning');
  box.hidden = false;
  if (text) $('reasoning-text').append(text);
  // Open while the model thinks; the reader's own click wins.
  if (!reasoningToggled) box.open = true;
  $('reasoning-meta').textContent = `${view.reasoning.length} chars${signature || view.signature ? ' · signed' : ''}`;
}

/** When the answer starts, the reasoning folds away (unless the reader chose otherwise). */
function foldReasoning() {
  if (!reasoningToggled && !$('reasoning').hidden) $('reasoning').open = false;
}

function addToolCall(call) {
  const root = document.createElement('div');
  root.className = 'tool-call';
  root.dataset.index = String(call.index);
  const head = document.createElement('div');
  head.className = 'tool-head';
  const name = document.createElement('span');
  name.className = 'tool-name';
  name.textContent = call.name;
  const id = document.createElement('code');
  id.className = 'tool-id';
  id.textContent = call.id;
  const label = document.createElement('span');
  label.className = 'tool-label';
  label.textContent = 'tool call';
  head.append(label, name, id);
  const args = document.createElement('pre');
  args.className = 'tool-args';
  args.textContent = call.arguments;
  root.append(head, args);
  $('tool-calls').append(root);
  toolEls.set(call.index, { root, args });
  // A generation that only calls tools has no text: no empty answer box.
  $('output').hidden = view.text === '';
}

/** Once the generation is over, show each call's arguments indented (when they are valid JSON). */
function completeToolCalls() {
  for (const call of view.toolCalls) {
    const el = toolEls.get(call.index);
    if (!el) continue;
    el.root.dataset.complete = '';
    try {
      el.args.textContent = JSON.stringify(JSON.parse(call.arguments || '{}'), null, 2);
    } catch {
      // Cut short (max_tokens, cancelled): leave the raw text as it came.
    }
  }
}

function showRefusal() {
  $('refusal').hidden = false;
  $('refusal-text').textContent = view.refusal;
}

/** Apply one output event to the view and the screen. */
function applyEvent(ev, textNode) {
  switch (ev.type) {
    case 'token':
      foldReasoning();
      view.text += ev.text;
      $('output').hidden = false;
      textNode.appendData(ev.text);
      break;
    case 'reasoning':
      view.reasoning += ev.text;
      if (ev.signature !== undefined) view.signature = ev.signature;
      appendReasoning(ev.text, ev.signature);
      break;
    case 'tool_call': {
      foldReasoning();
      const call = { index: ev.index, id: ev.id, name: ev.name, arguments: '' };
      view.toolCalls.push(call);
      addToolCall(call);
      break;
    }
    case 'tool_args': {
      const call = view.toolCalls.find((c) => c.index === ev.index);
      if (!call) break;
      call.arguments += ev.args;
      toolEls.get(ev.index)?.args.append(ev.args);
      break;
    }
    case 'refusal':
      foldReasoning();
      view.refusal += ev.text;
      showRefusal();
      break;
  }
}

function shareLink() {
  const u = new URL('/', location.origin);
  u.searchParams.set('watch', view.id);
  if (view.token) u.searchParams.set('token', view.token);
  return u.toString();
}

// ---- the stream ----

async function watch(id, saved) {
  view.id = id;
  view.abort = new AbortController();
  const { signal } = view.abort;
  if (saved) {
    Object.assign(view, {
      offset: saved.offset,
      text: saved.text,
      reasoning: saved.reasoning ?? '',
      signature: saved.signature ?? null,
      refusal: saved.refusal ?? '',
      toolCalls: Array.isArray(saved.toolCalls) ? saved.toolCalls : [],
      count: saved.count ?? 0,
      gaps: saved.gaps ?? [],
      ttftMs: saved.ttftMs ?? null,
      reconnects: saved.reconnects ?? 0,
    });
    $('output').textContent = saved.text;
    if (view.reasoning) appendReasoning('', null);
    $('reasoning-text').textContent = view.reasoning;
    for (const call of view.toolCalls) addToolCall(call);
    if (view.refusal) showRefusal();
    if (view.text || view.toolCalls.length) foldReasoning();
  }
  document.body.dataset.resumedFrom = String(view.offset);
  $('gen-id').textContent = id;
  $('share').disabled = false;
  $('stop').disabled = !view.owner;
  $('ttft-src').textContent = view.owner ? 'measured here' : 'server';
  const textNode = $('output').appendChild(document.createTextNode(''));
  setState('streaming', view.offset ? `resuming after ${view.offset}` : 'waiting for the first token');
  queueDraw();
  const opts = {
    from: view.offset,
    signal,
    retry: { maxAttempts: 12, maxDelayMs: 4000 },
    onReconnect: (info) => {
      view.reconnects++;
      setState('reconnecting', `reconnecting after ${info.offset}…`);
      queueDraw();
    },
  };
  if (view.token) opts.readToken = view.token;
  try {
    for await (const ev of client.stream(id, opts)) {
      if (ev.type !== 'done' && ev.type !== 'error') {
        const now = performance.now();
        if (view.lastAt !== null) view.gaps.push(now - view.lastAt);
        if (view.gaps.length > GAPS_SHOWN * 4) view.gaps.splice(0, view.gaps.length - GAPS_SHOWN);
        view.firstAt ??= now;
        view.lastAt = now;
        view.tokensSinceLoad++;
        if (view.ttftMs === null && view.owner && view.t0 !== null) view.ttftMs = now - view.t0;
        if (view.ttftMs === null && !view.owner && view.count === 0) void serverTtft(id, signal);
        view.offset = ev.offset;
        // A tool call's start carries no model token.
        if (ev.type !== 'tool_call') view.count++;
        applyEvent(ev, textNode);
        if (document.body.dataset.state !== 'streaming' || view.count === 1) setState('streaming');
        scheduleSave();
        queueDraw();
      } else if (ev.type === 'done') {
        completeToolCalls();
        save();
        setState(ev.status === 'cancelled' ? 'cancelled' : 'done', ev.status === 'cancelled' ? 'cancelled' : `done · ${ev.finishReason ?? 'stop'}`);
        void serverTimings(id, signal);
      } else {
        save();
        setState('error', 'failed');
        showError(`${ev.code}: ${ev.message}`);
      }
    }
  } catch (err) {
    if (signal.aborted) return;
    setState('error', 'error');
    if (err instanceof HttpError && err.status === 404) showError('No such generation: it expired, or the link is wrong.');
    else if (err instanceof HttpError && err.status === 401) showError('This edge needs an API key or a read token (open "API key" above).');
    else if (err instanceof RetryBudgetExceededError) showError(`The edge is unreachable. Reload to resume after offset ${err.lastOffset}.`);
    else showError(err instanceof Error ? err.message : String(err));
  } finally {
    $('stop').disabled = true;
    queueDraw();
  }
}

function tokenOpts(signal) {
  return view.token ? { signal, readToken: view.token } : { signal };
}

async function serverTtft(id, signal) {
  try {
    const g = await client.get(id, tokenOpts(signal));
    if (view.id === id && view.ttftMs === null && g.timings.ttft_ms !== null) {
      view.ttftMs = g.timings.ttft_ms;
      queueDraw();
    }
  } catch {}
}

/** Once it is over, the producer's own per-token times give the exact figures. */
async function serverTimings(id, signal) {
  try {
    const t = (await client.get(id, tokenOpts(signal))).timings;
    if (view.id !== id) return;
    view.serverTimings = t;
    document.body.dataset.timings = 'server';
    if (!view.owner && t.ttft_ms !== null) view.ttftMs = t.ttft_ms;
    $('ttft-src').textContent = view.owner ? 'measured here' : 'server';
    queueDraw();
  } catch {}
}

// ---- actions ----

async function generate() {
  const prompt = $('prompt').value.trim();
  if (!prompt) return;
  resetView();
  view.owner = true;
  view.t0 = performance.now();
  setState('submitting', 'submitting…');
  const request = { model: $('model').value, messages: [{ role: 'user', content: prompt }] };
  const max = Number($('max-tokens').value);
  if (Number.isInteger(max) && max > 0) request.max_tokens = max;
  const tools = $('tools').value.trim();
  if (tools) {
    try {
      request.tools = JSON.parse(tools);
    } catch {
      setState('error', 'error');
      showError('Tools must be a JSON array of tools, as in the placeholder.');
      return;
    }
    request.tool_choice = $('tool-choice').value;
  }
  try {
    const s = await client.submit(request);
    view.token = s.readToken ?? null;
    view.id = s.id;
    // The URL names the generation: a reload (or a copied address bar) comes back to it.
    history.replaceState(null, '', shareLink());
    save();
    await watch(s.id, null);
  } catch (err) {
    setState('error', 'error');
    showError(err instanceof Error ? err.message : String(err));
  }
}

async function stop() {
  if (!view.id) return;
  $('stop').disabled = true;
  try {
    await client.cancel(view.id);
  } catch (err) {
    showError(err instanceof Error ? err.message : String(err));
  }
}

async function share() {
  const link = shareLink();
  $('share-link').value = link;
  $('share-open').href = link;
  $('share-box').hidden = false;
  $('share-link').select();
  try {
    await navigator.clipboard.writeText(link);
    $('share-copied').textContent = 'copied';
  } catch {
    $('share-copied').textContent = 'select and copy';
  }
}

async function loadModels() {
  try {
    const names = (await client.models()).map((m) => m.id).filter((n) => n !== '*');
    if (!names.length) return;
    const select = $('model');
    const current = select.value;
    select.replaceChildren(
      ...names.map((n) => {
        const o = document.createElement('option');
        o.value = n;
        o.textContent = n;
        return o;
      }),
    );
    select.value = names.includes(current) ? current : names[0];
  } catch {
    // Keep the default entry; submitting will say what is wrong.
  }
  document.body.dataset.models = 'loaded';
}

function init() {
  $('generate').addEventListener('click', () => void generate());
  // A click on the summary is the reader's choice; the page stops folding it for them.
  $('reasoning')
    .querySelector('summary')
    .addEventListener('click', () => {
      reasoningToggled = true;
    });
  $('stop').addEventListener('click', () => void stop());
  $('share').addEventListener('click', () => void share());
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) void generate();
  });
  const key = $('api-key');
  // Versions before this one kept the key in sessionStorage: forget any copy left there.
  sessionStorage.removeItem('tokencast:api-key');
  key.addEventListener('change', () => {
    apiKey = key.value.trim();
    client = makeClient();
    void loadModels();
  });
  const params = new URLSearchParams(location.search);
  const id = params.get('watch');
  const saved = id ? load(id) : null;
  view.owner = saved?.owner === true;
  // A viewer has no form, so no use for the model list (and may hold only a read token).
  if (!id || view.owner) void loadModels();
  if (!id) return;
  view.token = params.get('token');
  if (!view.owner) {
    $('compose').hidden = true;
    $('viewer-note').hidden = false;
    $('viewer-id').textContent = id;
  }
  void watch(id, saved);
}

init();
