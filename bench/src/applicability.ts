import type { ScenarioName } from './options.js';
import type { PeerName } from './peers/names.js';

/** Where a peer cannot take part in a scenario by its design, and why (reported as n/a). */
export const NOT_APPLICABLE: Partial<Record<ScenarioName, Partial<Record<PeerName, string>>>> = {
  late: {
    'resumable-stream': 'a finished stream cannot be followed: resumeExistingStream answers null ("Stream is already done")',
    'socket.io': 'nothing to replay: a room only delivers what is emitted while the client is in it',
  },
  producer: {
    'resumable-stream': 'publishes only to listeners: with none there is no Redis write to measure',
    'socket.io': 'an emit is one XADD by the adapter, the same work as naive',
    limit: 'no store: nothing is published',
  },
};
