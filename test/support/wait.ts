/**
 * The one polling wait of the test suites (issue #15, step 5: it replaces eight copies).
 *
 * Runs `check` every `everyMs` until it returns a truthy value, and returns that value; after
 * `timeoutMs` it throws `timed out after … waiting for <what>`, so a failing test says what it
 * was waiting for. A check that throws fails the wait at once: wrap it when an error only means
 * "not yet" (a server still starting).
 */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
