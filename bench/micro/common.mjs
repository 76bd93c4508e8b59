// What the micro-benchmarks share: Redis's own CPU, a median, and a paced loop.

/** Redis's CPU seconds so far (INFO cpu: user + sys). */
export async function redisCpu(admin) {
  const s = await admin.info('cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(s)[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(s)[1]);
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Calls tick() every everyMs ms for phaseMs ms (what a producer's flushes do), then resolves. */
export function everyUntil(phaseMs, everyMs, tick) {
  const t0 = Date.now();
  return new Promise((done) => {
    const timer = setInterval(() => {
      if (Date.now() - t0 > phaseMs) {
        clearInterval(timer);
        done();
        return;
      }
      tick();
    }, everyMs);
  });
}
