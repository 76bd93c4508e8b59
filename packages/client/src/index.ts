export { backoffDelay, DEFAULT_RETRY } from './backoff.js';
export { type ClientOptions, TokencastClient } from './client.js';
export { GenerationFailedError, HttpError, ProtocolError, RetryBudgetExceededError, TokencastClientError } from './errors.js';
export { finishToolCall, MessageAccumulator } from './message.js';
export { ConnectionLostError, GenerationStream } from './stream.js';
export type * from './types.js';
