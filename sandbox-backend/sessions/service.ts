/**
 * Sessions: a learner's claim on sandboxes for a limited time. Owns expiry, and is the only
 * module that hands sandboxes to handlers (handlers never see the pool or the driver).
 */
import { randomBytes } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { LessonDirectory } from '../lessons.ts';
import type { BackendMetrics } from '../metrics.ts';
import type { Logger } from '../log.ts';
import type { ExecResult, SandboxDriver } from '../provisioning/driver.ts';
import { CapacityError, type WarmPool } from '../scheduling/pool.ts';
import { ClientLimits, WaitQueue } from '../scheduling/queue.ts';
import type { InstanceRecord, SessionRecord, SessionStore } from '../storage/sessions-store.ts';
import { TerminalHub, type Subscription, type TerminalSubscriber } from './terminal-hub.ts';
import { portUrlTemplate } from '../routing/port-routes.ts';

export type SessionEvent =
  | { type: 'expiring'; at: string }
  | { type: 'expired' }
  | { type: 'ended' }
  | { type: 'idle' }
  | { type: 'ports'; instance: string; ports: number[] };
type Listener = (event: SessionEvent) => void;

export interface SessionView {
  id: string;
  lesson: string | null;
  createdAt: string;
  expiresAt: string;
  instances: { name: string; ports: number[] }[];
  /** Where the browser reaches a published port: fill in {instance} and {port}. */
  portUrlTemplate: string;
}

export interface SessionServiceOptions {
  ttlMs: number;
  /** End sessions without activity for this long; 0 = never. */
  idleTimeoutMs?: number;
  /** Most sessions the pool can hold at once, for the queue's estimate before any session ended. */
  maxSandboxes?: number;
  limits?: { maxSessions: number; perMinute: number };
  metrics?: BackendMetrics;
  execTimeoutMs: number;
  /** How long one terminal viewer may hold its shell's output before it is dropped (terminal-hub.ts). */
  terminalStallMs?: number;
  /** Warnings sent before expiry, in ms before it. */
  warnings?: number[];
  /** BERTH_PORT_DOMAIN: ports are offered on their own host names under it. */
  portDomain?: string;
}

const DEFAULT_WARNINGS = [10 * 60_000, 60_000];
const LESSON_ID = /^[a-z0-9][a-z0-9-]*\/[a-z0-9][a-z0-9-]*$/;
const NODE_NAMES = ['node1', 'node2', 'node3', 'node4', 'node5'];

