/**
 * The namespace lease: at most one live backend per BERTH_NAMESPACE on an engine, because a
 * backend's start-up recovery removes every sandbox of its namespace it does not own.
 *
 * The engine holds it, so it covers every checkout, data folder and host that talks to that
 * engine: a tiny container named after the namespace. The engine's name uniqueness makes taking
 * it atomic (two backends starting at once: one create succeeds, the other gets 409). Its only
 * process is `cat`, reading the stdin this backend keeps attached for its whole life; with
 * StdinOnce the engine closes that stdin when the attachment ends, however the backend ended
 * (close(), crash, SIGKILL: the kernel closes the socket), `cat` exits and AutoRemove takes the
 * container away. No operator step, no expiry to tune.
 */
import os from 'node:os';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Engine } from '../engine/docker.ts';
import type { Logger } from '../log.ts';
import { statusOf } from './driver.ts';

/** Marks the lease container (not berth.namespace: it is not one of the namespace's sandboxes). */
export const LABEL_LEASE = 'berth.lease';
const LABEL_TOKEN = 'berth.lease.token';
const LABEL_HOST = 'berth.lease.host';
const LABEL_PID = 'berth.lease.pid';
const LABEL_DATA = 'berth.lease.data';
const LABEL_SINCE = 'berth.lease.since';

export function leaseName(namespace: string): string {
  return `${namespace}-lease`;
}

export interface LeaseOptions {
  namespace: string;
  /** Any image the engine has; the sandbox image is always there. */
  image: string;
  /** Where this backend keeps its state, named in the message another backend shows. */
  dataPath: string;
  /** How long to wait for a lease whose holder may be ending (its container still going away). */
  waitMs?: number;
  /** Called when the engine came back with the lease taken by another backend. */
  onLost?: (holder: LeaseHolder) => void;
}

export interface LeaseHolder {
  host: string;
  pid: number;
  dataPath: string;
  since: string;
}

export class LeaseHeldError extends Error {
  override name = 'LeaseHeldError';
  constructor(
    readonly namespace: string,
    readonly holder: LeaseHolder,
    ending: boolean,
  ) {
    super(
      `another Berth is running in namespace "${namespace}" on this Docker engine: pid ${holder.pid} on host ${holder.host}, ` +
        `data in ${holder.dataPath}, since ${holder.since}${ending ? ' (it did not let go within the wait; it may still be ending)' : ''}. ` +
        `Starting here would remove its learners' machines. Stop that one first (Ctrl-C or kill ${holder.pid}), ` +
        `or give this one a namespace of its own: BERTH_NAMESPACE=<another name>.`,
    );
  }
}

export interface Lease {
  readonly holder: LeaseHolder;
  /** Whether this backend still holds it (false once lost to another backend). */
  readonly held: boolean;
  /** Lets go: the container goes at once, so the next backend need not wait. */
  release(): Promise<void>;
}

type Inspected = Awaited<ReturnType<ReturnType<Engine['getContainer']>['inspect']>>;

/** A container created but not started for this long was left by a backend that died taking it. */
const STALE_CREATED_MS = 15_000;

