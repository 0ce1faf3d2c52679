/**
 * Turns raw results into the targets verdict and the markdown report. Pure: run.ts does the I/O.
 */
import type { BenchOptions } from './options.ts';
import type { BurstResult } from './measure-burst.ts';
import type { DensityResult } from './measure-density.ts';
import type { DiagnoseResult } from './measure-diagnose.ts';
import type { MemorySample, SoakResult } from './measure-soak.ts';
import type { TerminalResult } from './measure-terminal.ts';
import type { ColdResult, WarmResult } from './measure-ttp.ts';
import type { UiResult } from './measure-ui.ts';
import { bucketed, slopePerMinute, type Bucket } from './soak-stats.ts';
import { meets, percentile, ratio, summarize, type Summary, type TargetResult } from './stats.ts';

export interface BenchMeta {
  startedAt: string;
  finishedAt: string;
  durationS: number;
  namespace: string;
  host: {
    cpus: number;
    memTotal: number;
    kernel: string;
    engineVersion: string;
    cgroup: string;
    loadavgStart: number[];
    loadavgEnd: number[];
    /** Running containers not created by this run: other work competing for the same cores. */
    foreignContainersAtStart: number;
  };
  git: { commit: string; dirty: boolean };
  options: Omit<BenchOptions, 'skip'> & { skip: string[] };
}

export interface BenchResults {
  meta: BenchMeta;
  warm?: WarmResult;
  cold?: ColdResult;
  burst?: BurstResult;
  terminal?: TerminalResult;
  density?: DensityResult;
  ui?: UiResult;
  diagnose?: Partial<DiagnoseResult>;
  soak?: SoakResult;
  /** Sections that failed, with why; the others still report. */
  errors: Record<string, string>;
}

