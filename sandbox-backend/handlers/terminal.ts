/**
 * The terminal WebSocket: binary frames are raw TTY bytes both ways, text frames are JSON control
 * messages (docs/api.md). Output is paced by what the socket has flushed, so a flood from the
 * sandbox (`cat /dev/urandom`) cannot buffer without bound in the backend.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Terminal } from '../provisioning/driver.ts';
import type { SessionService } from '../sessions/service.ts';

const PATH = /^\/api\/sessions\/([^/]+)\/instances\/([^/]+)\/terminal$/;
/** Pause reading from the sandbox above this many unflushed bytes; resume below the low mark. */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const PING_INTERVAL_MS = 30_000;

export const CLOSE_EXPIRED = 4000;
export const CLOSE_ENDED = 4001;
export const CLOSE_SHELL_EXITED = 4002;

const controlMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('resize'), cols: z.number().int().min(2).max(1000), rows: z.number().int().min(1).max(500) }),
]);

export function parseControl(text: string): { ok: true; message: z.infer<typeof controlMessage> } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: 'Control messages must be JSON, e.g. {"type":"resize","cols":80,"rows":24}.' };
  }
  const parsed = controlMessage.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? ` at "${issue.path.join('.')}"` : '';
    return { ok: false, error: `Invalid control message${where}: ${issue.message}. Known: {"type":"resize","cols","rows"}.` };
  }
  return { ok: true, message: parsed.data };
}

function clampSize(value: string | null, fallback: number, max: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 2 && n <= max ? n : fallback;
}

export function attachTerminalServer(
  server: import('node:http').Server,
  sessions: SessionService,
  log: Logger,
): { close(): void } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = PATH.exec(url.pathname);
    const reject = (error: ApiError) => {
      const body = JSON.stringify(error.toJSON());
      socket.end(
        `HTTP/1.1 ${error.status} ${error.status === 404 ? 'Not Found' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    if (!match) return reject(new ApiError('not_found', `No WebSocket endpoint at ${url.pathname}.`));
    const id = decodeURIComponent(match[1]!);
    const name = decodeURIComponent(match[2]!);
    try {
      sessions.instance(id, name);
    } catch (error) {
      if (error instanceof ApiError) return reject(error);
      throw error;
    }
    const size = { cols: clampSize(url.searchParams.get('cols'), 80, 1000), rows: clampSize(url.searchParams.get('rows'), 24, 500) };
    wss.handleUpgrade(req, socket, head, (ws) => serveTerminal(ws, sessions, id, name, size, log.child({ sessionId: id, instance: name })));
  });

  return {
    close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
    },
  };
}

function serveTerminal(
  ws: WebSocket,
  sessions: SessionService,
  id: string,
  name: string,
  size: { cols: number; rows: number },
  log: Logger,
): void {
  let terminal: Terminal | undefined;
  let closed = false;
  // Keystrokes typed while the shell is still being attached are kept, not dropped.
  const early: Buffer[] = [];
  let pendingSize = size;

  const sendControl = (message: Record<string, unknown>) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  };

  const unsubscribe = sessions.subscribe(id, (event) => {
    if (event.type === 'expiring') sendControl(event);
    else if (event.type === 'expired') {
      sendControl({ type: 'expired' });
      ws.close(CLOSE_EXPIRED, 'session expired');
    } else ws.close(CLOSE_ENDED, 'session ended');
  });

  const ping = setInterval(() => ws.ping(), PING_INTERVAL_MS);

  const cleanup = () => {
    if (closed) return;
    closed = true;
    clearInterval(ping);
    unsubscribe();
    terminal?.close().catch(() => {});
  };
  ws.on('close', cleanup);
  ws.on('error', (error) => {
    log.debug('terminal socket error', { error });
    cleanup();
  });

  // A resize is an API round trip to the engine; keystrokes sent after it wait for it, as they
  // would behind a local terminal's (synchronous) resize, so `stty size` typed next sees the new size.
  let resizing: Promise<void> | undefined;
  const held: Buffer[] = [];
  const resize = (opened: Terminal, cols: number, rows: number) => {
    const done = (resizing ?? Promise.resolve()).then(() => opened.resize(cols, rows));
    resizing = done;
    void done.finally(() => {
      if (resizing !== done) return;
      resizing = undefined;
      for (const chunk of held.splice(0)) opened.stream.write(chunk);
    });
  };

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      if (!terminal) early.push(Buffer.from(data));
      else if (resizing) held.push(Buffer.from(data));
      else terminal.stream.write(data);
      return;
    }
    const control = parseControl(data.toString('utf8'));
    if (!control.ok) return sendControl({ type: 'error', message: control.error });
    const { cols, rows } = control.message;
    if (terminal) resize(terminal, cols, rows);
    else pendingSize = { cols, rows };
  });

  try {
    sendControl({ type: 'session', expiresAt: sessions.get(id).expiresAt });
  } catch {
    ws.close(CLOSE_ENDED, 'session ended');
    return cleanup();
  }

  sessions
    .openTerminal(id, name, size)
    .then((opened) => {
      terminal = opened;
      if (closed) return void opened.close();
      const { stream } = opened;
      let inflight = 0;
      let paused = false;
      stream.on('data', (chunk: Buffer) => {
        if (ws.readyState !== ws.OPEN) return;
        inflight += chunk.length;
        ws.send(chunk, { binary: true }, () => {
          inflight -= chunk.length;
          if (paused && inflight < LOW_WATER) {
            paused = false;
            stream.resume();
          }
        });
        if (!paused && inflight > HIGH_WATER) {
          paused = true;
          stream.pause();
        }
      });
      stream.on('end', () => {
        // The shell's tmux session ended (the learner typed `exit`); the client reconnects to a fresh one.
        if (!closed) ws.close(CLOSE_SHELL_EXITED, 'shell exited');
      });
      stream.on('error', (error: Error) => log.debug('terminal stream error', { error }));
      if (pendingSize !== size) resize(opened, pendingSize.cols, pendingSize.rows);
      held.unshift(...early.splice(0));
      if (!resizing) for (const chunk of held.splice(0)) stream.write(chunk);
    })
    .catch((error: unknown) => {
      log.error('could not open terminal', { error });
      sendControl({ type: 'error', message: `Could not open the terminal: ${(error as Error).message}` });
      ws.close(1011, 'terminal unavailable');
    });
}
