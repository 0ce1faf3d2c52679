/**
 * Sessions: a learner's claim on sandboxes for a limited time. Owns expiry, and is the only
 * module that hands sandboxes to handlers (handlers never see the pool or the driver).
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { ApiError } from '../errors.ts';
import type { LessonDirectory } from '../lessons.ts';
import type { BackendMetrics } from '../metrics.ts';
import { sessionTag, type Logger } from '../log.ts';
import type { ExecResult, SandboxDriver } from '../provisioning/driver.ts';
import { CapacityError, type WarmPool } from '../scheduling/pool.ts';
import { ClientLimits, WaitQueue } from '../scheduling/queue.ts';
import type { InstanceRecord, SessionRecord, SessionStore } from '../storage/sessions-store.ts';
import { TerminalHub, type Subscription, type TerminalSubscriber } from './terminal-hub.ts';
import { isPortToken, newPortToken, portDomainFor, portUrlTemplate } from '../routing/port-routes.ts';

export type SessionEvent =
  | { type: 'expiring'; at: string }
  | { type: 'expired' }
  | { type: 'ended' }
  | { type: 'idle' }
  /** The session's machine is gone (its container died or was removed, or went with the engine): the session ended. */
  | { type: 'lost'; message: string }
  | { type: 'ports'; instance: string; ports: number[] };
type Listener = (event: SessionEvent) => void;

export interface SessionView {
  id: string;
  lesson: string | null;
  createdAt: string;
  expiresAt: string;
  instances: { name: string; ports: number[] }[];
  /** Where the browser reaches a published port: fill in {instance} and {port}. Carries the port token, not the id. */
  portUrlTemplate: string;
}

/** Where the proxy reaches a published port, and a signal that fires when its link is revoked. */
export interface PortTarget {
  address: string;
  revoked: AbortSignal;
}

export interface SessionServiceOptions {
  ttlMs: number;
  /** End sessions without activity for this long; 0 = never. */
  idleTimeoutMs?: number;
  /** Most sessions the pool can hold at once, for the queue's estimate before any session ended. */
  maxSandboxes?: number;
  limits?: { maxSessions: number; perMinute: number };
  /** The same limits per network address (the request's `address`). */
  addressLimits?: { maxSessions: number; perMinute: number };
  metrics?: BackendMetrics;
  execTimeoutMs: number;
  /** How long one terminal viewer may hold its shell's output before it is dropped (terminal-hub.ts). */
  terminalStallMs?: number;
  /** Warnings sent before expiry, in ms before it. */
  warnings?: number[];
  /** BERTH_PORT_DOMAIN: ports are offered on their own host names under it (routing/port-routes.ts). */
  portDomain?: string;
}

const DEFAULT_WARNINGS = [10 * 60_000, 60_000];
const LESSON_ID = /^[a-z0-9][a-z0-9-]*\/[a-z0-9][a-z0-9-]*$/;
const NODE_NAMES = ['node1', 'node2', 'node3', 'node4', 'node5'];
/** Sandboxes tried for a new node, and how long each may take to reach its session. */
const NODE_ATTEMPTS = 2;
const NODE_REACH_TIMEOUT_MS = 20_000;

/** `client`: the browser's own id (fairness within a classroom); `address`: its network address, which it cannot choose. */
export type SessionRequest = { lesson?: string | undefined; client: string; address?: string | undefined };
export type QueueView = { ticket: string; position: number; estimatedWaitSeconds: number };
export type RequestOutcome = { session: SessionView } | { queued: QueueView };

/**
 * What a learner whose machine vanished is told (the `lost` control message, close 4003's reason,
 * and 410 session_gone on every later call): it went with the engine, or its container died or
 * was removed while the engine ran on.
 */
export const LOST_MESSAGE = "Your machine was lost when the server's Docker engine restarted; start again.";
export const LOST_DIED_MESSAGE = 'Your machine stopped unexpectedly (its container is gone); start again.';

/** A session started for a queued learner is kept this long for them to pick it up. */
const UNCLAIMED_MS = 60_000;

export function newSessionId(): string {
  // 144 bits: the id is the session's only credential.
  return randomBytes(18).toString('base64url');
}

export function toView(session: SessionRecord, ports: (instance: string) => number[] = () => [], portDomain?: string): SessionView {
  return {
    id: session.id,
    lesson: session.lesson,
    createdAt: new Date(session.createdAt).toISOString(),
    expiresAt: new Date(session.expiresAt).toISOString(),
    instances: session.instances.map((instance) => ({ name: instance.name, ports: ports(instance.name) })),
    portUrlTemplate: portUrlTemplate(session.portToken, portDomain),
  };
}

