/**
 * Time to prompt, warm (a sandbox waits in the pool) and cold (none does), each interleaved with
 * its floor so that background load on the machine hits both alike.
 */
import type Docker from 'dockerode';
import type { Config } from '../../sandbox-backend/config.ts';
import type { SandboxDriver } from '../../sandbox-backend/provisioning/driver.ts';
import type { BackendProcess } from './backend-process.ts';
import type { EngineTimeline } from './engine-events.ts';
import { removeSandbox, startFloorSandbox, until, type FloorSandbox } from './engine.ts';
import { execPromptViaApi, execPromptViaCli, shellPromptDirect, type ExecPromptSample } from './floors.ts';
import { SIZE, endSession, sessionToPrompt, type OpenedSession, type PromptTiming } from './sessions.ts';

/** The backend's terminal exec as the engine saw it, relative to the WebSocket upgrade. */
export interface EngineSteps {
  /** Upgrade to exec create, exec create to exec start, exec start to prompt at the client. */
  toExecCreateMs: number;
  execCreateToStartMs: number;
  execStartToPromptMs: number;
  /** Whether the pool was making another sandbox (network, volume, container) between request and prompt. */
  refillOverlapped: boolean;
}

export interface WarmResult {
  backend: PromptTiming[];
  /** Per backend sample (same index), null where the engine's events could not be matched to it. */
  engineSteps: (EngineSteps | null)[];
  /** `docker exec -it bash -l` through the Engine API: the floor the target is stated against. */
  floorApi: ExecPromptSample[];
  /** The same with the docker CLI through a pty: what a person timing it by hand sees. */
  floorCli: number[];
  /** The driver's own terminal exec (persistent shell start) without the backend: the breakdown. */
  shellDirect: { attachMs: number; firstByteMs: number; totalMs: number }[];
  warmupExcluded: number;
}

export async function measureWarm(
  engine: Docker,
  backend: BackendProcess,
  driver: SandboxDriver,
  timeline: EngineTimeline,
  floorBox: FloorSandbox,
  runs: number,
  progress: (line: string) => void,
): Promise<WarmResult> {
  const result: WarmResult = { backend: [], engineSteps: [], floorApi: [], floorCli: [], shellDirect: [], warmupExcluded: 1 };
  const backendSample = async () => {
    // Only a full pool makes the sample "warm", and a quiet one keeps boots from competing.
    await backend.whenFilled();
    const opened = await sessionToPrompt(backend.url);
    const steps = await engineSteps(timeline, opened, await backend.containerOf(opened.id)).catch(() => undefined);
    await opened.terminal.close();
    await endSession(backend.url, opened.id);
    return { timing: opened.timing, steps };
  };
  const floorSamples = async () => {
    await backend.whenFilled();
    const api = await execPromptViaApi(engine, floorBox.containerId);
    const cli = await execPromptViaCli(floorBox.containerId);
    const direct = await shellPromptDirect(engine, driver, floorBox.containerId, SIZE);
    return { api, cli, direct };
  };
  // The first of each pays for code paths, caches and JIT once; learners meet a warmed-up server.
  await floorSamples();
  await backendSample();
  for (let i = 0; i < runs; i++) {
    // Alternating which goes first cancels drift in the machine's load between the two.
    let floors;
    let sample;
    if (i % 2 === 0) {
      floors = await floorSamples();
      sample = await backendSample();
    } else {
      sample = await backendSample();
      floors = await floorSamples();
    }
    const timing = sample.timing;
    result.backend.push(timing);
    result.engineSteps.push(sample.steps ?? null);
    result.floorApi.push(floors.api);
    result.floorCli.push(floors.cli);
    result.shellDirect.push(floors.direct);
    progress(`warm ${i + 1}/${runs}: backend ${timing.totalMs.toFixed(0)} ms, exec floor ${floors.api.totalMs.toFixed(0)} ms`);
  }
  return result;
}

/**
 * Finds the backend's terminal exec for this session among the engine's events. The events
 * stream lags a little behind the engine, so it waits (bounded) for the exec start to show up.
 */
async function engineSteps(timeline: EngineTimeline, opened: OpenedSession, containerId: string): Promise<EngineSteps> {
  const isTerminal = (action: string) => /berth-relay|dtach|tmux|berth-term/.test(action);
  const find = () => {
    // From the request on, not the upgrade: the engine's wall clock and this process's monotonic
    // one may differ by a few milliseconds.
    const mine = timeline.between(opened.startedAt, opened.promptAt + 50, containerId);
    const create = mine.find((e) => e.action.startsWith('exec_create') && isTerminal(e.action));
    const start = create && mine.find((e) => e.at >= create.at && e.action.startsWith('exec_start') && isTerminal(e.action));
    return create && start ? { create, start } : undefined;
  };
  const { create, start } = await until('the engine events of the terminal exec', async () => find(), 5_000);
  // Any network, volume or container of another sandbox being made while this learner waits.
  const others = timeline.between(opened.startedAt, opened.promptAt).filter((e) => e.id !== containerId && /^(create|connect|start)$/.test(e.action));
  return {
    toExecCreateMs: create.at - opened.upgradedAt,
    execCreateToStartMs: start.at - create.at,
    execStartToPromptMs: opened.promptAt - start.at,
    refillOverlapped: others.length > 0,
  };
}

export interface ColdResult {
  backend: PromptTiming[];
  /** Network (with the mirror attached), volume, container create, start, until BERTH-READY: `docker run -d` and wait. */
  floor: FloorSandbox['timings'][];
  warmupExcluded: number;
}

export async function measureCold(
  engine: Docker,
  config: Config,
  backend: BackendProcess,
  floorNamespace: string,
  runs: number,
  progress: (line: string) => void,
): Promise<ColdResult> {
  const result: ColdResult = { backend: [], floor: [], warmupExcluded: 1 };
  const floorSample = async () => {
    const box = await startFloorSandbox(engine, config, floorNamespace);
    await removeSandbox(engine, floorNamespace, box);
    return box.timings;
  };
  const backendSample = async () => {
    const opened = await sessionToPrompt(backend.url);
    await opened.terminal.close();
    await endSession(backend.url, opened.id);
    return opened.timing;
  };
  await floorSample();
  await backendSample();
  for (let i = 0; i < runs; i++) {
    let floor;
    let timing;
    if (i % 2 === 0) {
      floor = await floorSample();
      timing = await backendSample();
    } else {
      timing = await backendSample();
      floor = await floorSample();
    }
    result.floor.push(floor);
    result.backend.push(timing);
    progress(`cold ${i + 1}/${runs}: backend ${timing.totalMs.toFixed(0)} ms, docker run floor ${floor.total.toFixed(0)} ms`);
  }
  return result;
}
