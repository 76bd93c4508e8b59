import { TokencastError } from '@tokencast/protocol';

/** A setting is missing or wrong; the process stops at start-up with this message. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The writer's fence is stale: another producer claimed the generation since. */
export class FencedError extends TokencastError {
  constructor(id: string) {
    super(409, 'server_error', 'fenced', `generation ${id} was claimed by another producer`);
  }
}

/** The generation already has its terminal event; nothing may follow it. */
export class EndedError extends TokencastError {
  constructor(id: string) {
    super(409, 'server_error', 'generation_ended', `generation ${id} has already ended`);
  }
}

/** The generation's meta is gone (expired or never existed) while someone tried to write. */
export class MissingGenerationError extends TokencastError {
  constructor(id: string) {
    super(404, 'not_found_error', 'generation_not_found', `generation ${id} does not exist`);
  }
}

/** The backing store cannot be reached. */
export class StoreUnavailableError extends TokencastError {
  constructor(cause: unknown) {
    super(503, 'service_unavailable', 'store_unavailable', 'the stream store is unavailable, retry shortly', { cause });
  }
}

/**
 * Redis refused a write because it is full (maxmemory reached with noeviction). Only the write
 * that hit it fails, with a status that says so; reads keep working, and nothing is retried
 * against a full store as if it were unreachable.
 */
export class StoreFullError extends TokencastError {
  constructor(cause: unknown) {
    super(507, 'server_error', 'storage_full', 'the store is full: this write was refused (reads still work); retry later or free space', { cause });
  }
}

/** Redis's error reply when maxmemory is reached under noeviction ("OOM command not allowed …"). */
export function isOutOfMemory(err: unknown): boolean {
  return err instanceof Error && /^OOM\b/.test(err.message);
}

/** The writer's idea of the newest offset is wrong: it must not guess, it must stop. */
export class OffsetMismatchError extends TokencastError {
  constructor(id: string) {
    super(409, 'server_error', 'offset_mismatch', `append to generation ${id} does not follow its newest event`);
  }
}
