#!/usr/bin/env node
// Runs before `npm test` (the `pretest` script): the suites need real redis-server, nginx,
// chromium and curl. As root with apt-get available, the missing ones are installed (as .ci/run
// does); otherwise this stops at once with one line naming them and the command that installs
// them, instead of letting ten test files fail one by one.
//
// TOKENCAST_TOOL_DIRS (colon-separated) replaces the directories searched (default: PATH plus
// /usr/sbin and /usr/bin); TOKENCAST_NO_INSTALL=1 never installs. Both exist for its own test.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

/** Debian package → the executable the suites run. */
const TOOLS = { 'redis-server': 'redis-server', nginx: 'nginx', chromium: 'chromium', curl: 'curl' };

const dirs = (process.env.TOKENCAST_TOOL_DIRS ?? `${process.env.PATH ?? ''}:/usr/sbin:/usr/bin`).split(':').filter(Boolean);

function found(exe) {
  return dirs.some((d) => {
    try {
      accessSync(join(d, exe), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const missing = () =>
  Object.entries(TOOLS)
    .filter(([, exe]) => !found(exe))
    .map(([pkg]) => pkg);

let need = missing();
if (need.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const apt = dirs.find((d) => {
  try {
    accessSync(join(d, 'apt-get'), constants.X_OK);
    return true;
  } catch {
    return false;
  }
});
if (isRoot && apt && process.env.TOKENCAST_NO_INSTALL !== '1') {
  console.error(`npm test: installing ${need.join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync(join(apt, 'apt-get'), ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync(join(apt, 'apt-get'), ['install', '-y', '-qq', ...need], { stdio: 'inherit', env });
  } catch {
    // Reported below with what is still missing.
  }
  need = missing();
  if (need.length === 0) process.exit(0);
}
console.error(`npm test needs ${need.join(', ')}, not found: install with \`sudo apt-get install -y ${need.join(' ')}\` (Debian/Ubuntu), then run npm test again`);
process.exit(1);
