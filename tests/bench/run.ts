/**
 * `npm run bench`: measures Berth against the raw engine floors on this machine and writes
 * results/bench-<timestamp>.{md,json}. Progress goes to stderr, the report to stdout.
 * Everything it creates lives in namespaces of its own and is removed at the end, also when a
 * section fails or the run is interrupted. docs/bench.md explains the figures.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../sandbox-backend/config.ts';
import { createLogger } from '../../sandbox-backend/log.ts';
import { SandboxDriver } from '../../sandbox-backend/provisioning/driver.ts';
import { engine as connectEngine } from '../support/backend.ts';
import { BackendProcess } from './backend-process.ts';
import { EngineTimeline } from './engine-events.ts';
import { removeSandbox, startFloorSandbox, sweep, type FloorSandbox } from './engine.ts';
import { burstOnce, closeSessions } from './measure-burst.ts';
import { densityResult, sandboxesMemory } from './measure-density.ts';
import { shellStartCost, warmWithoutRefill } from './measure-diagnose.ts';
import { measureSoak } from './measure-soak.ts';
import { measureTerminal } from './measure-terminal.ts';
import { measureCold, measureWarm } from './measure-ttp.ts';
import { measureServed, measureUi } from './measure-ui.ts';
import { startRelay } from './relay.ts';
import { loadBenchOptions, type Section } from './options.ts';
import { derive, evaluateTargets, renderMarkdown, type BenchResults } from './report.ts';
import { sessionToPrompt, type OpenedSession } from './sessions.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const progress = (line: string) => process.stderr.write(`[bench] ${line}\n`);

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

async function main(): Promise<number> {
  const options = loadBenchOptions();
  const runId = randomBytes(3).toString('hex');
  // Separate namespaces: a backend removes, at start, whatever of its namespace no session owns,
  // which would include the floors' sandboxes if they shared one.
  const ns = { main: `bench-${runId}`, cold: `bench-${runId}-cold`, floor: `bench-${runId}-floor`, diag: `bench-${runId}-diag`, soak: `bench-${runId}-soak` };
  const engine = connectEngine();
  // The floors get the sandbox settings the backends get (image, limits, network range).
  const config = loadConfig({ ...process.env, BERTH_NAMESPACE: ns.floor });
  const started = new Date();
  const info = (await engine.info()) as { MemTotal: number; NCPU: number; ServerVersion: string; KernelVersion: string; CgroupVersion?: string; CgroupDriver?: string; ContainersRunning: number };

  const live = new Set<BackendProcess>();
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const backend of live) backend.kill();
      // An engine that is away (restarted by someone else on a shared machine) must not cost the report.
      const removed = await sweep(engine, Object.values(ns)).catch((error: Error) => {
        progress(`could not clean up (${error.message}): remove what carries the label berth.namespace=${ns.main}* by hand`);
        return undefined;
      });
      if (removed && removed.containers + removed.networks + removed.volumes > 0) {
        progress(`removed ${removed.containers} containers, ${removed.networks} networks, ${removed.volumes} volumes left by this run`);
      }
    })());
  let aborted = false;
  const interrupted = (signal: string) => {
    aborted = true;
    progress(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => interrupted('SIGINT'));
  process.once('SIGTERM', () => interrupted('SIGTERM'));
  // A throw in a stream or socket callback would otherwise end the process past every finally.
  const crashed = (error: unknown) => {
    process.stderr.write(`[bench] crashed: ${(error as Error).stack ?? String(error)}\n`);
    void cleanup().finally(() => process.exit(1));
  };
  process.once('uncaughtException', crashed);
  process.once('unhandledRejection', crashed);

  const results: BenchResults = {
    meta: {
      startedAt: started.toISOString(),
      finishedAt: '',
      durationS: 0,
      namespace: ns.main,
      host: {
        cpus: info.NCPU,
        memTotal: info.MemTotal,
        kernel: info.KernelVersion,
        engineVersion: info.ServerVersion,
        cgroup: `cgroup ${info.CgroupVersion ?? '?'} (${info.CgroupDriver ?? '?'})`,
        loadavgStart: os.loadavg(),
        loadavgEnd: [],
        foreignContainersAtStart: info.ContainersRunning,
      },
      git: { commit: git(['rev-parse', '--short', 'HEAD']) || 'unknown', dirty: git(['status', '--porcelain']).length > 0 },
      options: { ...options, skip: [...options.skip] },
    },
    errors: {},
  };
  const wanted = (section: Section) => !options.skip.has(section);
  /** Runs a section; a failure is recorded and the bench goes on with the next one. */
  const section = async (name: Section | 'setup' | 'diagnose', body: () => Promise<void>) => {
    if (aborted) return;
    const t0 = performance.now();
    try {
      await body();
      progress(`${name} done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    } catch (error) {
      if (aborted) return;
      results.errors[name] = (error as Error).stack ?? String(error);
      progress(`${name} FAILED: ${(error as Error).message}`);
    }
  };

  try {
    // First, so that a build it runs is what the backends serve.
    if (wanted('ui')) {
      await section('ui', async () => {
        // dist/ can change under the bench while someone rebuilds the UI: that is "not built"
        // for this run, not a failed bench.
        results.ui = await measureUi(repoRoot, { rebuild: options.uiBuild }).catch((error: Error) => ({
          built: false as const,
          reason: `dist/ could not be read (${error.message}); is a build running?`,
        }));
      });
    }

    const needMain = wanted('warm') || wanted('terminal') || wanted('burst') || wanted('density');
    if (needMain) {
      let backend: BackendProcess | undefined;
      await section('setup', async () => {
        progress(`starting a backend (namespace ${ns.main}) and filling its pool`);
        backend = await BackendProcess.start(
          ns.main,
          // The documented default pool, with room for the whole burst on top of it.
          { BERTH_POOL_IDLE: '2', BERTH_POOL_MAX: String(Math.max(40, options.burst + 4)) },
          options.logLevel,
        );
        live.add(backend);
        await backend.whenFilled();
      });
      if (backend) {
        const main = backend;
        const driver = new SandboxDriver(engine, { namespace: ns.main, ...config.sandbox }, createLogger('error', { component: 'bench-driver' }));
        if (results.ui?.built) {
          // Extra information only; the sizes stand without it.
          await measureServed(main.url, results.ui).catch(() => {});
        }
        if (wanted('warm')) {
          await section('warm', async () => {
            let floorBox: FloorSandbox | undefined;
            const timeline = await EngineTimeline.start(engine, ns.main);
            try {
              floorBox = await startFloorSandbox(engine, config, ns.floor);
              results.warm = await measureWarm(engine, main, driver, timeline, floorBox, options.runs, progress);
            } finally {
              timeline.stop();
              if (floorBox) await removeSandbox(engine, ns.floor, floorBox);
            }
          });
        }
        if (wanted('burst') || wanted('density')) {
          await section(wanted('burst') ? 'burst' : 'density', async () => {
            let open: OpenedSession[] = [];
            try {
              if (wanted('burst')) {
                results.burst = { runs: [] };
                for (let i = 0; i < options.burstRuns; i++) {
                  const last = i === options.burstRuns - 1;
                  progress(`burst ${i + 1}/${options.burstRuns}: ${options.burst} sessions at once`);
                  const outcome = await burstOnce(main, options.burst);
                  results.burst.runs.push(outcome.run);
                  progress(`burst ${i + 1}: all prompts after ${outcome.run.allMs?.toFixed(0) ?? 'n/a'} ms, ${outcome.run.failures.length} failed`);
                  open = outcome.open;
                  if (!last || !wanted('density')) {
                    await closeSessions(main.url, open);
                    open = [];
                  }
                }
              } else {
                // Density without a burst: the same number of sessions, one after another.
                for (let i = 0; i < options.burst; i++) open.push(await sessionToPrompt(main.url));
              }
              if (wanted('density') && open.length) {
                await densityOf(main, open);
                open = [];
              }
            } finally {
              await closeSessions(main.url, open);
            }
          });
        }
        if (wanted('terminal')) {
          await section('terminal', async () => {
            const relay = await startRelay({ BERTH_NAMESPACE: ns.main });
            try {
              results.terminal = await measureTerminal(
                engine,
                main,
                driver,
                relay,
                { echoSamples: options.echoSamples, bulkBytes: options.bulkBytes, bulkRuns: options.bulkRuns, xtermRuns: 1 },
                progress,
              );
            } finally {
              await relay.stop();
            }
          });
        }
        live.delete(main);
        await main.stop();
      }
    }

    if (wanted('soak')) {
      await section('soak', async () => {
        // A backend of its own, so that its memory is the soak's alone and nothing before it shows up as growth.
        progress(`starting a backend for the soak (namespace ${ns.soak}): ${options.soakLearners} learners for ${options.soakSeconds} s`);
        const soak = await BackendProcess.start(
          ns.soak,
          {
            BERTH_POOL_IDLE: '2',
            BERTH_POOL_MAX: String(options.soakLearners + 4),
            // The soak is about a class already at work; how long sandboxes take to boot on a busy
            // machine is the burst's figure, and a boot refused at 30 s would leave a learner out.
            BERTH_SANDBOX_READY_TIMEOUT: '180s',
          },
          options.logLevel,
        );
        live.add(soak);
        try {
          results.soak = await measureSoak(
            soak,
            { learners: options.soakLearners, seconds: options.soakSeconds, warmupSeconds: options.soakWarmupSeconds },
            progress,
          );
        } finally {
          live.delete(soak);
          await soak.stop();
        }
      });
    }

    if (wanted('cold')) {
      await section('cold', async () => {
        progress(`starting a backend with no warm pool (namespace ${ns.cold})`);
        const cold = await BackendProcess.start(ns.cold, { BERTH_POOL_IDLE: '0' }, options.logLevel);
        live.add(cold);
        try {
          results.cold = await measureCold(engine, config, cold, ns.floor, options.runs, progress);
        } finally {
          live.delete(cold);
          await cold.stop();
        }
      });
    }
    if (options.diagnose) {
      await section('diagnose', async () => {
        results.diagnose = {};
        progress(`diagnosis: a warm pool that does not refill during the sample (namespace ${ns.diag})`);
        const held = await BackendProcess.start(ns.diag, { BERTH_POOL_IDLE: '2', BERTH_POOL_MAX: '2' }, options.logLevel);
        live.add(held);
        try {
          results.diagnose.warmWithoutRefill = await warmWithoutRefill(held, options.runs);
        } finally {
          live.delete(held);
          await held.stop();
        }
        progress('diagnosis: starting the shell at the first attach, or ahead of it');
        const driver = new SandboxDriver(engine, { namespace: ns.floor, ...config.sandbox }, createLogger('error', { component: 'bench-driver' }));
        const box = await startFloorSandbox(engine, config, ns.floor);
        try {
          Object.assign(results.diagnose, await shellStartCost(engine, driver, box.containerId, options.runs));
        } finally {
          await removeSandbox(engine, ns.floor, box);
        }
      });
    }
  } finally {
    await cleanup();
  }

  /** Measures with the sessions open, then ends them and measures the backend again. */
  async function densityOf(main: BackendProcess, open: OpenedSession[]): Promise<void> {
    // Once the pool is refilled: nothing is booting, every sandbox is idle at its prompt.
    await main.whenFilled();
    const withSessions = await main.memory();
    const containers = await Promise.all(open.map((s) => main.containerOf(s.id)));
    const sandboxes = await sandboxesMemory(engine, containers);
    await closeSessions(main.url, open);
    await main.whenFilled();
    const withoutSessions = await main.memory();
    results.density = await densityResult(engine, sandboxes, withSessions, withoutSessions);
    progress(`density: ${containers.length} sandboxes measured`);
  }

  const finished = new Date();
  results.meta.finishedAt = finished.toISOString();
  results.meta.durationS = (finished.getTime() - started.getTime()) / 1000;
  results.meta.host.loadavgEnd = os.loadavg();
  const derived = derive(results);
  const targets = evaluateTargets(results, derived);
  const markdown = renderMarkdown(results, derived, targets);

  const dir = path.resolve(repoRoot, options.resultsDir);
  fs.mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const base = path.join(dir, `bench-${stamp}`);
  fs.writeFileSync(`${base}.md`, markdown);
  fs.writeFileSync(`${base}.json`, JSON.stringify({ ...results, derived, targets }, null, 2) + '\n');
  process.stdout.write(markdown);
  progress(`wrote ${path.relative(repoRoot, base)}.md and .json`);
  // A missed target is a finding, not a crash; only a section that could not run fails the command.
  return Object.keys(results.errors).length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`[bench] failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