export const TARGETS = {
  warmRatio: 1.5,
  coldRatio: 1.2,
  echoRatio: 1.2,
  throughputMBs: 30,
  sandboxesPerGiB: 20,
  initialJsKB: 150,
  /** Backend RSS after a full GC, end of the soak against the end of its warm-up. */
  soakGrowthMiB: 20,
  /** Every minute's echo p95 under load against the p95 of one learner typing alone. */
  soakEchoRatio: 3,
} as const;

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}
const fmtMiB = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
const fmtKB = (bytes: number) => `${(bytes / 1000).toFixed(1)} KB`;
const fmtRatio = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}x` : 'n/a');
const verdict = (pass: boolean | undefined) => (pass === undefined ? 'n/a' : pass ? '**PASS**' : '**MISS**');

const mbs = (b: { mbPerSecondAtMedian: number } | undefined) => (b ? `${b.mbPerSecondAtMedian.toFixed(1)} MB/s` : 'n/a');

const pick = <T>(rows: T[], f: (row: T) => number): Summary | undefined => (rows.length ? summarize(rows.map(f)) : undefined);

/** Derived figures the report and the JSON both carry, so nobody recomputes them differently. */
export interface Derived {
  warm?: { backend: Summary; floorApi: Summary; floorCli: Summary; shellDirect: Summary; ratio: number; ratioCli: number };
  cold?: { backend: Summary; floor: Summary; ratio: number };
  echo?: { backend: Summary; direct: Summary; driver?: Summary; relay?: Summary; ratio: number; ratioToRelay?: number };
  bulk?: Record<string, { ms: Summary; mbPerSecondAtMedian: number; mbPerSecondAtP95: number }>;
  density?: {
    withoutCache: Summary;
    usage: Summary;
    cache: Summary;
    rss: Summary;
    perGiB: number;
    perGiBIncludingCache: number;
    backendPerSession: number;
    machineFits: number;
    machineFitsIncludingCache: number;
  };
  burst?: { all: Summary | undefined; perSession: Summary | undefined; failures: number; requested: number };
  soak?: {
    idleBefore?: Summary;
    idleAfter?: Summary;
    echo?: Summary & { p99: number };
    minutes: (Bucket & { ratio?: number; memory?: MemorySample })[];
    /** The worst minute's p95 over the idle p95 before the soak. */
    worstRatio?: number;
    /** Bytes, after a full GC: end of the soak minus end of warm-up. */
    rssGrowth?: number;
    heapGrowth?: number;
    /** Buffers outside the JS heap (terminal output held in the backend). */
    externalGrowth?: number;
    /** Bytes per minute, least squares over the timeline after warm-up (no forced GC). */
    rssSlope?: number;
    heapSlope?: number;
    externalSlope?: number;
    load1: { min: number; max: number } | undefined;
    byKind: Record<string, { n: number; failed: number; ms: Summary }>;
    seq: { runs: number; complete: number; expectedBytes: number; receivedBytes: number };
    failedCommands: number;
  };
}

export function derive(r: BenchResults): Derived {
  const d: Derived = {};
  if (r.warm && r.warm.backend.length) {
    const backend = summarize(r.warm.backend.map((t) => t.totalMs));
    const floorApi = summarize(r.warm.floorApi.map((t) => t.totalMs));
    const floorCli = summarize(r.warm.floorCli);
    const shellDirect = summarize(r.warm.shellDirect.map((t) => t.totalMs));
    d.warm = { backend, floorApi, floorCli, shellDirect, ratio: ratio(backend, floorApi), ratioCli: ratio(backend, floorCli) };
  }
  if (r.cold && r.cold.backend.length) {
    const backend = summarize(r.cold.backend.map((t) => t.totalMs));
    const floor = summarize(r.cold.floor.map((t) => t.total));
    d.cold = { backend, floor, ratio: ratio(backend, floor) };
  }
  if (r.terminal && r.terminal.echo.backend.length && r.terminal.echo.direct.length) {
    const backend = summarize(r.terminal.echo.backend);
    const direct = summarize(r.terminal.echo.direct);
    d.echo = { backend, direct, ratio: ratio(backend, direct) };
    if (r.terminal.echo.driver?.length) d.echo.driver = summarize(r.terminal.echo.driver);
    if (r.terminal.echo.relay?.length) {
      d.echo.relay = summarize(r.terminal.echo.relay);
      d.echo.ratioToRelay = ratio(backend, d.echo.relay);
    }
  }
  if (r.terminal && r.terminal.bulk.length) {
    d.bulk = {};
    for (const path of [...new Set(r.terminal.bulk.map((b) => b.path))]) {
      const samples = r.terminal.bulk.filter((b) => b.path === path);
      const ms = summarize(samples.map((b) => b.ms));
      const bytes = samples[0]!.payloadBytes;
      d.bulk[path] = { ms, mbPerSecondAtMedian: bytes / 1e6 / (ms.median / 1000), mbPerSecondAtP95: bytes / 1e6 / (ms.p95 / 1000) };
    }
  }
  if (r.density && r.density.sandboxes.length) {
    const s = r.density.sandboxes;
    const withoutCache = summarize(s.map((m) => m.withoutCache));
    const usage = summarize(s.map((m) => m.usage));
    // The larger of the two estimates: neither may be negative noise, and capacity errs low.
    const backendPerSession = Math.max(0, r.density.backend.rssPerSession, r.density.backend.allocatedPerSession);
    d.density = {
      withoutCache,
      usage,
      cache: summarize(s.map((m) => m.cache)),
      rss: summarize(s.map((m) => m.rss)),
      perGiB: GiB / withoutCache.median,
      perGiBIncludingCache: GiB / usage.median,
      backendPerSession,
      machineFits: Math.floor(r.density.host.memTotal / (withoutCache.median + backendPerSession)),
      machineFitsIncludingCache: Math.floor(r.density.host.memTotal / (usage.median + backendPerSession)),
    };
  }
  if (r.burst && r.burst.runs.length) {
    const runs = r.burst.runs;
    const all = runs.map((run) => run.allMs).filter((ms): ms is number => ms !== undefined);
    d.burst = {
      all: all.length ? summarize(all) : undefined,
      perSession: pick(runs.flatMap((run) => run.perSession), (t) => t.totalMs),
      failures: runs.reduce((a, run) => a + run.failures.length, 0),
      requested: runs.reduce((a, run) => a + run.requested, 0),
    };
  }
  if (r.soak) d.soak = deriveSoak(r.soak);
  return d;
}

function deriveSoak(s: SoakResult): NonNullable<Derived['soak']> {
  const idleBefore = s.idleBefore.length ? summarize(s.idleBefore) : undefined;
  const idleP95 = idleBefore?.p95;
  const minutes = bucketed(s.echo, s.seconds * 1000).map((b) => ({
    ...b,
    ratio: idleP95 ? b.p95 / idleP95 : undefined,
    // The last sample of the minute (no forced GC): memory beside latency, over time.
    memory: s.timeline.filter((m) => m.atMs < (b.index + 1) * 60_000).at(-1),
  }));
  const ratios = minutes.map((m) => m.ratio).filter((x): x is number => x !== undefined);
  const warmMs = s.warmupSeconds * 1000;
  const after = s.timeline.filter((m) => m.atMs >= warmMs);
  const { warm, end } = s.checkpoints;
  const soakCommands = s.commands.filter((c) => c.phase === 'soak');
  const byKind: Record<string, { n: number; failed: number; ms: Summary }> = {};
  for (const kind of [...new Set(soakCommands.map((c) => c.kind))]) {
    const runs = soakCommands.filter((c) => c.kind === kind);
    byKind[kind] = { n: runs.length, failed: runs.filter((c) => !c.ok).length, ms: summarize(runs.map((c) => c.ms)) };
  }
  const seqs = s.commands.flatMap((c) => (c.seq ? [c.seq] : []));
  const loads = s.timeline.map((m) => m.load1);
  return {
    idleBefore,
    idleAfter: s.idleAfter.length ? summarize(s.idleAfter) : undefined,
    echo: s.echo.length ? { ...summarize(s.echo.map((e) => e.ms)), p99: percentile(s.echo.map((e) => e.ms), 99) } : undefined,
    minutes,
    worstRatio: ratios.length ? Math.max(...ratios) : undefined,
    rssGrowth: warm && end ? end.rss - warm.rss : undefined,
    heapGrowth: warm && end ? end.heapUsed - warm.heapUsed : undefined,
    externalGrowth: warm && end ? end.external + end.arrayBuffers - (warm.external + warm.arrayBuffers) : undefined,
    rssSlope: slopePerMinute(after.map((m) => ({ atMs: m.atMs, value: m.rss }))),
    heapSlope: slopePerMinute(after.map((m) => ({ atMs: m.atMs, value: m.heapUsed }))),
    externalSlope: slopePerMinute(after.map((m) => ({ atMs: m.atMs, value: m.external + m.arrayBuffers }))),
    load1: loads.length ? { min: Math.min(...loads), max: Math.max(...loads) } : undefined,
    byKind,
    seq: {
      runs: seqs.length,
      complete: seqs.filter((q) => q.complete).length,
      expectedBytes: seqs.reduce((a, q) => a + q.expectedBytes, 0),
      receivedBytes: seqs.reduce((a, q) => a + q.receivedBytes, 0),
    },
    failedCommands: s.commands.filter((c) => !c.ok).length,
  };
}

export function evaluateTargets(r: BenchResults, d: Derived): TargetResult[] {
  const notMeasured = (name: string, target: string, section: string): TargetResult => ({
    name,
    target,
    measured: r.errors[section] ? `failed: ${r.errors[section]!.split('\n')[0]!.slice(0, 120)}` : 'not measured',
    pass: undefined,
  });
  const t: TargetResult[] = [];
  t.push(
    d.warm
      ? {
          name: 'Time to prompt, warm pool',
          target: `≤ ${TARGETS.warmRatio}x docker exec floor (Engine API)`,
          measured: `${fmtMs(d.warm.backend.median)} vs ${fmtMs(d.warm.floorApi.median)} = ${fmtRatio(d.warm.ratio)}`,
          pass: meets(d.warm.ratio, TARGETS.warmRatio, 'at-most'),
        }
      : notMeasured('Time to prompt, warm pool', `≤ ${TARGETS.warmRatio}x docker exec floor`, 'warm'),
  );
  t.push(
    d.cold
      ? {
          name: 'Time to prompt, cold',
          target: `≤ ${TARGETS.coldRatio}x docker run floor (until BERTH-READY)`,
          measured: `${fmtMs(d.cold.backend.median)} vs ${fmtMs(d.cold.floor.median)} = ${fmtRatio(d.cold.ratio)}`,
          pass: meets(d.cold.ratio, TARGETS.coldRatio, 'at-most'),
        }
      : notMeasured('Time to prompt, cold', `≤ ${TARGETS.coldRatio}x docker run floor`, 'cold'),
  );
  t.push(
    d.echo
      ? {
          name: 'Keystroke echo round trip',
          target: `≤ ${TARGETS.echoRatio}x direct exec attach`,
          measured: `${fmtMs(d.echo.backend.median)} vs ${fmtMs(d.echo.direct.median)} = ${fmtRatio(d.echo.ratio)}`,
          pass: meets(d.echo.ratio, TARGETS.echoRatio, 'at-most'),
          note: d.echo.relay
            ? `a bare Node WebSocket relay in front of the same exec, measured in this run, takes ${fmtMs(d.echo.relay.median)} ` +
              `and the backend ${fmtRatio(d.echo.ratioToRelay!)} of that: the gap to the floor is the one relay hop every browser terminal needs, not Berth's code`
            : undefined,
        }
      : notMeasured('Keystroke echo round trip', `≤ ${TARGETS.echoRatio}x direct exec attach`, 'terminal'),
  );
  const bulk = d.bulk?.backend;
  t.push(
    bulk
      ? {
          name: 'Bulk output through the terminal',
          target: `≥ ${TARGETS.throughputMBs} MB/s`,
          measured: `${bulk.mbPerSecondAtMedian.toFixed(1)} MB/s (direct exec attach: ${mbs(d.bulk?.direct)}; one pty inside the sandbox, the ceiling for any terminal: ${mbs(d.bulk?.pty)})`,
          pass: meets(bulk.mbPerSecondAtMedian, TARGETS.throughputMBs, 'at-least'),
          note:
            d.bulk?.pty && d.bulk.pty.mbPerSecondAtMedian < TARGETS.throughputMBs
              ? `one pty inside the sandbox carries ${mbs(d.bulk.pty)} of this output on this machine, less than the target: no terminal can reach it here. ` +
                `Berth delivers ${Math.round((100 * bulk.mbPerSecondAtMedian) / d.bulk.pty.mbPerSecondAtMedian)}% of that ceiling (a plain TTY exec of the command, no backend: ${mbs(d.bulk.exec)})`
              : undefined,
        }
      : notMeasured('Bulk output through the terminal', `≥ ${TARGETS.throughputMBs} MB/s`, 'terminal'),
  );
  t.push(
    d.density
      ? {
          name: 'Idle sandboxes per GiB',
          target: `≥ ${TARGETS.sandboxesPerGiB}`,
          measured: `${d.density.perGiB.toFixed(1)} (${fmtMiB(d.density.withoutCache.median)} each without page cache; ${d.density.perGiBIncludingCache.toFixed(1)} counting it)`,
          pass: meets(d.density.perGiB, TARGETS.sandboxesPerGiB, 'at-least'),
        }
      : notMeasured('Idle sandboxes per GiB', `≥ ${TARGETS.sandboxesPerGiB}`, 'density'),
  );
  t.push(...soakTargets(r, d, notMeasured));
  if (r.ui?.built) {
    t.push({
      name: 'Initial JavaScript, lesson page',
      target: `< ${TARGETS.initialJsKB} KB gzip`,
      measured: `${fmtKB(r.ui.lessonPageGzip)} gzip (${r.ui.lessonPage.length} chunks)`,
      pass: r.ui.lessonPageGzip < TARGETS.initialJsKB * 1000,
    });
    t.push({
      name: 'Monaco kept out of the initial JavaScript',
      target: 'no initial chunk mentions monaco',
      measured: r.ui.monacoInInitial.length ? r.ui.monacoInInitial.join(', ') : `none (${r.ui.monacoAnywhere.length} lazy chunk(s) do)`,
      pass: r.ui.monacoInInitial.length === 0,
    });
  } else {
    t.push({
      name: 'Initial JavaScript, lesson page',
      target: `< ${TARGETS.initialJsKB} KB gzip`,
      measured: r.ui ? `UI: not built (${r.ui.reason.split('\n')[0]})` : r.errors.ui ? `failed: ${r.errors.ui}` : 'not measured',
      pass: undefined,
    });
  }
  return t;
}

