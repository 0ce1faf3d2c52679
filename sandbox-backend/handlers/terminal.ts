/**
 * The terminal WebSocket: binary frames are raw TTY bytes both ways, text frames are JSON control
 * messages (docs/api.md). Each socket is one viewer of the instance's terminal hub.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { sessionTag, type Logger } from '../log.ts';
import type { SessionService } from '../sessions/service.ts';
import type { Subscription } from '../sessions/terminal-hub.ts';

const PATH = /^\/api\/sessions\/([^/]+)\/instances\/([^/]+)\/terminal$/;
const PING_INTERVAL_MS = 30_000;
/** "Reset to initial state": a reconnecting viewer repaints from the replay, not on top of its old screen. */
const RESET = Buffer.from('\x1bc');
/**
 * Largest frame accepted. Keystrokes and control messages are a few bytes; the UI sends a paste
 * in pieces of 16 KiB (src/lib/runtime/sandbox.ts). A bigger frame is closed with 1009.
 */
export const MAX_FRAME_BYTES = 64 * 1024;
/**
 * Errors about malformed control messages are skipped while this much is already waiting for a
 * client that does not read: they are advisory, and would otherwise pile up without bound.
 */
const ADVISORY_BACKLOG_BYTES = 64 * 1024;

export const CLOSE_EXPIRED = 4000;
export const CLOSE_ENDED = 4001;
export const CLOSE_SHELL_EXITED = 4002;
/** The session's machine is gone (its container died, or went with the Docker engine); the reason says so. */
export const CLOSE_LOST = 4003;
/** The Docker engine does not answer right now (it is restarting): reconnect in a moment. */
export const CLOSE_TRY_AGAIN = 1013;
/** Too many sockets on this terminal or session: retry later (after closing another tab). */
export const CLOSE_TOO_MANY = 4005;
/** This socket held the shell's output for too long (did not read, or stayed paused): reconnect. */
export const CLOSE_TOO_SLOW = 4004;

export interface TerminalLimits {
  /** Sockets at once on one instance's terminal. */
  maxViewers: number;
  /** Sockets at once across one session's instances. */
  maxSocketsPerSession: number;
}

const controlMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('resize'), cols: z.number().int().min(2).max(1000), rows: z.number().int().min(1).max(500) }),
  // The client's terminal is behind (paused: true) or has caught up (false): browser-side flow control.
  z.object({ type: z.literal('flow'), paused: z.boolean() }),
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
    return { ok: false, error: `Invalid control message${where}: ${issue.message}. Known: {"type":"resize","cols","rows"}, {"type":"flow","paused"}.` };
  }
  return { ok: true, message: parsed.data };
}

function sizeParam(value: string | null, fallback: number, max: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 2 && n <= max ? n : fallback;
}

export interface TerminalServer {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
}