export class SessionService {
  private readonly timers = new Map<string, NodeJS.Timeout[]>();
  private readonly listeners = new Map<string, Set<Listener>>();
  /** Terminal hubs by "<session>/<instance>". */
  private readonly hubs = new Map<string, TerminalHub>();
  /** Listening ports, their watchers and addresses, by "<session>/<instance>". */
  private readonly ports = new Map<string, number[]>();
  private readonly portWatchers = new Map<string, () => void>();
  private readonly addresses = new Map<string, string>();
  /** Aborted when a session's port token stops opening anything (rotated, or the session ended). */
  private readonly portLinks = new Map<string, AbortController>();
  /** While draining, no new sessions start; running ones carry on. */
  draining = false;
  private readonly queue = new WaitQueue<SessionRequest>({ abandonAfterMs: 30_000 });
  /** Sessions started for queued tickets, until their learner asks: ticket -> session id. */
  private readonly served = new Map<string, { sessionId: string; timer: NodeJS.Timeout }>();
  private readonly clientOf = new Map<string, string>();
  private readonly addressOf = new Map<string, string>();
  private serving = false;
  private closed = false;
  private queueTimer: NodeJS.Timeout | undefined;
  private limits: ClientLimits | undefined;
  private addressLimits: ClientLimits | undefined;
  /** Last keystroke, exec or terminal connection, by session (in memory: a restart counts as activity). */
  private readonly lastActive = new Map<string, number>();
  private idleTimer: NodeJS.Timeout | undefined;
  /**
   * Sessions ended because their machine was lost, with what to tell whoever still asks (410
   * session_gone rather than a bare "no such session"), until their original expiry; newest
   * last, bounded.
   */
  private readonly lost = new Map<string, { message: string; until: number }>();
  private reconciling: Promise<unknown> = Promise.resolve();
  /** The node being added to each session, so that the next waits for it. */
  private readonly adding = new Map<string, Promise<{ name: string }>>();
  /** Set when this backend must not start sessions at all (its namespace lease was lost). */
  private fenced: string | undefined;

  constructor(
    private readonly store: SessionStore,
    private readonly pool: WarmPool,
    private readonly driver: SandboxDriver,
    private readonly lessons: LessonDirectory,
    private readonly options: SessionServiceOptions,
    private readonly log: Logger,
  ) {}

