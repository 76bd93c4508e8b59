import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError } from '@tokencast/protocol';
import type { FastifyReply } from 'fastify';
import { type RoutePlugin, wildcardParams } from '../plugins/schemas.js';

/**
 * The live page at `/`: plain static files from apps/edge/public, plus the browser build of
 * @tokencast/client (its tsc output, ES modules) and its one dependency, eventsource-parser.
 * Nothing is fetched or bundled at run time; every file is read once, at registration, into
 * memory, so a request can only ever name a file from that fixed set.
 *
 *   /                          index.html
 *   /assets/<file>             apps/edge/public/<file>
 *   /assets/sdk/<file>.js      packages/client/dist/<file>.js
 *   /assets/vendor/eventsource-parser.js
 */
interface Asset {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

function typeOf(name: string): string | null {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? null : (TYPES[name.slice(dot)] ?? null);
}

function loadDir(dir: string, into: Map<string, Asset>, prefix: string, filter: (name: string) => boolean = () => true): void {
  for (const name of readdirSync(dir)) {
    const type = typeOf(name);
    if (!type || !filter(name)) continue;
    into.set(prefix + name, { body: readFileSync(join(dir, name)), type });
  }
}

/** Where the SDK's browser files and eventsource-parser are; null when the SDK is not built. */
function sdkLocations(): { sdkDir: string; parserFile: string } | null {
  try {
    const require = createRequire(import.meta.url);
    const clientPkg = require.resolve('@tokencast/client/package.json');
    const sdkDir = join(dirname(clientPkg), 'dist');
    // Resolved from the client package: the version it depends on, in its ESM build.
    const parserPkg = createRequire(clientPkg).resolve('eventsource-parser/package.json');
    const parserFile = join(dirname(parserPkg), 'dist', 'index.js');
    if (!existsSync(join(sdkDir, 'index.js')) || !existsSync(parserFile)) return null;
    return { sdkDir, parserFile };
  } catch {
    return null;
  }
}

/**
 * The page's inline import map (it maps the SDK's bare imports to /assets/…) is the only inline
 * script; the Content-Security-Policy allows exactly it, by hash, and nothing else inline.
 */
function contentSecurityPolicy(html: string): string {
  const hashes = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    (m) =>
      `'sha256-${createHash('sha256')
        .update(m[1] as string)
        .digest('base64')}'`,
  );
  return [
    "default-src 'self'",
    `script-src 'self' ${hashes.join(' ')}`.trim(),
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function send(reply: FastifyReply, asset: Asset, extra: Record<string, string> = {}) {
  reply
    .header('content-type', asset.type)
    // Small files, changed by a deploy: always revalidate rather than serve a stale SDK.
    .header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff')
    // Share links carry read tokens: never leak them to another site through Referer.
    .header('referrer-policy', 'no-referrer');
  for (const [k, v] of Object.entries(extra)) reply.header(k, v);
  return reply.send(asset.body);
}

const pageRoutes: RoutePlugin = async (app) => {
  const assets = new Map<string, Asset>();
  loadDir(PUBLIC_DIR, assets, '');
  const sdk = sdkLocations();
  if (sdk) {
    loadDir(sdk.sdkDir, assets, 'sdk/', (n) => n.endsWith('.js'));
    assets.set('vendor/eventsource-parser.js', { body: readFileSync(sdk.parserFile), type: TYPES['.js'] as string });
  } else {
    app.log.warn('the live page needs the built client SDK (packages/client/dist): run `npx tsc -b`; the page will show an error until then');
  }
  const index = assets.get('index.html');
  if (!index) throw new Error(`the live page is missing: ${PUBLIC_DIR}index.html`);
  assets.delete('index.html');
  const csp = contentSecurityPolicy(index.body.toString('utf8'));

  app.get('/', (_req, reply) => send(reply, index, { 'content-security-policy': csp, 'x-frame-options': 'DENY' }));
  app.get('/assets/*', { schema: { params: wildcardParams } }, (req, reply) => {
    const asset = assets.get(req.params['*']);
    if (!asset) throw new NotFoundError('no such asset');
    return send(reply, asset);
  });
};

export default pageRoutes;
