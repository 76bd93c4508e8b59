import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { HttpError, RetryBudgetExceededError } from '@tokencast/client';
import { bench, benchHelp, benchOptions } from './commands/bench.js';
import { chat, chatHelp, chatOptions } from './commands/chat.js';
import { inspect, inspectHelp, inspectOptions } from './commands/inspect.js';
import { ls, lsHelp, lsOptions } from './commands/ls.js';
import { queue, queueHelp, queueOptions } from './commands/queue.js';
import { watch, watchHelp, watchOptions } from './commands/watch.js';
import { type Ctx, EXIT, GLOBAL_HELP, GLOBAL_OPTIONS, makeCtx, NotFound, type Options, Unreachable, UsageError } from './context.js';
import { colorEnabled, makeStyle } from './format.js';

interface Command {
  summary: string;
  help: string;
  options: Options;
  run(ctx: Ctx): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  chat: { summary: 'send a prompt, stream the answer, print TTFT and tokens/s', help: chatHelp, options: chatOptions, run: chat },
  watch: { summary: 'follow a generation from any offset', help: watchHelp, options: watchOptions, run: watch },
  ls: { summary: 'recent and active generations (Redis)', help: lsHelp, options: lsOptions, run: ls },
  inspect: { summary: 'one generation: metadata, timings, raw redis-cli commands', help: inspectHelp, options: inspectOptions, run: inspect },
  queue: { summary: 'queue depth, pending jobs, consumers and idle times (Redis)', help: queueHelp, options: queueOptions, run: queue },
  bench: { summary: 'a quick load run against an edge', help: benchHelp, options: benchOptions, run: bench },
};

const MAIN_HELP = `tokencast: stream LLM output to any number of clients, resumably.

Usage: tokencast <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(9)}${c.summary}`)
  .join('\n')}

Run "tokencast <command> --help" for a command's options.

${GLOBAL_HELP}

Environment: TOKENCAST_URL, TOKENCAST_API_KEY, TOKENCAST_MODEL, REDIS_URL, TOKENCAST_KEY_PREFIX, NO_COLOR.
Exit status: 0 ok, 1 failed (generation failed or cancelled, request refused), 2 usage,
3 no such generation, 4 edge or Redis unreachable, 130 interrupted.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const env = process.env;
  const errStyle = makeStyle(colorEnabled(process.stderr.isTTY === true, env, argv.includes('--no-color')));
  const fail = (code: number, msg: string) => {
    process.stderr.write(`${errStyle.red('tokencast:')} ${msg}\n`);
    return code;
  };
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`${MAIN_HELP}\n`);
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = rest[0] ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(`${topic ? topic.help : MAIN_HELP}\n`);
    return EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return EXIT.ok;
  }
  const cmd = COMMANDS[name];
  if (!cmd) return fail(EXIT.usage, `unknown command "${name}"; run tokencast --help`);
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...cmd.options }, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    return fail(EXIT.usage, `${(err as Error).message}\nrun tokencast ${name} --help`);
  }
  if (parsed.values.help) {
    process.stdout.write(`${cmd.help}\n`);
    return EXIT.ok;
  }
  const ac = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    // First Ctrl-C: stop cleanly (close streams, print where we were). Second: now.
    if (++interrupts > 1) process.exit(EXIT.interrupted);
    ac.abort(new DOMException('interrupted', 'AbortError'));
  });
  const ctx = makeCtx(parsed.values, parsed.positionals, env, ac.signal);
  try {
    return await cmd.run(ctx);
  } catch (err) {
    if (ac.signal.aborted) return EXIT.interrupted;
    if (err instanceof UsageError) return fail(EXIT.usage, `${err.message}\nrun tokencast ${name} --help`);
    if (err instanceof NotFound) return fail(EXIT.notFound, err.message);
    if (err instanceof HttpError && err.status === 404) return fail(EXIT.notFound, `${err.message} (${err.code})`);
    if (err instanceof HttpError) return fail(EXIT.failed, `the edge answered ${err.status}: ${err.message} (${err.code})`);
    if (err instanceof Unreachable) return fail(EXIT.unreachable, err.message);
    if (err instanceof RetryBudgetExceededError) return fail(EXIT.unreachable, `${err.message}; resume with: tokencast watch <id> --from ${err.lastOffset}`);
    if (isConnectionFailure(err)) return fail(EXIT.unreachable, `cannot reach the edge at ${ctx.edgeUrl}: ${causeMessage(err)}`);
    return fail(EXIT.failed, err instanceof Error ? err.message : String(err));
  }
}

/** fetch() rejects with a bare TypeError("fetch failed") whose cause says what happened. */
function isConnectionFailure(err: unknown): boolean {
  return err instanceof TypeError && err.message === 'fetch failed';
}

function causeMessage(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

main(process.argv.slice(2)).then(
  (code) => {
    // Let stdout drain (a pipe may still hold the text), then leave even if a socket lingers.
    process.exitCode = code;
    process.stdout.write('', () => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`tokencast: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(EXIT.failed);
  },
);
