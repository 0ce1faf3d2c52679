/**
 * The least a WebSocket hop can cost: a bare relay, in its own process like the backend, between
 * a WebSocket and the driver's terminal exec. No sessions, hub, replay or pacing. The echo bench
 * runs it beside the backend to tell the price of any Node hop from the price of Berth's code.
 * GET ws://.../?container=<id> ; started by relay.ts.
 */
import { WebSocketServer } from 'ws';
import { connectEngine } from '../../sandbox-backend/engine/docker.ts';
import { loadConfig } from '../../sandbox-backend/config.ts';
import { createLogger } from '../../sandbox-backend/log.ts';
import { SandboxDriver } from '../../sandbox-backend/provisioning/driver.ts';

const config = loadConfig(process.env);
const driver = new SandboxDriver(connectEngine(config.dockerHost), { namespace: config.namespace, ...config.sandbox }, createLogger('error'));
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });

wss.on('connection', (ws, req) => {
  const container = new URL(req.url ?? '/', 'http://relay').searchParams.get('container') ?? '';
  const held: Buffer[] = [];
  let write: ((data: Buffer) => void) | undefined;
  ws.on('message', (data: Buffer) => (write ? write(data) : held.push(Buffer.from(data))));
  driver.openTerminal(container, { cols: 100, rows: 30 }).then(
    (terminal) => {
      write = (data) => terminal.write(data);
      held.splice(0).forEach(write);
      terminal.output.on('data', (chunk: Buffer) => ws.send(chunk, { binary: true }));
      terminal.output.on('error', () => {});
      ws.on('close', () => void terminal.close());
    },
    () => ws.close(1011),
  );
});

wss.on('listening', () => {
  const address = wss.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.send?.({ op: 'ready', url: `http://127.0.0.1:${port}` });
});
// The bench let go (or died): nothing of this relay outlives it.
process.on('disconnect', () => process.exit(0));
