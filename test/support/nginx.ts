import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis.js';

/**
 * The repository's root, found from this file whether it runs as source (vitest) or compiled
 * (`npm run cluster` runs scripts/dist/…, one level deeper).
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'deploy', 'nginx', 'nginx.conf')) && existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no repository root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const NGINX_TEMPLATE = join(repoRoot(), 'deploy', 'nginx', 'nginx.conf');

/** A placeholder whose value is a list repeats its line once per item (the upstream servers). */
export type TemplateVars = Record<string, string | readonly string[]>;

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

const PLACEHOLDER = /\$\{([A-Z][A-Z0-9_]*)\}/g;

const isComment = (line: string) => line.trimStart().startsWith('#');

/** Names of the `${NAME}` placeholders in a template, comments aside (nginx's own `$vars` are lower case). */
export function placeholders(template: string): string[] {
  const live = template
    .split('\n')
    .filter((l) => !isComment(l))
    .join('\n');
  return [...new Set([...live.matchAll(PLACEHOLDER)].map((m) => m[1] as string))];
}

/**
 * Fills the template the way the compose setup does (envsubst of the names given), except that a
 * line naming a list variable is repeated per item. A placeholder without a value is an error:
 * nginx would otherwise read `${NAME}` as an unknown variable and fail far from the cause.
 */
export function renderTemplate(template: string, vars: TemplateVars): string {
  const out: string[] = [];
  for (const line of template.split('\n')) {
    if (isComment(line)) {
      out.push(line);
      continue;
    }
    const names = [...line.matchAll(PLACEHOLDER)].map((m) => m[1] as string);
    for (const n of names) if (!(n in vars)) throw new TemplateError(`no value for \${${n}} in: ${line.trim()}`);
    const lists = [...new Set(names.filter((n) => Array.isArray(vars[n])))];
    if (lists.length > 1) throw new TemplateError(`one list placeholder per line, got ${lists.join(', ')}`);
    const fill = (item: string | null) => line.replace(PLACEHOLDER, (_, n: string) => (Array.isArray(vars[n]) ? (item as string) : (vars[n] as string)));
    const list = lists[0] ? (vars[lists[0]] as readonly string[]) : null;
    if (list) {
      if (list.length === 0) throw new TemplateError(`\${${lists[0]}} is an empty list`);
      for (const item of list) out.push(fill(item));
    } else out.push(fill(null));
  }
  return out.join('\n');
}

export function nginxBinary(): string {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {}
  }
  throw new Error('nginx is not installed: apt-get install -y nginx (.ci/run installs it)');
}

export interface NginxOptions {
  /** host:port of each edge. */
  upstreams: readonly string[];
  /** Port to listen on; 0 or unset: a free one. */
  port?: number;
}

export interface Nginx {
  url: string;
  port: number;
  /** The rendered config, as nginx runs it. */
  config: string;
  /** Access log lines (JSON, one per request, written when the response ends) and errors. */
  logs(): string;
  /** Access log entries parsed. */
  accessLog(): NginxAccess[];
  stop(): Promise<void>;
}

export interface NginxAccess {
  method: string;
  uri: string;
  status: number;
  /** The edge(s) tried, "a:1, b:2" when nginx moved on to another. */
  upstream: string;
  upstream_status: string;
}

export function renderLocalConfig(template: string, runDir: string, port: number, upstreams: readonly string[]): string {
  return renderTemplate(template, { NGINX_LISTEN: `127.0.0.1:${port}`, NGINX_RUN_DIR: runDir, EDGE_ADDR: upstreams });
}

/** Checks a config with `nginx -t`; throws with nginx's message when it is refused. */
export function testNginxConfig(config: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'tokencast-nginx-t-'));
  try {
    const file = join(dir, 'nginx.conf');
    writeFileSync(file, config);
    // stdout: not a pipe, which /dev/stdout (the access log) cannot be opened on.
    execFileSync(nginxBinary(), ['-t', '-q', '-p', dir, '-e', 'stderr', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    throw new Error(`nginx -t refused the config:\n${stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Debian's nginx with the repo's config (deploy/nginx/nginx.conf), as a foreground process on a
 * free port, its pid and temp files in a temp directory: no root paths, no daemon.
 */
export async function startNginx(opts: NginxOptions): Promise<Nginx> {
  const bin = nginxBinary();
  const port = opts.port || (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'tokencast-nginx-'));
  // When started as root, nginx's workers run as nobody: they must reach their temp directories.
  chmodSync(dir, 0o755);
  const file = join(dir, 'nginx.conf');
  const template = readFileSync(NGINX_TEMPLATE, 'utf8');
  const config = renderLocalConfig(template, dir, port, opts.upstreams);
  writeFileSync(file, config);
  let out = '';
  // The access log goes to /dev/stdout (as in a container). Node's stdio pipes are sockets, which
  // /dev/stdout cannot be opened on: stdout is a file here.
  const accessFile = join(dir, 'access.log');
  const accessFd = openSync(accessFile, 'a');
  const child: ChildProcess = spawn(bin, ['-p', dir, '-e', 'stderr', '-c', file, '-g', 'daemon off;'], { stdio: ['ignore', accessFd, 'pipe'] });
  closeSync(accessFd);
  const access = () => {
    try {
      return readFileSync(accessFile, 'utf8');
    } catch {
      return ''; // removed by stop()
    }
  };
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  const fail = (why: string) => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    return new Error(`${why}:\n${out}`);
  };
  for (;;) {
    if (child.exitCode !== null) throw fail(`nginx exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/nginx-health`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw fail(`nginx did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    config,
    logs: () => out + access(),
    accessLog: () =>
      access()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as NginxAccess),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // SIGTERM: fast shutdown (SIGQUIT would wait for every open stream to end).
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