const fmtSignedMiB = (bytes: number) => `${bytes >= 0 ? '+' : '−'}${fmtMiB(Math.abs(bytes))}`;

function soakTargets(r: BenchResults, d: Derived, notMeasured: (name: string, target: string, section: string) => TargetResult): TargetResult[] {
  const memory = { name: 'Soak: backend memory after warm-up', target: `grows < ${TARGETS.soakGrowthMiB} MiB (RSS after GC)` };
  const echo = { name: 'Soak: keystroke echo under load', target: `p95 ≤ ${TARGETS.soakEchoRatio}x one learner alone, every minute` };
  const lost = { name: 'Soak: nothing lost', target: '0 lost or corrupt output, 0 disconnects, 0 errors' };
  const s = r.soak;
  const ds = d.soak;
  if (!s || !ds) return [memory, echo, lost].map((x) => notMeasured(x.name, x.target, 'soak'));
  const { warm, end } = s.checkpoints;
  const slope = ds.rssSlope === undefined ? '' : `; timeline slope ${fmtSignedMiB(ds.rssSlope)}/min (heap ${fmtSignedMiB(ds.heapSlope ?? 0)}/min)`;
  const worst = ds.minutes.reduce<(typeof ds.minutes)[number] | undefined>((w, m) => ((m.ratio ?? 0) > (w?.ratio ?? -1) ? m : w), undefined);
  const problems = s.errors.length + s.disconnects.length;
  const lostBytes = ds.seq.expectedBytes - ds.seq.receivedBytes;
  return [
    warm && end && ds.rssGrowth !== undefined
      ? {
          ...memory,
          measured: `${fmtMiB(warm.rss)} → ${fmtMiB(end.rss)} (${fmtSignedMiB(ds.rssGrowth)}) over ${((end.atMs - warm.atMs) / 60_000).toFixed(1)} min${slope}`,
          pass: ds.rssGrowth < TARGETS.soakGrowthMiB * MiB,
        }
      : { ...memory, measured: 'no checkpoint after warm-up (soak too short?)', pass: undefined },
    worst && ds.worstRatio !== undefined && ds.idleBefore
      ? {
          ...echo,
          measured: `worst minute (${worst.index + 1}) ${fmtMs(worst.p95)} vs ${fmtMs(ds.idleBefore.p95)} alone = ${fmtRatio(ds.worstRatio)}; whole soak p95 ${fmtMs(ds.echo?.p95 ?? Number.NaN)}, p99 ${fmtMs(ds.echo?.p99 ?? Number.NaN)}`,
          pass: meets(ds.worstRatio, TARGETS.soakEchoRatio, 'at-most'),
        }
      : { ...echo, measured: 'no echo samples', pass: undefined },
    {
      ...lost,
      measured:
        `${ds.seq.complete} of ${ds.seq.runs} \`seq\` outputs whole and in order (${(ds.seq.receivedBytes / 1e6).toFixed(1)} of ${(ds.seq.expectedBytes / 1e6).toFixed(1)} MB` +
        `${lostBytes ? `, ${lostBytes} bytes missing` : ''}), ${ds.failedCommands} failed commands, ${s.disconnects.length} disconnects, ${s.errors.length} errors` +
        (s.opened < s.learners ? `; only ${s.opened} of ${s.learners} learners got a session` : ''),
      pass: problems === 0 && ds.failedCommands === 0 && s.opened === s.learners,
      note: problems ? `first: ${[...s.disconnects, ...s.errors][0]!.message.slice(0, 200)}` : undefined,
    },
  ];
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const msRow = (label: string, s: Summary | undefined): string[] => (s ? [label, fmtMs(s.median), fmtMs(s.p95), String(s.n)] : [label, 'n/a', 'n/a', '0']);

export function renderMarkdown(r: BenchResults, d: Derived, targets: TargetResult[]): string {
  const out: string[] = [];
  const h = r.meta.host;
  out.push(`# Berth bench, ${r.meta.startedAt}`);
  out.push('');
  out.push(
    `Machine: ${h.cpus} CPUs, ${(h.memTotal / GiB).toFixed(1)} GiB, kernel ${h.kernel}, Docker Engine ${h.engineVersion}, ${h.cgroup}. ` +
      `Load average ${h.loadavgStart.map((l) => l.toFixed(2)).join(' / ')} at the start, ${h.loadavgEnd.map((l) => l.toFixed(2)).join(' / ')} at the end; ` +
      `${h.foreignContainersAtStart} other running container(s) shared the machine. ` +
      `Commit ${r.meta.git.commit}${r.meta.git.dirty ? ' (with uncommitted changes)' : ''}. ` +
      `Took ${r.meta.durationS.toFixed(0)} s with BENCH_RUNS=${r.meta.options.runs}, BENCH_BURST=${r.meta.options.burst}, ` +
      `BENCH_ECHO_SAMPLES=${r.meta.options.echoSamples}, BENCH_BULK_BYTES=${r.meta.options.bulkBytes}.`,
  );
  out.push('');
  out.push('Latencies are median and p95 (nearest rank) over the runs; every floor was measured in the same run, interleaved with the backend figure it is compared with. How to read this: docs/bench.md.');
  out.push('');
  out.push('## Targets');
  out.push('');
  out.push(table(['', 'target', 'measured', 'result'], targets.map((t) => [t.name, t.target, t.measured, verdict(t.pass)])));
  // A missed target says why, from what this run measured (docs/bench.md has the longer story).
  const whys = targets.filter((t) => t.pass === false);
  if (whys.length) {
    out.push('');
    for (const t of whys) out.push(`- **${t.name}, missed:** ${t.note ?? 'see the sections below and docs/bench.md, "Findings"'}.`);
  }

  if (r.warm || r.cold) {
    out.push('');
    out.push('## Time to prompt');
    out.push('');
    const rows: string[][] = [];
    if (r.warm?.backend.length) {
      const w = r.warm;
      rows.push(msRow('**warm: POST to prompt (backend)**', d.warm?.backend));
      rows.push(msRow('↳ POST /api/sessions', pick(w.backend, (t) => t.postMs)));
      rows.push(msRow('↳ WebSocket upgrade', pick(w.backend, (t) => t.upgradeMs)));
      rows.push(msRow('↳ upgrade to first bytes', pick(w.backend, (t) => t.firstByteMs)));
      rows.push(msRow('↳ upgrade to prompt', pick(w.backend, (t) => t.promptAfterUpgradeMs)));
      const steps = w.engineSteps.filter((s): s is NonNullable<typeof s> => s !== null);
      if (steps.length) {
        rows.push(msRow('&nbsp;&nbsp;↳ upgrade to exec create (engine event)', pick(steps, (s) => s.toExecCreateMs)));
        rows.push(msRow('&nbsp;&nbsp;↳ exec create to exec start (engine events)', pick(steps, (s) => s.execCreateToStartMs)));
        rows.push(msRow('&nbsp;&nbsp;↳ exec start to prompt at the client', pick(steps, (s) => s.execStartToPromptMs)));
        const overlapped = w.backend.filter((_, i) => w.engineSteps[i]?.refillOverlapped);
        const clear = w.backend.filter((_, i) => w.engineSteps[i] && !w.engineSteps[i]!.refillOverlapped);
        rows.push([`&nbsp;&nbsp;samples during which the pool was making its replacement sandbox`, `${overlapped.length} of ${steps.length}`, '', '']);
        if (overlapped.length && clear.length) {
          rows.push(msRow('&nbsp;&nbsp;POST to prompt, those samples', pick(overlapped, (t) => t.totalMs)));
          rows.push(msRow('&nbsp;&nbsp;POST to prompt, the others', pick(clear, (t) => t.totalMs)));
        }
      }
      rows.push(msRow('warm floor: `docker exec -it bash -l`, Engine API', d.warm?.floorApi));
      rows.push(msRow('↳ exec create', pick(w.floorApi, (t) => t.createMs)));
      rows.push(msRow('↳ exec start (attach)', pick(w.floorApi, (t) => t.startMs)));
      rows.push(msRow('↳ to first bytes', pick(w.floorApi, (t) => t.firstByteMs)));
      rows.push(msRow('warm floor: `docker exec -it bash -l`, CLI in a pty', d.warm?.floorCli));
      rows.push(msRow("backend's terminal exec without the backend (driver.openTerminal, new shell)", d.warm?.shellDirect));
      rows.push(msRow('↳ exec create + start', pick(w.shellDirect, (t) => t.attachMs)));
      rows.push(msRow('↳ to first bytes', pick(w.shellDirect, (t) => t.firstByteMs)));
    }
    if (r.cold?.backend.length) {
      const c = r.cold;
      rows.push(msRow('**cold: POST to prompt (backend, pool idle 0)**', d.cold?.backend));
      rows.push(msRow('↳ POST /api/sessions (sandbox boot)', pick(c.backend, (t) => t.postMs)));
      rows.push(msRow('↳ upgrade to prompt', pick(c.backend, (t) => t.promptAfterUpgradeMs)));
      rows.push(msRow('cold floor: network + mirror + volume + `docker run -d` until BERTH-READY', d.cold?.floor));
      rows.push(msRow('↳ network create', pick(c.floor, (t) => t.network)));
      rows.push(msRow('↳ registry mirror attached to the network', pick(c.floor, (t) => t.registry)));
      rows.push(msRow('↳ volume create', pick(c.floor, (t) => t.volume)));
      rows.push(msRow('↳ container create', pick(c.floor, (t) => t.create)));
      rows.push(msRow('↳ container start', pick(c.floor, (t) => t.start)));
      rows.push(msRow('↳ start to BERTH-READY (inner dockerd)', pick(c.floor, (t) => t.ready)));
    }
    out.push(table(['', 'median', 'p95', 'n'], rows));
    const excluded = [r.warm ? `warm ${r.warm.warmupExcluded}` : '', r.cold ? `cold ${r.cold.warmupExcluded}` : ''].filter(Boolean).join(', ');
    out.push('');
    out.push(`Warm-up samples excluded (first request after start: code paths, JIT, caches): ${excluded} per series.`);
  }

  if (r.burst) {
    out.push('');
    out.push('## Burst (start of a class)');
    out.push('');
    const rows = r.burst.runs.map((run, i) => {
      const per = run.perSession.length ? summarize(run.perSession.map((t) => t.totalMs)) : undefined;
      return [
        String(i + 1),
        `${run.requested} at once (${run.poolBefore.idle} waiting in the pool)`,
        run.allMs === undefined ? 'n/a' : fmtMs(run.allMs),
        per ? fmtMs(per.median) : 'n/a',
        per ? fmtMs(per.p95) : 'n/a',
        `${run.queued}`,
        `${run.failures.length}`,
      ];
    });
    out.push(table(['run', 'sessions', 'until the last prompt', 'per learner, median', 'per learner, p95', 'queued', 'failed'], rows));
    const failures = r.burst.runs.flatMap((run) => run.failures);
    if (failures.length) {
      out.push('');
      out.push(`Failures (first 3 of ${failures.length}): ${failures.slice(0, 3).map((f) => `\`${f.slice(0, 200)}\``).join('; ')}`);
    }
  }

  if (r.terminal) {
    out.push('');
    out.push('## Terminal');
    out.push('');
    const rows: string[][] = [];
    rows.push(msRow('echo round trip, through the backend WebSocket', d.echo?.backend));
    rows.push(msRow('echo round trip, direct exec attach (a dtach client in a TTY exec, same shell)', d.echo?.direct));
    if (d.echo?.driver) rows.push(msRow("echo round trip, the backend's own attach without the backend (driver.openTerminal)", d.echo.driver));
    if (d.echo?.relay) rows.push(msRow('echo round trip, bare Node WebSocket relay process in front of the same exec', d.echo.relay));
    out.push(table(['', 'median', 'p95', 'n'], rows));
    if (d.bulk) {
      out.push('');
      const label: Record<string, string> = {
        backend: 'through the backend WebSocket',
        direct: 'direct exec attach to the same shell (a dtach client in a TTY exec)',
        driver: "the backend's own attach without the backend (driver.openTerminal: non-TTY exec, dtach protocol)",
        exec: 'plain TTY exec of the command (no persistent shell, no backend)',
        pty: 'the command through one pty inside the sandbox, nothing leaving it (`script`): the ceiling for any terminal',
        'backend+xterm': 'through the backend, fed into a headless xterm as the UI feeds it',
      };
      const rows = Object.entries(d.bulk).map(([path, b]) => {
        const discarded = r.terminal!.bulk.filter((x) => x.path === path && x.xtermDiscardedAfter !== undefined);
        const note = discarded.length ? ` (xterm refused input after ${(discarded[0]!.xtermDiscardedAfter! / 1e6).toFixed(0)} MB: not all was shown)` : '';
        return [`${label[path] ?? path}${note}`, b.mbPerSecondAtMedian.toFixed(1), b.mbPerSecondAtP95.toFixed(1), fmtMs(b.ms.median), String(b.ms.n)];
      });
      out.push(table([`\`head -c ${r.terminal.bulkBytes} /dev/zero \\| base64\``, 'MB/s at median time', 'MB/s at p95 time', 'median time', 'n'], rows));
      out.push('');
      out.push(
        'MB = 10^6 bytes of base64 output, timed from sending the command to its end marker at the client. ' +
          'The UI writes every frame into xterm as it arrives and tells the server nothing back, so there is no browser-side flow control to include; ' +
          'the xterm row shows what parsing costs a client that keeps up with the stream.',
      );
    }
  }

  if (r.density && d.density) {
    const dd = d.density;
    const b = r.density.backend;
    out.push('');
    out.push('## Density');
    out.push('');
    out.push(
      table(
        [`per idle sandbox (${dd.usage.n} sandboxes, each with a shell at its prompt)`, 'median', 'p95'],
        [
          ['memory usage (cgroup)', fmtMiB(dd.usage.median), fmtMiB(dd.usage.p95)],
          ['of which page cache', fmtMiB(dd.cache.median), fmtMiB(dd.cache.p95)],
          ['**usage without page cache**', fmtMiB(dd.withoutCache.median), fmtMiB(dd.withoutCache.p95)],
          ['anonymous memory (rss)', fmtMiB(dd.rss.median), fmtMiB(dd.rss.p95)],
        ],
      ),
    );
    out.push('');
    out.push(
      table(
        ['', 'value'],
        [
          ['backend RSS with the sessions open → right after ending them', `${fmtMiB(b.withSessions.rss)} → ${fmtMiB(b.withoutSessions.rss)} (${b.sessions} sessions, each with a terminal)`],
          ['backend memory per open session: RSS delta / sessions', `${(b.rssPerSession / 1024).toFixed(0)} KiB`],
          ['backend memory per open session: (JS heap + buffers) delta / sessions, after GC', `${(b.allocatedPerSession / 1024).toFixed(0)} KiB`],
          ['idle sandboxes per GiB (without page cache / with it)', `${dd.perGiB.toFixed(1)} / ${dd.perGiBIncludingCache.toFixed(1)}`],
          [`this machine's ${(r.density.host.memTotal / GiB).toFixed(1)} GiB hold (idle, memory only)`, `${dd.machineFits} sandboxes (${dd.machineFitsIncludingCache} counting page cache)`],
        ],
      ),
    );
  }

  if (r.soak && d.soak) renderSoak(out, r.soak, d.soak);

  if (r.diagnose) {
    const dg = r.diagnose;
    const s = (xs: number[] | undefined) => (xs?.length ? summarize(xs) : undefined);
    out.push('');
    out.push('## Diagnosis of the warm start (BENCH_DIAGNOSE=1)');
    out.push('');
    out.push(
      table(
        ['', 'median', 'p95', 'n'],
        [
          msRow('warm POST to prompt, pool refill held back (pool max = idle)', s(dg.warmWithoutRefill)),
          msRow('driver.openTerminal to prompt, shell started by the attach', s(dg.freshShell)),
          msRow('driver.openTerminal to prompt, shell started ahead of time', s(dg.preStartedShell)),
        ],
      ),
    );
  }

  out.push('');
  out.push('## UI');
  out.push('');
  if (!r.ui) out.push(r.errors.ui ? `UI: failed: ${r.errors.ui}` : 'UI: not measured.');
  else if (!r.ui.built) out.push(`UI: not built (${r.ui.reason}).`);
  else {
    const ui = r.ui;
    out.push(
      table(
        ['initial chunk', 'loaded for', 'raw', 'gzip'],
        ui.lessonPage.map((c) => [c.file, ui.roles[c.file] ?? '', fmtKB(c.raw), fmtKB(c.gzip)]),
      ),
    );
    out.push('');
    out.push(
      `Entry alone ${fmtKB(ui.entryGzip)} gzip; lesson page ${fmtKB(ui.lessonPageGzip)} gzip. Built ${ui.builtAt}${ui.rebuilt ? ' (by this run)' : ''}. ` +
        `Monaco in the initial set: ${ui.monacoInInitial.length ? ui.monacoInInitial.join(', ') : 'no'}.` +
        (ui.servedBytes !== undefined
          ? ` The backend actually sent ${fmtKB(ui.servedBytes)} for these (${[...new Set(Object.values(ui.servedEncodings ?? {}))].join(', ')} encoding).`
          : ''),
    );
  }

  const errors = Object.entries(r.errors);
  if (errors.length) {
    out.push('');
    out.push('## Sections that failed');
    out.push('');
    for (const [section, message] of errors) out.push(`- ${section}: ${message.split('\n').slice(0, 3).join(' ')}`);
  }
  out.push('');
  return out.join('\n');
}