export type SessionRequest = { lesson?: string | undefined; client: string };
export type QueueView = { ticket: string; position: number; estimatedWaitSeconds: number };
export type RequestOutcome = { session: SessionView } | { queued: QueueView };

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
    portUrlTemplate: portUrlTemplate(session.id, portDomain),
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
  /** While draining, no new sessions start; running ones carry on. */
  draining = false;
  private readonly queue = new WaitQueue<SessionRequest>({ abandonAfterMs: 30_000 });
  /** Sessions started for queued tickets, until their learner asks: ticket -> session id. */
  private readonly served = new Map<string, { sessionId: string; timer: NodeJS.Timeout }>();
  private readonly clientOf = new Map<string, string>();
  private serving = false;
  private closed = false;
  private queueTimer: NodeJS.Timeout | undefined;
  private limits: ClientLimits | undefined;
  /** Last keystroke, exec or terminal connection, by session (in memory: a restart counts as activity). */
  private readonly lastActive = new Map<string, number>();
  private idleTimer: NodeJS.Timeout | undefined;

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
  async request(input: SessionRequest): Promise<RequestOutcome> {
    if (this.draining) {
      throw new ApiError('unavailable', 'This Berth is not starting new sessions right now (it is being drained for maintenance); sessions already running carry on.');
    }
    this.nodesFor(input.lesson);
    if (this.options.limits) {
      this.limits ??= new ClientLimits(this.options.limits);
      const live = [...this.clientOf.values()].filter((c) => c === input.client).length;
      const admitted = this.limits.admit(input.client, live);
      if (!admitted.ok) throw new ApiError('rate_limited', admitted.message, undefined, admitted.retryAfterSeconds);
    }
    if (this.queue.length === 0) {
      try {
        return { session: await this.create(input) };
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
  queueStatus(ticket: string): RequestOutcome {
    const served = this.served.get(ticket);
    if (served) {
      clearTimeout(served.timer);
      this.served.delete(ticket);
      return { session: this.get(served.sessionId) };
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
  async create(input: { lesson?: string | undefined; client?: string }): Promise<SessionView> {
    if (this.draining) {
      throw new ApiError('unavailable', 'This Berth is not starting new sessions right now (it is being drained for maintenance); sessions already running carry on.');
    }
    const started = performance.now();
    const nodes = this.nodesFor(input.lesson);
    const node1 = await this.acquire();
    const instances: InstanceRecord[] = [{ name: 'node1', ...node1 }];
    try {
      // A lesson's nodes are created together, on node1's network.
      const others = await Promise.all(Array.from({ length: nodes - 1 }, (_, i) => this.acquireNode(node1.sandboxId, `node${i + 2}`)));
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
    };
    this.store.insert(session);
    this.schedule(session);
    for (const instance of instances) this.watchPorts(session.id, instance);
    if (input.client) this.clientOf.set(session.id, input.client);
    this.options.metrics?.sessionStart.observe((performance.now() - started) / 1000);
    this.options.metrics?.sessionsCreated.inc();
    this.log.info('session created', { sessionId: session.id, lesson: session.lesson, sandboxes: instances.map((i) => i.sandboxId) });
    return this.view(session);
  }

  /** Adds the next free node (up to node5) to a session, on the session's network. */
  async addInstance(id: string): Promise<{ name: string }> {
    const session = this.record(id);
    const taken = new Set(session.instances.map((i) => i.name));
    const name = NODE_NAMES.find((n) => !taken.has(n));
    if (!name) throw new ApiError('conflict', `A session has at most ${NODE_NAMES.length} instances; remove one first.`);
    const instance = await this.acquireNode(session.instances[0]!.sandboxId, name);
    // The session may have ended while the sandbox was being prepared.
    const current = this.store.get(id);
    if (!current) {
      await this.pool.release(instance);
      throw new ApiError('session_not_found', `No session ${JSON.stringify(id)}: it ended while the instance was being added.`);
    }
    const instances = [...current.instances, instance].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    this.store.updateInstances(id, instances);
    this.watchPorts(id, instance);
    this.log.info('instance added', { sessionId: id, instance: name, sandboxId: instance.sandboxId });
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
    this.log.info('instance removed', { sessionId: id, instance: name });
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

  private async acquireNode(node1SandboxId: string, name: string): Promise<InstanceRecord> {
    const sandbox = await this.acquire();
    try {
      await this.driver.joinNetwork(sandbox, node1SandboxId, name);
    } catch (error) {
      await this.pool.release(sandbox);
      throw new ApiError('unavailable', `Could not add ${name} to the session: ${(error as Error).message}`, { cause: error });
    }
    return { name, ...sandbox };
  }

  get(id: string): SessionView {
    return this.view(this.record(id));
  }

  private view(session: SessionRecord): SessionView {
    return toView(session, (name) => this.ports.get(`${session.id}/${name}`) ?? [], this.options.portDomain);
  }

  /** Where the proxy reaches a port of an instance. */
  async portTarget(id: string, instanceName: string): Promise<string> {
    const instance = this.instance(id, instanceName);
    const key = `${id}/${instanceName}`;
    let address = this.addresses.get(key);
    if (!address) {
      address = await this.driver.address(instance.containerId);
      if (!address) throw new ApiError('unavailable', `${instanceName} has no network address right now.`);
      this.addresses.set(key, address);
    }
    return address;
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
      .catch((error: unknown) => this.log.warn('cannot follow the ports of an instance', { sessionId, instance: instance.name, error }));
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
  list(): SessionView[] {
    return this.store.all().filter((s) => s.expiresAt > Date.now()).map((s) => this.view(s));
  }

  async end(id: string, reason: 'ended' | 'expired' | 'admin' | 'idle' = 'ended'): Promise<void> {
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
    this.emit(id, reason === 'expired' ? { type: 'expired' } : reason === 'idle' ? { type: 'idle' } : { type: 'ended' });
    this.lastActive.delete(id);
    this.listeners.delete(id);
    await this.closeHubs(id);
    this.unwatchPorts(id);
    // Later nodes first: node1's sandbox holds the network they are attached to.
    for (const instance of [...session.instances].reverse()) await this.pool.release(instance);
    this.clientOf.delete(id);
    this.queue.departed();
    if (this.queue.length > 0) this.scheduleQueue();
    this.log.info(`session ${reason}`, { sessionId: id });
  }

  async exec(id: string, instanceName: string, cmd: string[]): Promise<ExecResult> {
    const instance = this.instance(id, instanceName);
    this.touch(id);
    return this.driver.exec(instance.containerId, cmd, this.options.execTimeoutMs);
  }

  /** Joins the instance's terminal hub (attaching to the shell on first use). */
  async subscribeTerminal(id: string, instanceName: string, subscriber: TerminalSubscriber, size: { cols: number; rows: number }): Promise<Subscription> {
    const instance = this.instance(id, instanceName);
    const key = `${id}/${instanceName}`;
    let hub = this.hubs.get(key);
    if (!hub) {
      hub = new TerminalHub(
        (initial) => this.driver.openTerminal(instance.containerId, initial),
        this.log.child({ sessionId: id, instance: instanceName }),
        this.options.terminalStallMs ? { stallMs: this.options.terminalStallMs } : {},
      );
      this.hubs.set(key, hub);
    }
    this.touch(id);
    const subscription = await hub.subscribe(subscriber, size);
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
        this.log.info('session idle', { sessionId: session.id, idleMs: now - last });
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
          await this.driver.attachRegistry(instance.sandboxId);
          this.watchPorts(session.id, instance);
        }
        this.schedule(session);
        adopted++;
      } else {
        this.store.delete(session.id);
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
  }

  private record(id: string): SessionRecord {
    const session = this.store.get(id);
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
          this.log.error('could not remove an expired session', { sessionId: session.id, error });
        });
      }, Math.max(0, session.expiresAt - now)),
    );
    this.timers.set(session.id, timers);
  }

  private emit(id: string, event: SessionEvent): void {
    for (const listener of this.listeners.get(id) ?? []) listener(event);
  }
}
