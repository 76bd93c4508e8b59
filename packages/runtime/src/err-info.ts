import { TokencastError } from '@tokencast/protocol';

/**
 * What a log line says about an error: name, message and, for our typed errors, the code. Not
 * the stack (log lines stay one line; the code says where) and never the error object itself,
 * whose fields (a request, a key) could leak into the log.
 */
export function errInfo(err: unknown): { message: string; code?: string; name?: string } {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(err instanceof TokencastError ? { code: err.code } : {}) };
  return { message: String(err) };
}