function renderSoak(out: string[], s: SoakResult, ds: NonNullable<Derived['soak']>): void {
  const memoryCells = (m: MemorySample | undefined) => (m ? [fmtMiB(m.rss), fmtMiB(m.heapUsed), fmtMiB(m.external + m.arrayBuffers), m.load1.toFixed(1)] : ['', '', '', '']);
  const row = (label: string, x: { p50?: number; median?: number; p95: number; p99?: number; n: number } | undefined, ratioCell = '', memory?: MemorySample) =>
    x
      ? [label, fmtMs(x.p50 ?? x.median ?? Number.NaN), fmtMs(x.p95), x.p99 === undefined ? '' : fmtMs(x.p99), String(x.n), ratioCell, ...memoryCells(memory)]
      : [label, 'n/a', 'n/a', '', '0', '', ...memoryCells(memory)];
  out.push('');
  out.push('## Soak (a class at work)');
  out.push('');
  out.push(
    `${s.opened} of ${s.learners} learners, each with a session and a terminal WebSocket, typing for ${s.seconds} s (the first ${s.warmupSeconds} s are warm-up for the memory verdict): ` +
      `a key every ${s.keyGapMs[0]}–${s.keyGapMs[1]} ms, Enter, then reading every byte until the prompt; ` +
      `${s.commands.filter((c) => c.phase === 'soak').length} commands, ${s.echo.length} keystrokes timed, ${(s.bytesReceived / 1e6).toFixed(1)} MB of terminal output received.` +
      (ds.load1 ? ` Load average (1 min) during the soak: ${ds.load1.min.toFixed(1)} to ${ds.load1.max.toFixed(1)}.` : ''),
  );
  out.push('');
  const idle = ds.idleBefore;
  const rows = [
    row('one learner typing alone, before (the floor)', idle && { ...idle, p99: percentile(s.idleBefore, 99) }),
    ...ds.minutes.map((m) => row(`minute ${m.index + 1}, everyone typing`, m, m.ratio === undefined ? '' : fmtRatio(m.ratio), m.memory)),
    row('**whole soak**', ds.echo, idle && ds.echo ? fmtRatio(ds.echo.p95 / idle.p95) : ''),
    row('one learner typing alone, after', ds.idleAfter && { ...ds.idleAfter, p99: percentile(s.idleAfter, 99) }, idle && ds.idleAfter ? fmtRatio(ds.idleAfter.p95 / idle.p95) : ''),
  ];
  out.push(
    table(['keystroke echo through the backend', 'p50', 'p95', 'p99', 'n', 'p95 / floor p95', 'backend RSS (end of minute, no GC)', 'JS heap', 'external + buffers', 'load (1 min)'], rows),
  );
  out.push('');
  const c = s.checkpoints;
  const mem = (label: string, m: MemorySample | undefined) =>
    m ? [label, m.atMs >= 0 ? `${(m.atMs / 60_000).toFixed(1)} min` : '', fmtMiB(m.rss), fmtMiB(m.heapUsed), fmtMiB(m.external + m.arrayBuffers)] : [label, 'n/a', '', '', ''];
  out.push(
    table(
      ['backend memory after a full GC', 'at', 'RSS', 'JS heap', 'external + buffers'],
      [
        mem('before the soak (sessions open, idle)', c.start),
        mem('end of warm-up', c.warm),
        mem('middle', c.middle),
        mem('end of the soak', c.end),
        mem('sessions ended, pool refilled', c.afterClose),
      ],
    ),
  );
  out.push('');
  const slope = (b: number | undefined) => (b === undefined ? 'n/a' : `${fmtSignedMiB(b)}/min`);
  out.push(
    `Growth after warm-up (end − end of warm-up, after GC): RSS ${ds.rssGrowth === undefined ? 'n/a' : fmtSignedMiB(ds.rssGrowth)}, ` +
      `JS heap ${ds.heapGrowth === undefined ? 'n/a' : fmtSignedMiB(ds.heapGrowth)}, external + buffers ${ds.externalGrowth === undefined ? 'n/a' : fmtSignedMiB(ds.externalGrowth)}. ` +
      `Least-squares slope over the ${s.timeline.filter((m) => m.atMs >= s.warmupSeconds * 1000).length} samples taken every 5 s after warm-up (no forced GC): ` +
      `RSS ${slope(ds.rssSlope)}, JS heap ${slope(ds.heapSlope)}, external + buffers ${slope(ds.externalSlope)}.`,
  );
  out.push('');
  const kinds: Record<string, string> = {
    ls: '`ls -la /`',
    'docker-ps': '`docker ps`',
    seq: '`seq 1 2000`',
    'seq-burst': '`seq 1 200000` (a flood)',
    'docker-run': '`docker run --rm busybox echo x`',
  };
  out.push(
    table(
      ['command (soak phase)', 'runs', 'failed', 'Enter to prompt, median', 'p95', 'max'],
      Object.entries(ds.byKind).map(([kind, k]) => [kinds[kind] ?? kind, String(k.n), String(k.failed), fmtMs(k.ms.median), fmtMs(k.ms.p95), fmtMs(k.ms.max)]),
    ),
  );
  out.push('');
  out.push(
    `Every \`seq\` output (idle phases included) is checked line by line: each number once, in order, the last one n, their sum n(n+1)/2, nothing else between them. ` +
      `${ds.seq.complete} of ${ds.seq.runs} whole; ${ds.seq.receivedBytes} of ${ds.seq.expectedBytes} bytes arrived.`,
  );
  const problems = [
    ...s.disconnects.map((e) => `disconnect, learner ${e.learner} at ${(e.atMs / 1000).toFixed(0)} s: ${e.message}`),
    ...s.errors.map((e) => `learner ${e.learner} at ${(e.atMs / 1000).toFixed(0)} s: ${e.message}`),
    ...s.openFailures.map((f) => `no session: ${f}`),
    ...(s.poolProblems ?? []).map((e) => `at ${(e.atMs / 1000).toFixed(0)} s: ${e.message}`),
  ];
  if (problems.length) {
    out.push('');
    out.push(problems.length > 5 ? `Problems (the first 5 of ${problems.length}):` : 'Problems:');
    out.push('');
    for (const p of problems.slice(0, 5)) out.push(`- \`${p.slice(0, 300)}\``);
  }
}