  /**
   * A learner asks for a session: they get one, or a place in the queue when every sandbox is
   * taken (and behind anyone already waiting).
   */
  async request(input: SessionRequest, visitorHost?: string): Promise<RequestOutcome> {
    if (this.fenced) throw new ApiError('unavailable', this.fenced);
    if (this.draining) {
      throw new ApiError('unavailable', 'This Berth is not starting new sessions right now (it is being drained for maintenance); sessions already running carry on.');
    }
    this.nodesFor(input.lesson);
    // Both limits are checked before either counts the start, so a refusal costs nothing.
    const checks: Array<[ClientLimits, string, Map<string, string>]> = [];
    if (this.options.limits) {
      this.limits ??= new ClientLimits(this.options.limits);
      checks.push([this.limits, input.client, this.clientOf]);
    }
    if (this.options.addressLimits && input.address !== undefined) {
      this.addressLimits ??= new ClientLimits({ ...this.options.addressLimits, who: { held: 'Your network address already has', started: 'from your network address' } });
      checks.push([this.addressLimits, input.address, this.addressOf]);
    }
    for (const [limits, key, held] of checks) {
      const live = [...held.values()].filter((c) => c === key).length;
      const verdict = limits.check(key, live);
      if (!verdict.ok) throw new ApiError('rate_limited', verdict.message, undefined, verdict.retryAfterSeconds);
    }
    for (const [limits, key] of checks) limits.record(key);
    if (this.queue.length === 0) {
      try {
        return { session: await this.create(input, visitorHost) };
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 'capacity')) throw error;
      }
    }
    const ticket = this.queue.enqueue(input);
    this.log.info('learner queued', { position: this.queue.length });
    this.scheduleQueue();
    return { queued: this.queueView(ticket.id, this.queue.position(ticket.id)!) };
  }

  /** A queued learner asks where they stand; once served, they get their session. */
  queueStatus(ticket: string, visitorHost?: string): RequestOutcome {
    const served = this.served.get(ticket);
    if (served) {
      clearTimeout(served.timer);
      this.served.delete(ticket);
      return { session: this.get(served.sessionId, visitorHost) };
    }
    const position = this.queue.position(ticket);
    if (position === undefined) {
      throw new ApiError('not_found', 'No such place in the queue: it was served and picked up already, or given up after 30 s without a poll. Ask for a session again.');
    }
    return { queued: this.queueView(ticket, position) };
  }

  get queueLength(): number {
    return this.queue.length;
  }

  private queueView(ticket: string, position: number): QueueView {
    const perSlot = this.options.ttlMs / 1000 / Math.max(1, this.options.maxSandboxes ?? 1);
    return { ticket, position, estimatedWaitSeconds: this.queue.estimateSeconds(position, perSlot) };
  }

  /** Serves the queue while there is room; re-checked every 2 s while anyone waits. */
  private scheduleQueue(): void {
    void this.serveQueue();
    if (!this.queueTimer) {
      this.queueTimer = setInterval(() => {
        if (this.queue.length === 0) {
          clearInterval(this.queueTimer);
          this.queueTimer = undefined;
        } else void this.serveQueue();
      }, 2_000);
      this.queueTimer.unref();
    }
  }

  private async serveQueue(): Promise<void> {
    if (this.serving) return;
    this.serving = true;
    try {
      for (let head = this.queue.peek(); head && this.pool.hasCapacity() && !this.draining; head = this.queue.peek()) {
        let session: SessionView;
        try {
          session = await this.create(head.request);
        } catch (error) {
          if (error instanceof ApiError && error.code === 'capacity') return;
          this.log.error('could not start a session for a queued learner', { error });
          return;
        }
        this.queue.remove(head.id);
        const timer = setTimeout(() => {
          // Nobody came for it: the slot goes to the next learner.
          this.served.delete(head!.id);
          this.end(session.id).catch(() => {});
        }, UNCLAIMED_MS);
        timer.unref();
        this.served.set(head.id, { sessionId: session.id, timer });
      }
    } finally {
      this.serving = false;
    }
  }

  private nodesFor(lesson: string | undefined): number {
    if (lesson === undefined) return 1;
    if (!LESSON_ID.test(lesson)) {
      throw new ApiError('bad_request', `"lesson" must be a lesson id such as "containers/first-container", got ${JSON.stringify(lesson)}.`);
    }
    const found = this.lessons.find(lesson);
    if (!found) throw new ApiError('bad_request', `There is no lesson ${JSON.stringify(lesson)}.`);
    return found.nodes;
  }

  /** Starts a session now, or fails with `capacity` when every sandbox is taken. */
  /** `visitorHost`: the Host the visitor reached Berth at, which decides the form of port links. */
  async create(input: { lesson?: string | undefined; client?: string; address?: string | undefined }, visitorHost?: string): Promise<SessionView> {
    if (this.fenced) throw new ApiError('unavailable', this.fenced);
    if (this.draining) {
      throw new ApiError('unavailable', 'This Berth is not starting new sessions right now (it is being drained for maintenance); sessions already running carry on.');
    }
    const started = performance.now();
    const nodes = this.nodesFor(input.lesson);
    const node1 = await this.acquire();
    const instances: InstanceRecord[] = [{ name: 'node1', ...node1 }];
    try {
      // A lesson's nodes are created together, on node1's network.
      const others = await Promise.all(Array.from({ length: nodes - 1 }, (_, i) => this.acquireNode(node1.sandboxId, `node${i + 2}`, ['node1'])));
      instances.push(...others);
    } catch (error) {
      await Promise.allSettled(instances.map((instance) => this.pool.release(instance)));
      throw error;
    }
    const now = Date.now();
    const session: SessionRecord = {
      id: newSessionId(),
      lesson: input.lesson ?? null,
      createdAt: now,
      expiresAt: now + this.options.ttlMs,
      instances,
      portToken: newPortToken(),
    };
    this.store.insert(session);
    this.schedule(session);
    for (const instance of instances) this.watchPorts(session.id, instance);
    if (input.client) this.clientOf.set(session.id, input.client);
    if (input.address) this.addressOf.set(session.id, input.address);
    this.options.metrics?.sessionStart.observe((performance.now() - started) / 1000);
    this.options.metrics?.sessionsCreated.inc();
    this.log.info('session created', { session: sessionTag(session.id), lesson: session.lesson, sandboxes: instances.map((i) => i.sandboxId) });
    return this.view(session, visitorHost);
  }

  /**
   * Adds the next free node (up to node5) to a session, on the session's network. One at a time
   * per session: two at once would both pick the same free name.
   */
  async addInstance(id: string): Promise<{ name: string }> {
    const next = (this.adding.get(id) ?? Promise.resolve()).catch(() => {}).then(() => this.addNextInstance(id));
    this.adding.set(id, next);
    try {
      return await next;
    } finally {
      if (this.adding.get(id) === next) this.adding.delete(id);
    }
  }

  private async addNextInstance(id: string): Promise<{ name: string }> {
    const session = this.record(id);
    const taken = new Set(session.instances.map((i) => i.name));
    const name = NODE_NAMES.find((n) => !taken.has(n));
    if (!name) throw new ApiError('conflict', `A session has at most ${NODE_NAMES.length} instances; remove one first.`);
    const node1 = session.instances[0]!;
    const instance = await this.onMachine(id, node1, () =>
      this.acquireNode(node1.sandboxId, name, session.instances.map((i) => i.name)),
    );
    // The session may have ended while the sandbox was being prepared.
    const current = this.store.get(id);
    if (!current) {
      await this.pool.release(instance);
      this.record(id);
      throw new ApiError('session_not_found', `No session ${JSON.stringify(id)}: it ended while the instance was being added.`);
    }
    const instances = [...current.instances, instance].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    this.store.updateInstances(id, instances);
    this.watchPorts(id, instance);
    this.log.info('instance added', { session: sessionTag(id), instance: name, sandboxId: instance.sandboxId });
    return { name };
  }

  async removeInstance(id: string, name: string): Promise<void> {
    const instance = this.instance(id, name);
    if (name === 'node1') {
      throw new ApiError('conflict', 'node1 holds the session\'s network and cannot be removed; end the session instead.');
    }
    const session = this.record(id);
    this.store.updateInstances(id, session.instances.filter((i) => i.name !== name));
    await this.closeHubs(id, name);
    this.unwatchPorts(id, name);
    await this.pool.release(instance);
    if (this.queue.length > 0) this.scheduleQueue();
    this.log.info('instance removed', { session: sessionTag(id), instance: name });
  }

  private async acquire(): Promise<{ sandboxId: string; containerId: string }> {
    try {
      return await this.pool.acquire();
    } catch (error) {
      if (error instanceof CapacityError) throw new ApiError('capacity', error.message, { cause: error });
      this.options.metrics?.errors.inc({ kind: 'sandbox_start' });
      this.log.error('no sandbox for a session', { error });
      throw new ApiError('unavailable', `No sandbox could be started: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * A sandbox joined to the session's network as `name`, handed out only once it reaches `peers`
   * by name and the registry mirror from inside (on a loaded host that can lag the API by
   * seconds). A sandbox that does not get there is replaced, once.
   */
  private async acquireNode(node1SandboxId: string, name: string, peers: string[]): Promise<InstanceRecord> {
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= NODE_ATTEMPTS; attempt++) {
      const sandbox = await this.acquire();
      try {
        await this.driver.joinNetwork(sandbox, node1SandboxId, name);
        await this.driver.waitReachable(sandbox.containerId, peers, NODE_REACH_TIMEOUT_MS);
        return { name, ...sandbox };
      } catch (error) {
        lastError = error as Error;
        await this.pool.release(sandbox).catch(() => {});
        // node1's network is gone: another sandbox will not help.
        if (/network .* not found|no such network/i.test(lastError.message)) break;
        this.log.warn('a new node did not reach its session; trying another sandbox', { node: name, attempt, error });
      }
    }
    throw new ApiError('unavailable', `Could not add ${name} to the session: ${lastError?.message}`, { cause: lastError });
  }

  /**
   * Runs an engine operation on a session's machine. When it fails because the machine vanished
   * (removed by hand, died, went with the engine), the reconcile ends the session as lost and the
   * caller gets 410 session_gone rather than an internal error; when the engine itself does not
   * answer, 503 unavailable with a retry hint.
   */
  private async onMachine<T>(id: string, instance: InstanceRecord, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      const engineDown = () =>
        new ApiError('unavailable', 'The Docker engine does not answer right now (it may be restarting); try again in a moment.', { cause: error }, 5);
      if (engineUnreachable(error)) throw engineDown();
      if (error instanceof ApiError && error.code !== 'unavailable') throw error;
      const why = await this.machineEnded(id, instance.name).catch(() => 'engine-down' as const);
      if (why === 'lost') throw this.goneError(id);
      if (why === 'engine-down' && !(error instanceof ApiError)) throw engineDown();
      throw error;
    }
  }

  private goneError(id: string): ApiError {
    return new ApiError('session_gone', this.lost.get(id)?.message ?? LOST_DIED_MESSAGE);
  }

  /** Refuses every new session from now on, with `reason` (this backend lost its namespace). */
  fence(reason: string): void {
    this.fenced = reason;
  }

  get(id: string, visitorHost?: string): SessionView {
    return this.view(this.record(id), visitorHost);
  }

  private view(session: SessionRecord, visitorHost?: string): SessionView {
    return toView(session, (name) => this.ports.get(`${session.id}/${name}`) ?? [], portDomainFor(visitorHost, this.options.portDomain));
  }

  /**
   * Where the proxy reaches a port of an instance, by the session's port token: the only door
   * from a port link into a session, and it leads to the published ports alone.
   */
  async portTarget(token: string, instanceName: string): Promise<PortTarget> {
    const session = isPortToken(token) ? this.store.byPortToken(token) : undefined;
    const instance = session && session.expiresAt > Date.now() ? session.instances.find((i) => i.name === instanceName) : undefined;
    if (!session || !instance) {
      // The same answer whatever was wrong, so a link reveals nothing about sessions it does not open.
      throw new ApiError('not_found', 'Nothing is published at this link: it is mistyped, its session ended, or the session was given a new port link.');
    }
    // Taken before any wait, so a renewal during the wait shows as an aborted signal.
    let link = this.portLinks.get(session.id);
    if (!link) {
      link = new AbortController();
      // One listener per open proxied connection: many is normal, not a leak.
      setMaxListeners(0, link.signal);
      this.portLinks.set(session.id, link);
    }
    const key = `${session.id}/${instanceName}`;
    let address = this.addresses.get(key);
    if (!address) {
      address = await this.onMachine(session.id, instance, () => this.driver.address(instance.containerId));
      if (!address) throw new ApiError('unavailable', `${instanceName} has no network address right now.`);
      this.addresses.set(key, address);
    }
    return { address, revoked: link.signal };
  }

  /** Gives a session a new port token: links with the old one stop working at once, open connections included. */
  rotatePortToken(id: string, visitorHost?: string): SessionView {
    this.record(id);
    this.store.updatePortToken(id, newPortToken());
    this.revokePortLinks(id);
    this.log.info('port links renewed', { session: sessionTag(id) });
    return this.get(id, visitorHost);
  }

  private revokePortLinks(id: string): void {
    this.portLinks.get(id)?.abort();
    this.portLinks.delete(id);
  }

  private watchPorts(sessionId: string, instance: InstanceRecord): void {
    const key = `${sessionId}/${instance.name}`;
    this.driver
      .watchPorts(instance.containerId, (ports) => {
        if (JSON.stringify(this.ports.get(key) ?? []) === JSON.stringify(ports)) return;
        this.ports.set(key, ports);
        this.emit(sessionId, { type: 'ports', instance: instance.name, ports });
      })
      .then((stop) => {
        // The backend may be stopping, or the session or instance gone, by the time the watch is set up.
        if (this.closed || !this.store.get(sessionId)?.instances.some((i) => i.name === instance.name)) return stop();
        this.portWatchers.set(key, stop);
      })
      .catch((error: unknown) => this.log.warn('cannot follow the ports of an instance', { session: sessionTag(sessionId), instance: instance.name, error }));
  }

  private unwatchPorts(sessionId: string, instanceName?: string): void {
    for (const [key, stop] of this.portWatchers) {
      if (instanceName ? key !== `${sessionId}/${instanceName}` : !key.startsWith(`${sessionId}/`)) continue;
      stop();
      this.portWatchers.delete(key);
      this.ports.delete(key);
      this.addresses.delete(key);
    }
  }

  /** Every live session, oldest first (the admin view). */
  list(visitorHost?: string): SessionView[] {
    return this.store.all().filter((s) => s.expiresAt > Date.now()).map((s) => this.view(s, visitorHost));
  }

  async end(id: string, reason: 'ended' | 'expired' | 'admin' | 'idle' | 'lost' = 'ended', lostMessage = LOST_MESSAGE): Promise<void> {
    // The raw record, not record(): at its expiry instant a session already reads as gone, and
    // the reaper must still find it to free its sandboxes.
    const session = this.store.get(id);
    // Deleting first (synchronously) makes a second concurrent end() a clean 404.
    if (!session || !this.store.delete(id)) {
      throw new ApiError('session_not_found', `No session ${JSON.stringify(id)}: it never existed, was ended, or expired.`);
    }
    this.options.metrics?.sessionsEnded.inc({ reason });
    for (const timer of this.timers.get(id) ?? []) clearTimeout(timer);
    this.timers.delete(id);
    if (reason === 'lost') this.rememberLost(id, lostMessage, session.expiresAt);
    this.emit(
      id,
      reason === 'expired' ? { type: 'expired' } : reason === 'idle' ? { type: 'idle' } : reason === 'lost' ? { type: 'lost', message: lostMessage } : { type: 'ended' },
    );
    this.lastActive.delete(id);
    this.listeners.delete(id);
    this.revokePortLinks(id);
    await this.closeHubs(id);
    this.unwatchPorts(id);
    // Later nodes first: node1's sandbox holds the network they are attached to.
    for (const instance of [...session.instances].reverse()) {
      // One sandbox that cannot be removed must not keep the others (or the ending) back.
      await this.pool.release(instance).catch((error: unknown) => this.log.error('could not remove a sandbox', { session: sessionTag(id), sandboxId: instance.sandboxId, error }));
    }
    this.clientOf.delete(id);
    this.addressOf.delete(id);
    this.queue.departed();
    if (this.queue.length > 0) this.scheduleQueue();
    this.log.info(`session ${reason}`, { session: sessionTag(id) });
  }

  async exec(id: string, instanceName: string, cmd: string[]): Promise<ExecResult> {
    const instance = this.instance(id, instanceName);
    this.touch(id);
    return this.onMachine(id, instance, () => this.driver.exec(instance.containerId, cmd, this.options.execTimeoutMs));
  }

  /** Joins the instance's terminal hub (attaching to the shell on first use). */
  async subscribeTerminal(id: string, instanceName: string, subscriber: TerminalSubscriber, size: { cols: number; rows: number }): Promise<Subscription> {
    const instance = this.instance(id, instanceName);
    const key = `${id}/${instanceName}`;
    let hub = this.hubs.get(key);
    if (!hub) {
      hub = new TerminalHub(
        (initial) => this.driver.openTerminal(instance.containerId, initial),
        this.log.child({ session: sessionTag(id), instance: instanceName }),
        this.options.terminalStallMs ? { stallMs: this.options.terminalStallMs } : {},
      );
      this.hubs.set(key, hub);
    }
    this.touch(id);
    const subscription = await this.onMachine(id, instance, () => hub.subscribe(subscriber, size));
    return {
      ...subscription,
      write: (data) => {
        this.touch(id);
        subscription.write(data);
      },
    };
  }

  /** Marks activity in a session, for the idle timeout. */
  touch(id: string): void {
    if (this.options.idleTimeoutMs) this.lastActive.set(id, Date.now());
  }

  /** Ends sessions idle for longer than the idle timeout; checked every so often. */
  private sweepIdle(): void {
    const limit = this.options.idleTimeoutMs;
    if (!limit) return;
    const now = Date.now();
    for (const session of this.store.all()) {
      const last = this.lastActive.get(session.id) ?? session.createdAt;
      if (now - last >= limit) {
        this.log.info('session idle', { session: sessionTag(session.id), idleMs: now - last });
        this.end(session.id, 'idle').catch(() => {});
      }
    }
  }

  private async closeHubs(id: string, instanceName?: string): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, hub] of this.hubs) {
      if (instanceName ? key !== `${id}/${instanceName}` : !key.startsWith(`${id}/`)) continue;
      this.hubs.delete(key);
      closing.push(hub.close().catch(() => {}));
    }
    await Promise.all(closing);
  }

  /** Throws the 404 the API promises when the session or instance does not exist. */
  instance(id: string, instanceName: string): InstanceRecord {
    const instance = this.record(id).instances.find((i) => i.name === instanceName);
    if (!instance) throw new ApiError('instance_not_found', `Session has no instance named ${JSON.stringify(instanceName)}.`);
    return instance;
  }

  subscribe(id: string, listener: Listener): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(id) === set) this.listeners.delete(id);
    };
  }

  /** Attached terminals, their viewers, and session event listeners (all, or one session's): what leak checks count. */
  terminalStats(sessionId?: string): { hubs: number; viewers: number; listeners: number } {
    let hubs = 0;
    let viewers = 0;
    for (const [key, hub] of this.hubs) {
      if (sessionId !== undefined && !key.startsWith(`${sessionId}/`)) continue;
      hubs++;
      viewers += hub.subscribers;
    }
    let listeners = 0;
    for (const [id, set] of this.listeners) if (sessionId === undefined || id === sessionId) listeners += set.size;
    return { hubs, viewers, listeners };
  }

  count(): number {
    return this.store.all().length;
  }

  /**
   * After a restart: sessions whose sandboxes still run are adopted with their original expiry;
   * expired ones, ones whose sandbox vanished, and sandboxes or volumes no session owns are removed.
   */
  async recover(): Promise<{ adopted: number; removed: number }> {
    const listed = await this.driver.list();
    const running = new Map(listed.filter((s) => s.running).map((s) => [s.containerId, s]));
    const owned = new Set<string>();
    let adopted = 0;
    let removed = 0;
    for (const session of this.store.all()) {
      const alive = session.instances.every((instance) => running.has(instance.containerId));
      if (alive && session.expiresAt > Date.now()) {
        for (const instance of session.instances) {
          owned.add(instance.containerId);
          this.pool.adopt();
          this.watchPorts(session.id, instance);
        }
        // The session's network is node1's; the other nodes' own networks went when they joined it.
        await this.driver.attachRegistry(session.instances[0]!.sandboxId);
        this.schedule(session);
        adopted++;
      } else {
        this.store.delete(session.id);
        const lost = session.instances.find((instance) => !running.has(instance.containerId));
        // Vanished while this backend was down: its learner is told so, not "no such session".
        if (lost && session.expiresAt > Date.now()) this.rememberLost(session.id, LOST_DIED_MESSAGE, session.expiresAt);
        removed++;
      }
    }
    const leftovers = listed.filter((s) => !owned.has(s.containerId));
    await Promise.all(leftovers.map((sandbox) => this.driver.destroy(sandbox)));
    const liveIds = new Set(listed.filter((s) => owned.has(s.containerId)).map((s) => s.sandboxId));
    const orphans = await this.driver.removeOrphans(liveIds);
    this.log.info('recovered sessions', { adopted, removed, leftoverSandboxes: leftovers.length, ...orphans });
    return { adopted, removed };
  }

  /**
   * The reconcile hook the app calls when the engine comes back, or when a container of this
   * namespace died: what the engine still runs is the truth. Sessions with a machine that no
   * longer runs end as lost (their viewers are told why), the registry mirror is put back on the
   * networks of those that survived, and waiting sandboxes that vanished leave the pool.
   */
  reconcile(cause: 'engine-restart' | 'container-died'): Promise<{ lost: number; kept: number; dropped: number }> {
    // One at a time: a terminal noticing a dead machine and the engine's event about it ask together.
    const run = this.reconciling.catch(() => undefined).then(() => this.reconcileNow(cause));
    this.reconciling = run;
    return run;
  }

  private async reconcileNow(cause: 'engine-restart' | 'container-died'): Promise<{ lost: number; kept: number; dropped: number }> {
    // Snapshots before the listing: a machine started after it is not in it and must not count as
    // vanished (a session stored, a node added or a waiting sandbox booted meanwhile).
    const before = new Set([
      ...this.store.all().flatMap((session) => session.instances.map((instance) => instance.containerId)),
      ...this.pool.waiting().map((sandbox) => sandbox.containerId),
    ]);
    const listed = await this.driver.list();
    const running = new Set(listed.filter((s) => s.running).map((s) => s.containerId));
    const vanished = (containerId: string) => before.has(containerId) && !running.has(containerId);
    const message = cause === 'engine-restart' ? LOST_MESSAGE : LOST_DIED_MESSAGE;
    let lost = 0;
    // A restarted engine's DNS resolver listens on new ports; a command in each surviving sandbox
    // makes it forward DNS there again (berth-plumb), before a learner's pull needs it.
    const refresh = (containerId: string) =>
      cause === 'engine-restart' &&
      this.driver.refreshNetwork(containerId).catch((error: unknown) => this.log.warn('could not refresh a sandbox network after the engine restart', { containerId, error }));
    const sessions = this.store.all();
    const alive = sessions.filter((session) => !session.instances.some((instance) => vanished(instance.containerId)));
    const kept = alive.length;
    // Survivors in parallel: with a full class, one by one would keep the backend not ready for long.
    await Promise.all(
      alive.map(async (session) => {
        await Promise.all(session.instances.map((instance) => refresh(instance.containerId)));
        await this.driver.attachRegistry(session.instances[0]!.sandboxId).catch((error: unknown) =>
          this.log.warn('could not put the registry mirror back on a session network', { sessionId: session.id, error }),
        );
      }),
    );
    for (const session of sessions) {
      if (alive.includes(session)) continue;
      const gone = session.instances.filter((instance) => vanished(instance.containerId)).map((i) => i.name);
      this.log.warn('session lost its machine', { sessionId: session.id, cause, instances: gone });
      lost++;
      await this.end(session.id, 'lost', message).catch((error: unknown) => {
        if (!(error instanceof ApiError && error.code === 'session_not_found')) throw error;
      });
    }
    const dropped = await this.pool.prune(new Set(this.pool.waiting().map((sandbox) => sandbox.containerId).filter((id) => !vanished(id))));
    await Promise.all(this.pool.waiting().map((sandbox) => refresh(sandbox.containerId)));
    if (lost || dropped) this.log.info('reconciled with the engine', { cause, lost, kept, dropped });
    return { lost, kept, dropped };
  }

  /**
   * Why a terminal's connection to its shell (or an operation on the machine) ended: the shell
   * exited or the operation failed on a machine that still runs ('shell-exited'), the machine is
   * gone (the session then ends as lost, through the reconcile), or the engine is away.
   */
  async machineEnded(id: string, instanceName: string): Promise<'shell-exited' | 'lost' | 'engine-down'> {
    if (this.lost.has(id)) return 'lost';
    const instance = this.store.get(id)?.instances.find((i) => i.name === instanceName);
    if (!instance) return 'shell-exited';
    try {
      if (await this.driver.running(instance.containerId)) return 'shell-exited';
    } catch {
      return 'engine-down';
    }
    await this.reconcile('container-died');
    return this.lost.has(id) ? 'lost' : 'shell-exited';
  }

  /** Whether a container is a machine of a live session. */
  ownsContainer(containerId: string): boolean {
    return this.store.all().some((session) => session.instances.some((instance) => instance.containerId === containerId));
  }

  /** What to tell about a session that ended because its machine was lost, if it did. */
  lostReason(id: string): string | undefined {
    return this.lost.get(id)?.message;
  }

  private rememberLost(id: string, message: string, until: number): void {
    const now = Date.now();
    this.lost.delete(id);
    this.lost.set(id, { message, until });
    // Enough to answer every learner of a large class; expired and then the oldest are forgotten first.
    for (const [key, entry] of this.lost) if (entry.until <= now) this.lost.delete(key);
    for (const oldest of this.lost.keys()) {
      if (this.lost.size <= 10_000) break;
      this.lost.delete(oldest);
    }
  }

  /** Stops timers and detaches terminals; sessions, sandboxes and shells stay for the next start to adopt. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.queueTimer);
    clearInterval(this.idleTimer);
    for (const { timer } of this.served.values()) clearTimeout(timer);
    for (const timers of this.timers.values()) for (const timer of timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.all([...this.hubs.values()].map((hub) => hub.close().catch(() => {})));
    this.hubs.clear();
    for (const stop of this.portWatchers.values()) stop();
    this.portWatchers.clear();
    // Proxied connections end with the backend; the links themselves stay valid for the next start.
    for (const link of this.portLinks.values()) link.abort();
    this.portLinks.clear();
  }

  private record(id: string): SessionRecord {
    const session = this.store.get(id);
    const lost = this.lost.get(id);
    if (!session && lost && lost.until > Date.now()) throw this.goneError(id);
    if (!session || session.expiresAt <= Date.now()) {
      throw new ApiError('session_not_found', `No session ${JSON.stringify(id)}: it never existed, was ended, or expired.`);
    }
    return session;
  }

  private schedule(session: SessionRecord): void {
    const idle = this.options.idleTimeoutMs;
    if (idle && !this.idleTimer) {
      this.idleTimer = setInterval(() => this.sweepIdle(), Math.min(30_000, Math.max(250, idle / 4)));
      this.idleTimer.unref();
    }
    const now = Date.now();
    const timers: NodeJS.Timeout[] = [];
    for (const before of this.options.warnings ?? DEFAULT_WARNINGS) {
      const at = session.expiresAt - before;
      if (at > now) {
        timers.push(setTimeout(() => this.emit(session.id, { type: 'expiring', at: new Date(session.expiresAt).toISOString() }), at - now));
      }
    }
    timers.push(
      setTimeout(() => {
        this.end(session.id, 'expired').catch((error: unknown) => {
          this.log.error('could not remove an expired session', { session: sessionTag(session.id), error });
        });
      }, Math.max(0, session.expiresAt - now)),
    );
    this.timers.set(session.id, timers);
  }

  private emit(id: string, event: SessionEvent): void {
    for (const listener of this.listeners.get(id) ?? []) listener(event);
  }
}

/** The engine's socket refused or dropped the connection: it is down or restarting, not the request's fault. */
function engineUnreachable(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ECONNRESET' || code === 'EPIPE';
}