/** Decodes a path segment; a malformed percent-encoding is the client's error, not an exception. */
function segment(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

export function createTerminalServer(
  sessions: SessionService,
  log: Logger,
  limits: TerminalLimits = { maxViewers: 8, maxSocketsPerSession: 32 },
): TerminalServer {
  // No compression (the default, said out loud): a small deflated frame must not become a big one.
  // A ping flood from a client that does not read its pongs ends its socket (ws's maxPendingAutoPongs).
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  /** Open sockets by session id and by "<session>/<instance>", counted from the upgrade on. */
  const open = new Map<string, number>();
  const count = (key: string, delta: number) => {
    const n = (open.get(key) ?? 0) + delta;
    if (n > 0) open.set(key, n);
    else open.delete(key);
  };

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = PATH.exec(url.pathname);
    const reject = (error: ApiError) => {
      const body = JSON.stringify(error.toJSON());
      socket.end(
        `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    if (!match) return reject(new ApiError('not_found', `No WebSocket endpoint at ${url.pathname}.`));
    const id = segment(match[1]!);
    const name = segment(match[2]!);
    if (id === undefined || name === undefined) return reject(new ApiError('bad_request', 'The path has an invalid percent-encoding.'));
    try {
      sessions.instance(id, name);
    } catch (error) {
      if (error instanceof ApiError) return reject(error);
      throw error;
    }
    const size = { cols: sizeParam(url.searchParams.get('cols'), 80, 1000), rows: sizeParam(url.searchParams.get('rows'), 24, 500) };
    const terminal = `${id}/${name}`;
    wss.handleUpgrade(req, socket, head, (ws) => {
      count(id, 1);
      count(terminal, 1);
      ws.once('close', () => {
        count(id, -1);
        count(terminal, -1);
      });
      // A browser cannot read the status of a refused upgrade; a close reason it can.
      if ((open.get(terminal) ?? 0) > limits.maxViewers) {
        return ws.close(CLOSE_TOO_MANY, `too many connections: this terminal has ${limits.maxViewers} already`);
      }
      if ((open.get(id) ?? 0) > limits.maxSocketsPerSession) {
        return ws.close(CLOSE_TOO_MANY, `too many connections: this session has ${limits.maxSocketsPerSession} terminal connections already`);
      }
      serveTerminal(ws, sessions, id, name, size, log.child({ session: sessionTag(id), instance: name }));
    });
  };

  return {
    upgrade,
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
  let subscription: Subscription | undefined;
  let closed = false;
  let inputHeld = false;
  // Nothing more is read from the client until the shell is attached; what arrived with the
  // upgrade (at most one read's worth) is kept here, in order.
  ws.pause();
  const early: Array<Buffer | { cols: number; rows: number } | { paused: boolean }> = [];

  const sendControl = (message: Record<string, unknown>) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  };

  const unsubscribeEvents = sessions.subscribe(id, (event) => {
    if (event.type === 'ports') {
      if (event.instance === name) sendControl({ type: 'ports', ports: event.ports });
    } else if (event.type === 'expiring') sendControl(event);
    else if (event.type === 'expired') {
      sendControl({ type: 'expired' });
      ws.close(CLOSE_EXPIRED, 'session expired');
    } else if (event.type === 'idle') {
      sendControl({ type: 'idle' });
      ws.close(CLOSE_ENDED, 'session ended: idle');
    } else if (event.type === 'lost') {
      sendControl({ type: 'lost', message: event.message });
      ws.close(CLOSE_LOST, event.message);
    } else ws.close(CLOSE_ENDED, 'session ended');
  });

  // A client gone without a word (half-open TCP) is noticed by its missing pong. Not if its
  // input was held meanwhile: then its pong waits unread behind its own keystrokes.
  let alive = true;
  let heldSincePing = false;
  ws.on('pong', () => (alive = true));
  const ping = setInterval(() => {
    if (!alive && !inputHeld && !heldSincePing) {
      log.info('terminal socket unresponsive: closing');
      return ws.terminate();
    }
    alive = false;
    heldSincePing = inputHeld;
    ws.ping();
  }, PING_INTERVAL_MS);

  const cleanup = () => {
    if (closed) return;
    closed = true;
    clearInterval(ping);
    unsubscribeEvents();
    subscription?.unsubscribe();
  };
  ws.on('close', cleanup);
  ws.on('error', (error) => {
    log.debug('terminal socket error', { error });
    cleanup();
  });

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    alive = true;
    if (isBinary) {
      if (subscription) subscription.write(data);
      else early.push(Buffer.from(data));
      return;
    }
    const control = parseControl(data.toString('utf8'));
    if (!control.ok) {
      if (ws.bufferedAmount < ADVISORY_BACKLOG_BYTES) sendControl({ type: 'error', message: control.error });
      return;
    }
    const message = control.message;
    if (message.type === 'flow') {
      if (subscription) subscription.flow(message.paused);
      else early.push({ paused: message.paused });
    } else if (subscription) subscription.resize(message.cols, message.rows);
    else early.push({ cols: message.cols, rows: message.rows });
  });

  const closeAs = (why: 'lost' | 'engine-down') => {
    if (why === 'lost') {
      const message = sessions.lostReason(id) ?? 'Your machine was lost; start again.';
      sendControl({ type: 'lost', message });
      ws.close(CLOSE_LOST, message);
    } else ws.close(CLOSE_TRY_AGAIN, 'the Docker engine is restarting; reconnect in a moment');
  };
  const closeForEnd = async () => {
    const why = await sessions.machineEnded(id, name).catch(() => 'engine-down' as const);
    if (why === 'shell-exited') ws.close(CLOSE_SHELL_EXITED, 'shell exited');
    else closeAs(why);
  };

  try {
    const session = sessions.get(id);
    sendControl({ type: 'session', expiresAt: session.expiresAt });
    sendControl({ type: 'ports', ports: session.instances.find((i) => i.name === name)?.ports ?? [] });
  } catch (error) {
    // Its machine vanished between the upgrade and here: say so, as for a live terminal.
    if (error instanceof ApiError && error.code === 'session_gone') closeAs('lost');
    else ws.close(CLOSE_ENDED, 'session ended');
    return cleanup();
  }

  sessions
    .subscribeTerminal(
      id,
      name,
      {
        send: (chunk, flushed) => {
          if (ws.readyState !== ws.OPEN) return flushed();
          ws.send(chunk, { binary: true }, () => flushed());
        },
        // The shell exited (the learner typed `exit`; the client reconnects to a fresh one), or
        // the connection to it went with its machine or with the engine: say which.
        ended: () => void closeForEnd(),
        // Back-pressure on keystrokes: the client's socket is not read while the shell has not
        // taken what was typed, so the rest waits in the client (nothing is dropped).
        holdInput: (held) => {
          inputHeld = held;
          heldSincePing ||= held;
          if (!subscription) return;
          if (held) ws.pause();
          else ws.resume();
        },
        dropped: (reason) => {
          log.info('terminal socket dropped', { reason });
          ws.close(CLOSE_TOO_SLOW, `too slow: ${reason}`);
        },
      },
      size,
    )
    .then((subscribed) => {
      if (closed) return subscribed.unsubscribe();
      subscription = subscribed;
      if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([RESET, subscribed.replay]), { binary: true });
      for (const item of early.splice(0)) {
        if (Buffer.isBuffer(item)) subscribed.write(item);
        else if ('paused' in item) subscribed.flow(item.paused);
        else subscribed.resize(item.cols, item.rows);
      }
      if (!inputHeld) ws.resume();
    })
    .catch(async (error: unknown) => {
      if (ws.readyState !== ws.OPEN) return;
      const why = error instanceof ApiError && error.code === 'session_gone' ? 'lost' : await sessions.machineEnded(id, name).catch(() => 'engine-down' as const);
      if (why !== 'shell-exited') return closeAs(why);
      log.error('could not open terminal', { error });
      sendControl({ type: 'error', message: `Could not open the terminal: ${(error as Error).message}` });
      ws.close(1011, 'terminal unavailable');
    });
}
