/**
 * A learner's first seconds, as the UI goes through them: create a session, open its terminal,
 * wait for the prompt. Each step is timed so a slow total can be traced to the step that is slow.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { PROMPT } from './floors.ts';
import { openBackendTerminal, waitForOutput, type BackendTerminal } from './tty.ts';

export const SIZE = { cols: 100, rows: 30 };

export interface PromptTiming {
  /** POST /api/sessions until its 201. */
  postMs: number;
  /** 201 until the WebSocket upgrade completed. */
  upgradeMs: number;
  /** Upgrade until the first terminal bytes (the backend's screen reset and replay). */
  firstByteMs: number;
  /** Upgrade until the prompt. */
  promptAfterUpgradeMs: number;
  /** POST until the prompt: what the learner waits. */
  totalMs: number;
}

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(`HTTP ${status}: ${body.slice(0, 300)}`);
  }
}

/**
 * Starts a session as a new learner's browser does: with a client id of its own (per-client
 * limits would otherwise count the whole bench as one learner), and through the queue when
 * every sandbox is taken. `queued` tells whether it had to wait in the queue.
 */
export async function createSession(base: string): Promise<string> {
  return (await requestSession(base)).id;
}

export async function requestSession(base: string, timeoutMs = 180_000): Promise<{ id: string; queued: boolean }> {
  const deadline = performance.now() + timeoutMs;
  const client = randomBytes(12).toString('base64url');
  const headers = { 'content-type': 'application/json', 'x-berth-client': client };
  // A cold start waits for a sandbox to boot; the backend gives up on its own timeout first.
  const res = await fetch(`${base}/api/sessions`, { method: 'POST', headers, body: JSON.stringify({}), signal: AbortSignal.timeout(timeoutMs) });
  let text = await res.text();
  if (res.status === 201) return { id: (JSON.parse(text) as { id: string }).id, queued: false };
  if (res.status !== 202) throw new HttpError(res.status, text);
  const { ticket } = (JSON.parse(text) as { queued: { ticket: string } }).queued;
  // Polled faster than the UI does (a few seconds), so the bench sees the moment a place frees.
  while (performance.now() < deadline) {
    await delay(200);
    const poll = await fetch(`${base}/api/queue/${encodeURIComponent(ticket)}`, { headers, signal: AbortSignal.timeout(10_000) });
    text = await poll.text();
    if (poll.status !== 200) throw new HttpError(poll.status, text);
    const body = JSON.parse(text) as { session?: { id: string } };
    if (body.session) return { id: body.session.id, queued: true };
  }
  throw new Error(`still queued after ${timeoutMs} ms`);
}

export async function endSession(base: string, id: string): Promise<void> {
  const res = await fetch(`${base}/api/sessions/${encodeURIComponent(id)}`, { method: 'DELETE', signal: AbortSignal.timeout(120_000) });
  await res.arrayBuffer();
  if (res.status !== 204 && res.status !== 404) throw new HttpError(res.status, 'DELETE failed');
}

export interface OpenedSession {
  id: string;
  terminal: BackendTerminal;
  timing: PromptTiming;
  /** performance.now() at the request, at the completed upgrade, and at the prompt. */
  startedAt: number;
  upgradedAt: number;
  promptAt: number;
  /** Whether the learner waited in the queue for a free sandbox. */
  queued: boolean;
}

/**
 * POST, upgrade, prompt. On failure the session (if it was created) is ended before rethrowing,
 * so a failed sample leaves nothing behind; the error carries the step it failed at.
 */
export async function sessionToPrompt(base: string, promptTimeoutMs = 60_000): Promise<OpenedSession> {
  const t0 = performance.now();
  let id: string | undefined;
  let terminal: BackendTerminal | undefined;
  let step = 'POST /api/sessions';
  try {
    const requested = await requestSession(base);
    id = requested.id;
    const t1 = performance.now();
    step = 'terminal upgrade';
    terminal = await openBackendTerminal(base, id, SIZE);
    const t2 = performance.now();
    step = 'prompt';
    // Subscribed before anything can arrive: the prompt may come in the very first frame.
    const at = await waitForOutput(terminal, PROMPT, promptTimeoutMs);
    return {
      id,
      terminal,
      startedAt: t0,
      upgradedAt: t2,
      promptAt: at,
      queued: requested.queued,
      timing: {
        postMs: t1 - t0,
        upgradeMs: t2 - t1,
        firstByteMs: (terminal.firstByteAt ?? at) - t2,
        promptAfterUpgradeMs: at - t2,
        totalMs: at - t0,
      },
    };
  } catch (error) {
    await terminal?.close().catch(() => {});
    if (id) await endSession(base, id).catch(() => {});
    throw new Error(`${step}: ${(error as Error).message}`, { cause: error });
  }
}
