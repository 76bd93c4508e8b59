// What the write-path micro-measurements share: claimed generations, and a paced append load
// over them (each generation appends one token every `iv` ms for `dur` ms, starts spread over one
// interval; a generation whose previous append has not answered skips its tick).

const REQUEST = { kind: 'chat', model: 'mock', messages: [{ role: 'user', content: 'x' }], prompt: '', maxTokens: null, stream: true, includeUsage: false, params: {} };

/** `n` queued and claimed generations of `engine`, ready for appends. */
export async function claimedGenerations(engine, protocol, n) {
  const gens = [];
  for (let i = 0; i < n; i++) {
    const m = protocol.queuedMeta(protocol.newGenerationId(), REQUEST);
    await engine.queue.enqueue(m);
    const claim = await engine.store.claim(m.id, 'p');
    gens.push({ id: m.id, fence: claim.fence, last: 0, busy: false });
  }
  return gens;
}

/** Runs the paced load; resolves with the appends made, the ticks skipped and each append's latency (ms). */
export async function paceAppends(store, gens, iv, dur) {
  let appends = 0;
  let skipped = 0;
  const lat = [];
  const t0 = performance.now();
  await new Promise((resolve) => {
    gens.forEach((g, i) => {
      const tick = async () => {
        if (performance.now() - t0 > dur) return;
        if (g.busy) {
          skipped++;
          return;
        }
        g.busy = true;
        const s = performance.now();
        g.last = (await store.append(g.id, g.fence, g.last, [{ kind: 'token', text: ' w', tokens: 1, ms: [1] }])).lastOffset;
        lat.push(performance.now() - s);
        appends++;
        g.busy = false;
      };
      setTimeout(
        () => {
          const h = setInterval(tick, iv);
          setTimeout(() => clearInterval(h), dur);
        },
        (i * iv) / gens.length,
      );
    });
    setTimeout(resolve, dur + 500);
  });
  lat.sort((a, b) => a - b);
  return { appends, skipped, p50: lat[lat.length >> 1] ?? Number.NaN, p99: lat[Math.floor(lat.length * 0.99)] ?? Number.NaN };
}
