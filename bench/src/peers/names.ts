/** The systems compared: tokencast and the peers a user would pick instead. */
export const PEERS = ['tokencast', 'naive', 'resumable-stream', 'socket.io', 'limit'] as const;
export type PeerName = (typeof PEERS)[number];

export function isPeer(s: string): s is PeerName {
  return (PEERS as readonly string[]).includes(s);
}

/** How clients talk to a peer: SSE over HTTP, or socket.io (WebSocket transport). */
export function transportOf(p: PeerName): 'sse' | 'socketio' {
  return p === 'socket.io' ? 'socketio' : 'sse';
}