export async function takeLease(engine: Engine, options: LeaseOptions, log: Logger): Promise<Lease> {
  const token = randomBytes(9).toString('base64url');
  const holder: LeaseHolder = { host: os.hostname(), pid: process.pid, dataPath: options.dataPath, since: new Date().toISOString() };
  const name = leaseName(options.namespace);
  let socket: Duplex | undefined;
  let released = false;
  let held = true;

  const holderOf = (info: Inspected): LeaseHolder => {
    const labels = info.Config.Labels ?? {};
    return {
      host: labels[LABEL_HOST] ?? 'unknown',
      pid: Number(labels[LABEL_PID] ?? 0),
      dataPath: labels[LABEL_DATA] ?? 'unknown',
      since: labels[LABEL_SINCE] ?? info.Created,
    };
  };

  /** A holder on this host whose process is gone is ending for sure; one elsewhere may be. */
  const holderAlive = (h: LeaseHolder): boolean | undefined => {
    if (h.host !== os.hostname() || !h.pid) return undefined;
    try {
      process.kill(h.pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  };

  const attach = async (id: string): Promise<Duplex> => {
    const stream = (await engine.getContainer(id).attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as unknown as Duplex;
    // Nothing is ever sent or expected; reading keeps the socket flowing.
    stream.resume();
    stream.on('error', () => {});
    return stream;
  };

  /** One try: holds the lease on return, throws LeaseHeldError, or returns false to try again. */
  const tryTake = async (deadline: number): Promise<Duplex | false> => {
    let id: string;
    try {
      const container = await engine.createContainer({
        name,
        Image: options.image,
        Entrypoint: ['/bin/cat'],
        Cmd: [],
        User: '65534:65534',
        OpenStdin: true,
        StdinOnce: true,
        AttachStdin: true,
        Labels: {
          [LABEL_LEASE]: options.namespace,
          [LABEL_TOKEN]: token,
          [LABEL_HOST]: holder.host,
          [LABEL_PID]: String(holder.pid),
          [LABEL_DATA]: holder.dataPath,
          [LABEL_SINCE]: holder.since,
        },
        HostConfig: {
          AutoRemove: true,
          NetworkMode: 'none',
          CapDrop: ['ALL'],
          ReadonlyRootfs: true,
          Memory: 16 * 1024 * 1024,
          PidsLimit: 8,
          LogConfig: { Type: 'none', Config: {} },
          SecurityOpt: ['no-new-privileges'],
        },
      });
      id = container.id;
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      return existing(deadline);
    }
    // Attached before it starts, so the container never runs without its holder's stdin.
    let stream: Duplex;
    try {
      stream = await attach(id);
      await engine.getContainer(id).start();
    } catch (error) {
      // Removed as stale by another backend while we were slow: start over.
      if (statusOf(error) === 404) return false;
      throw error;
    }
    return stream;
  };

  const existing = async (deadline: number): Promise<Duplex | false> => {
    let info: Inspected;
    try {
      info = await engine.getContainer(name).inspect();
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
    const state = info.State;
    const theirs = holderOf(info);
    const mine = info.Config.Labels?.[LABEL_TOKEN] === token;
    if (mine && state.Running) return attach(info.Id);
    if (state.Running && !mine) {
      const alive = holderAlive(theirs);
      if (alive === true) throw new LeaseHeldError(options.namespace, theirs, false);
      if (Date.now() > deadline) throw new LeaseHeldError(options.namespace, theirs, true);
      await delay(100);
      return false;
    }
    if (state.Status === 'created' && !mine) {
      // Another backend is taking it right now, or died doing so.
      const age = Date.now() - Date.parse(info.Created);
      if (age < STALE_CREATED_MS && holderAlive(theirs) !== false) {
        if (Date.now() > deadline) throw new LeaseHeldError(options.namespace, theirs, true);
        await delay(100);
        return false;
      }
    }
    if (state.Status === 'removing') {
      await delay(100);
      return false;
    }
    // Exited, dead, or a stale "created": nobody holds it. Without force, a running one is refused.
    await engine
      .getContainer(info.Id)
      .remove({ force: false })
      .catch((error: unknown) => {
        if (statusOf(error) !== 404 && statusOf(error) !== 409) throw error;
      });
    return false;
  };

  const take = async (waitMs: number): Promise<Duplex> => {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const stream = await tryTake(deadline);
      if (stream) return stream;
    }
  };

  const watch = (stream: Duplex) => {
    socket = stream;
    stream.once('close', () => {
      if (released || socket !== stream) return;
      socket = undefined;
      log.warn('lost the namespace lease connection (engine restarting?); taking it again', { namespace: options.namespace });
      void retake();
    });
  };

  /** The engine went away (or someone removed the lease): take it again once the engine answers. */
  const retake = async () => {
    for (let attempt = 0; !released; attempt++) {
      try {
        const stream = await take(options.waitMs ?? 10_000);
        if (released) {
          stream.destroy();
          return;
        }
        watch(stream);
        log.info('namespace lease taken again', { namespace: options.namespace });
        return;
      } catch (error) {
        if (error instanceof LeaseHeldError) {
          held = false;
          log.error(
            'LEASE LOST: another backend took this namespace while the engine was away; this backend stops starting sessions. Stop one of the two.',
            { namespace: options.namespace, holder: error.holder },
          );
          options.onLost?.(error.holder);
          return;
        }
        // The engine is not back yet.
        await delay(Math.min(5_000, 250 * 2 ** attempt));
      }
    }
  };

  watch(await take(options.waitMs ?? 10_000));
  log.info('namespace lease taken', { namespace: options.namespace, container: name });

  return {
    holder,
    get held() {
      return held && !released;
    },
    release: async () => {
      if (released) return;
      released = true;
      const stream = socket;
      socket = undefined;
      stream?.destroy();
      if (!held) return;
      // Ours only: after a lost lease the container is someone else's.
      const info = await engine.getContainer(name).inspect().catch(() => undefined);
      if (info?.Config.Labels?.[LABEL_TOKEN] !== token) return;
      await engine
        .getContainer(info.Id)
        .remove({ force: true })
        .catch((error: unknown) => {
          if (statusOf(error) !== 404 && statusOf(error) !== 409) throw error;
        });
    },
  };
}
