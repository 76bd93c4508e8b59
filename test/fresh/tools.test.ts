import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/processes.js';

/**
 * Issue #14, item 12: on a fresh machine the README's test command (`npm test`) installs the
 * Debian packages the suites need when it can (root, apt-get), and otherwise stops at once with
 * one line saying what is missing and how to install it. `npm test` runs `pretest` first; these
 * run that step with the tools hidden (TOKENCAST_TOOL_DIRS names the only directories searched).
 */
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function pretest(env: Record<string, string>) {
  const started = Date.now();
  const r = spawnSync('npm', ['run', '--silent', 'pretest'], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout, ms: Date.now() - started };
}

describe('#14.12 a fresh machine', () => {
  it('#14.12 npm test stops at once with one line naming the missing tools and the command that installs them', () => {
    const empty = mkdtempSync(join(tmpdir(), 'tokencast-notools-'));
    dirs.push(empty);
    const r = pretest({ TOKENCAST_TOOL_DIRS: empty, TOKENCAST_NO_INSTALL: '1' });
    expect(r.status).not.toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/needs redis-server, nginx, chromium, curl/);
    expect(lines[0]).toContain('apt-get install -y redis-server nginx chromium curl');
    expect(r.ms).toBeLessThan(15_000);
    // On this machine (everything installed) the step passes silently.
    const here = pretest({});
    expect(here.status, here.stderr).toBe(0);
    expect(here.stderr.trim()).toBe('');
  }, 60_000);

  it('#14.12 as root with apt-get available, npm test installs what is missing before running', () => {
    const bin = mkdtempSync(join(tmpdir(), 'tokencast-apt-'));
    dirs.push(bin);
    const log = join(bin, 'apt.log');
    // An apt-get in the searched directory: it records its arguments and, on install, puts the
    // named executables where the check looks (a real apt-get would install the packages).
    writeFileSync(
      join(bin, 'apt-get'),
      `#!/bin/sh\necho "$*" >> "${log}"\nif [ "$1" = install ]; then shift; for a in "$@"; do case "$a" in -*) ;; *) printf '#!/bin/sh\\n' > "${bin}/$a"; chmod +x "${bin}/$a";; esac; done; fi\n`,
    );
    chmodSync(join(bin, 'apt-get'), 0o755);
    const r = pretest({ TOKENCAST_TOOL_DIRS: bin, PATH: `${bin}:${process.env.PATH ?? ''}` });
    if (typeof process.getuid === 'function' && process.getuid() === 0) {
      expect(r.status, r.stderr).toBe(0);
      const calls = readFileSync(log, 'utf8').trim().split('\n');
      expect(calls[0]).toBe('update -qq');
      expect(calls[1]).toBe('install -y -qq redis-server nginx chromium curl');
    } else {
      // Not root: it cannot install, so it says what to run instead.
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('sudo apt-get install -y');
    }
  }, 60_000);
});
