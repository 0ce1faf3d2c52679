/**
 * How many learners fit: memory of an idle sandbox with a learner's shell open in it, and what
 * each open session costs the backend process.
 */
import type Docker from 'dockerode';
import type { ChildMemory } from './backend-process.ts';

export interface SandboxMemory {
  containerId: string;
  /** The cgroup's usage as the engine reports it (v1: memory.usage_in_bytes, inner containers included). */
  usage: number;
  /** Page cache charged to the cgroup: mostly image files, which a sandbox shares once another has read them. */
  cache: number;
  /** Anonymous memory: daemons' heaps and stacks, the shell. */
  rss: number;
  /** usage - cache: what a sandbox holds that no other sandbox shares and the kernel cannot drop. */
  withoutCache: number;
}

export async function sandboxMemory(engine: Docker, containerId: string): Promise<SandboxMemory> {
  // one-shot: the current figures without the engine's second sample for CPU (a second per call).
  const stats = await engine.getContainer(containerId).stats({ stream: false, 'one-shot': true });
  const memory = stats.memory_stats;
  const s = memory.stats as Partial<typeof memory.stats> & { file?: number; anon?: number };
  // Hierarchical (total_*) counters under cgroup v1 include the learner's inner containers; v2
  // reports file/anon for the subtree already.
  const cache = s.total_cache ?? s.file ?? s.cache ?? 0;
  const rss = s.total_rss ?? s.anon ?? s.rss ?? 0;
  return { containerId, usage: memory.usage, cache, rss, withoutCache: memory.usage - cache };
}

export interface DensityResult {
  sandboxes: SandboxMemory[];
  backend: {
    sessions: number;
    /** The backend with the sessions open, and right after they were all ended. */
    withSessions: ChildMemory;
    withoutSessions: ChildMemory;
    /** RSS delta / sessions. Coarse: V8 keeps pages it once had, so RSS lags what is held. */
    rssPerSession: number;
    /** (JS heap + external buffers) delta / sessions, both after a full GC: what the sessions hold. */
    allocatedPerSession: number;
  };
  host: { memTotal: number; cpus: number };
}

export async function sandboxesMemory(engine: Docker, containerIds: string[]): Promise<SandboxMemory[]> {
  const sandboxes: SandboxMemory[] = [];
  // One at a time: the figures are instantaneous, and this keeps the engine's own work out of them.
  for (const id of containerIds) sandboxes.push(await sandboxMemory(engine, id));
  return sandboxes;
}

/**
 * The backend's share is the difference between the same process with the sessions open and a
 * moment later with them ended: measured close together, so that the burst's garbage and
 * earlier transfers do not swamp a per-session figure of some kilobytes.
 */
export async function densityResult(
  engine: Docker,
  sandboxes: SandboxMemory[],
  withSessions: ChildMemory,
  withoutSessions: ChildMemory,
): Promise<DensityResult> {
  const info = (await engine.info()) as { MemTotal: number; NCPU: number };
  const k = sandboxes.length;
  const allocated = (m: ChildMemory) => m.heapUsed + m.external;
  return {
    sandboxes,
    backend: {
      sessions: k,
      withSessions,
      withoutSessions,
      rssPerSession: k ? (withSessions.rss - withoutSessions.rss) / k : Number.NaN,
      allocatedPerSession: k ? (allocated(withSessions) - allocated(withoutSessions)) / k : Number.NaN,
    },
    host: { memTotal: info.MemTotal, cpus: info.NCPU },
  };
}
