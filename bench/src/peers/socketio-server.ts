import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

/**
 * socket.io with @socket.io/redis-streams-adapter, as its README shows: one Server per node on a
 * shared Redis; a client joins the room of its generation (named in the handshake query) and the
 * writer, another socket.io node, emits to that room.
 */
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
let ready = false;
redis.once('ready', () => {
  // The adapter's reader starts at "$": give it a moment before anyone may write.
  setTimeout(() => {
    ready = true;
  }, 300);
});

const http = createServer((req, res) => {
  if (req.url === '/healthz' && ready) {
    res.end('ok');
    return;
  }
  res.writeHead(req.url === '/healthz' ? 503 : 404).end();
});
const io = new Server(http, { adapter: createAdapter(redis), serveClient: false, transports: ['websocket'] });
io.on('connection', (socket) => {
  const gen = socket.handshake.query.gen;
  if (typeof gen === 'string') socket.join(gen);
});
http.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
