import { readFileSync } from 'node:fs';
import type { ChatMessage, ChatRequest, ToolChoice, ToolDefinition } from '@tokencast/client';
import { type Ctx, EXIT, GLOBAL_HELP, intOption, type Options, printJson, UsageError } from '../context.js';
import { duration } from '../format.js';
import { answerJson, endCode, endNote, onReconnectNote, printStream, rate, tokensOf } from './stream-print.js';

export const chatOptions: Options = {
  model: { type: 'string', short: 'm' },
  'max-tokens': { type: 'string' },
  system: { type: 'string', short: 's' },
  tools: { type: 'string' },
  'tool-choice': { type: 'string' },
  'reasoning-effort': { type: 'string' },
};

const EFFORTS = ['minimal', 'low', 'medium', 'high'] as const;

/** --tools: a JSON array of OpenAI tools, inline or from a file (@path). */
function toolsOption(raw: string): ToolDefinition[] {
  let text = raw;
  if (raw.startsWith('@')) {
    try {
      text = readFileSync(raw.slice(1), 'utf8');
    } catch (err) {
      throw new UsageError(`--tools: cannot read ${raw.slice(1)}: ${(err as Error).message}`);
    }
  }
  let tools: unknown;
  try {
    tools = JSON.parse(text);
  } catch {
    throw new UsageError('--tools must be a JSON array of tools (or @file holding one)');
  }
  if (!Array.isArray(tools)) throw new UsageError('--tools must be a JSON array of tools (or @file holding one)');
  // The edge validates each tool and answers 400 with the field at fault.
  return tools as ToolDefinition[];
}

function toolChoiceOption(raw: string): ToolChoice {
  if (raw === 'auto' || raw === 'none' || raw === 'required') return raw;
  return { type: 'function', function: { name: raw } };
}

export const chatHelp = `Usage: tokencast chat [options] "prompt"

Send a prompt and stream the answer to stdout as it is generated; then print TTFT, tokens and
tokens/s on stderr. A reasoning model's thinking streams dimmed on stderr (stdout stays the
answer); a tool call prints as "→ name(call id) " followed by its JSON arguments as they arrive. With "-" (or no prompt and a pipe on stdin) the prompt is read from stdin.
Ctrl-C stops watching, not the generation: it prints the command to pick it up again.

Options:
  -m, --model NAME     model (env TOKENCAST_MODEL, default mock)
  --max-tokens N       cap the answer's length
  -s, --system TEXT    a system message before the prompt
  --tools JSON|@FILE   tools the model may call: a JSON array in OpenAI's shape
                       ([{"type":"function","function":{"name":…,"parameters":{…}}}])
  --tool-choice C      auto, none, required, or a tool's name
  --reasoning-effort E minimal, low, medium or high
  --json               print one JSON object at the end instead of the text (with reasoning,
                       tool_calls and their parsed input, refusal)

${GLOBAL_HELP}

Exit status: 0 completed, 1 failed or cancelled, 2 usage, 4 edge unreachable, 130 interrupted.`;

async function readStdin(): Promise<string> {
  let s = '';
  for await (const chunk of process.stdin) s += chunk;
  return s.trim();
}

export async function chat(ctx: Ctx): Promise<number> {
  let prompt = ctx.positionals.join(' ').trim();
  if (prompt === '-' || (prompt === '' && !process.stdin.isTTY)) prompt = await readStdin();
  if (prompt === '') throw new UsageError('chat needs a prompt: tokencast chat "your prompt"');
  const maxTokens = intOption(ctx.values, 'max-tokens', 0, 1);
  const messages: ChatMessage[] = [];
  if (typeof ctx.values.system === 'string') messages.push({ role: 'system', content: ctx.values.system });
  messages.push({ role: 'user', content: prompt });
  const model = (typeof ctx.values.model === 'string' ? ctx.values.model : ctx.env.TOKENCAST_MODEL) || 'mock';
  const client = ctx.client();
  const t0 = performance.now();
  const request: ChatRequest = { model, messages };
  if (maxTokens) request.max_tokens = maxTokens;
  if (typeof ctx.values.tools === 'string') request.tools = toolsOption(ctx.values.tools);
  if (typeof ctx.values['tool-choice'] === 'string') request.tool_choice = toolChoiceOption(ctx.values['tool-choice']);
  const effort = ctx.values['reasoning-effort'];
  if (typeof effort === 'string') {
    if (!(EFFORTS as readonly string[]).includes(effort)) throw new UsageError(`--reasoning-effort must be one of ${EFFORTS.join(', ')}`);
    request.reasoning_effort = effort as (typeof EFFORTS)[number];
  }
  const submitted = await client.submit(request, { signal: ctx.signal });
  const stream = client.stream(submitted.id, { signal: ctx.signal, onReconnect: onReconnectNote(ctx) });
  let w: Awaited<ReturnType<typeof printStream>>;
  try {
    w = await printStream(ctx, stream, false);
  } catch (err) {
    if (ctx.signal.aborted) {
      ctx.stderr(ctx.err.dim(`\n[stopped watching; the generation goes on: tokencast watch ${submitted.id} --from ${stream.offset}]\n`));
    }
    throw err;
  }
  const t1 = performance.now();
  const tokens = tokensOf(w);
  const ttft = w.firstAt === null ? null : Math.round(w.firstAt - t0);
  const tps = rate(tokens, w);
  const finish = w.end?.type === 'done' ? w.end.finishReason : null;
  if (ctx.json) {
    printJson(ctx, {
      id: submitted.id,
      model,
      status: w.end?.type === 'done' ? w.end.status : 'failed',
      finish_reason: finish,
      error: w.end?.type === 'error' ? { code: w.end.code, message: w.end.message } : null,
      text: w.text,
      ...answerJson(w),
      usage: w.end?.type === 'done' ? w.end.usage : null,
      ttft_ms: ttft,
      tokens,
      tokens_per_second: tps,
      total_ms: Math.round(t1 - t0),
      reconnects: stream.reconnects,
    });
  } else {
    if (w.stdoutOpen || !w.printed) ctx.stdout('\n');
    endNote(ctx, w);
    const s = ctx.err;
    const parts = [`TTFT ${s.bold(duration(ttft))}`, `${s.bold(String(tokens))} tokens`, `${s.bold(tps === null ? '-' : String(tps))} tokens/s`, `total ${duration(t1 - t0)}`];
    if (finish) parts.push(finish);
    if (stream.reconnects) parts.push(`${stream.reconnects} reconnects`);
    ctx.stderr(`${s.dim(`${submitted.id} · ${model} ·`)} ${parts.join(s.dim(' · '))}\n`);
  }
  return endCode(w) === EXIT.ok ? EXIT.ok : EXIT.failed;
}
