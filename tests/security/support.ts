/**
 * What the security tests share: running an attack in a session's sandbox the way a learner
 * would (the exec API, which runs the command as the sandbox's root), and looking at a sandbox
 * from the host, which only the host can do.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { api, type TestBackend } from '../support/backend.ts';

export interface Run {
  exitCode: number;
  output: string;
}

/** Runs a shell script as the learner does, through the API; fails loudly if the API refuses. */
export async function run(backend: TestBackend, sessionId: string, script: string, node = 'node1'): Promise<Run> {
  const res = await api(backend.url, 'POST', `/api/sessions/${sessionId}/instances/${node}/exec`, { cmd: ['sh', '-c', script] });
  if (res.status !== 200) throw new Error(`exec on ${node} answered ${res.status}: ${JSON.stringify(res.json)}`);
  return res.json as Run;
}

/** Like run, but the script must succeed: for the controls that show an attack failed for the right reason. */
export async function must(backend: TestBackend, sessionId: string, script: string, node = 'node1'): Promise<string> {
  const result = await run(backend, sessionId, script, node);
  if (result.exitCode !== 0) throw new Error(`expected success (exit 0), got ${result.exitCode} from:\n${script}\n--- output ---\n${result.output}`);
  return result.output;
}

export async function newSession(backend: TestBackend): Promise<string> {
  const res = await api(backend.url, 'POST', '/api/sessions', {});
  if (res.status !== 201) throw new Error(`could not create a session: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json.id as string;
}

export async function endSession(backend: TestBackend, sessionId: string): Promise<void> {
  await api(backend.url, 'DELETE', `/api/sessions/${sessionId}`);
}

/** The sandbox container behind a session's node, found by the address the node itself reports. */
export async function sandboxOf(backend: TestBackend, sessionId: string, node = 'node1'): Promise<Docker.ContainerInspectInfo> {
  const address = (await must(backend, sessionId, "ip -4 -o addr show eth0 | awk '{ print $4 }' | cut -d/ -f1", node)).trim();
  const containers = await backend.engine.listContainers({ filters: { label: [`berth.namespace=${backend.namespace}`, 'berth.role=sandbox'] } });
  for (const c of containers) {
    const info = await backend.engine.getContainer(c.Id).inspect();
    if (Object.values(info.NetworkSettings.Networks).some((n) => n.IPAddress === address)) return info;
  }
  throw new Error(`no sandbox of namespace ${backend.namespace} has the address ${address} that ${node} reports`);
}

/** Runs a command through the engine as the backend's driver does, without the API in between. */
export async function engineExec(engine: Docker, containerId: string, cmd: string[]): Promise<Run> {
  const exec = await engine.getContainer(containerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: false });
  const stream = (await exec.start({ hijack: true, stdin: false })) as unknown as NodeJS.ReadableStream;
  let output = '';
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => (output += chunk.toString()));
  engine.modem.demuxStream(stream, sink, sink);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  return { exitCode: (await exec.inspect()).ExitCode ?? -1, output };
}

/** A file of the sandbox's cgroup in the host's cgroup v1 hierarchy (Docker's cgroupfs driver: /docker/<id>). */
export function hostCgroupFile(containerId: string, controller: string, file: string): string {
  return `/sys/fs/cgroup/${controller}/docker/${containerId}/${file}`;
}

export function readHostCgroup(containerId: string, controller: string, file: string): string {
  return fs.readFileSync(hostCgroupFile(containerId, controller, file), 'utf8');
}

/** "key value" lines of a cgroup file (memory.oom_control, pids.events, memory.stat) as numbers. */
export function cgroupCounters(text: string): Record<string, number> {
  return Object.fromEntries(text.trim().split('\n').map((line) => line.split(/\s+/)).map(([k, v]) => [k!, Number(v)]));
}

/** A process's status fields (Uid, CapEff, Seccomp, ...) as the host sees them. */
export function hostProcStatus(pid: number): Record<string, string> {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Object.fromEntries(text.split('\n').filter(Boolean).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
}

/** Host pids of every process in a container's cgroup and the cgroups below it (its inner containers). */
export function hostPidsOf(containerId: string): number[] {
  const pids: number[] = [];
  const walk = (dir: string) => {
    pids.push(...fs.readFileSync(`${dir}/cgroup.procs`, 'utf8').trim().split('\n').filter(Boolean).map(Number));
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(`${dir}/${entry.name}`);
  };
  walk(`/sys/fs/cgroup/pids/docker/${containerId}`);
  return pids;
}

/** Linux capability numbers of the ones that reach outside a container's namespaces. */
export const HOST_CAPABILITIES: Record<string, number> = {
  DAC_READ_SEARCH: 2, LINUX_IMMUTABLE: 9, NET_BROADCAST: 11, IPC_OWNER: 15, SYS_MODULE: 16, SYS_RAWIO: 17,
  SYS_PTRACE: 19, SYS_PACCT: 20, SYS_BOOT: 22, SYS_NICE: 23, SYS_RESOURCE: 24, SYS_TIME: 25, SYS_TTY_CONFIG: 26,
  LEASE: 28, AUDIT_CONTROL: 30, MAC_OVERRIDE: 32, MAC_ADMIN: 33, SYSLOG: 34, WAKE_ALARM: 35, BLOCK_SUSPEND: 36,
  AUDIT_READ: 37, PERFMON: 38, BPF: 39, CHECKPOINT_RESTORE: 40,
};

export function capabilityNames(mask: string): string[] {
  const bits = BigInt(`0x${mask}`);
  return Object.entries(HOST_CAPABILITIES).filter(([, bit]) => (bits >> BigInt(bit)) & 1n).map(([name]) => name);
}

/** The host's IPv4 addresses, every one a sandbox could try to reach the host's services at. */
export function hostAddresses(): string[] {
  const out = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
  return [...out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!).filter((a) => !a.startsWith('127.'));
}

export interface RuleMatch {
  target?: string;
  in?: string;
  out?: string;
  source?: string;
  destination?: string;
}

/** Packet count of the first rule of a chain in the host's filter table that matches. */
export function iptablesPackets(chain: string, match: RuleMatch): number {
  const out = execFileSync('iptables', ['-w', '-L', chain, '-v', '-x', '-n'], { encoding: 'utf8' });
  for (const line of out.split('\n').slice(2)) {
    const [pkts, , target, , , inIf, outIf, source, destination] = line.trim().split(/\s+/);
    const rule: RuleMatch = { target, in: inIf, out: outIf, source, destination };
    if (Object.entries(match).every(([k, v]) => rule[k as keyof RuleMatch] === v)) return Number(pkts);
  }
  throw new Error(`no rule in ${chain} like ${JSON.stringify(match)}:\n${out}`);
}

/** The device (major:minor) of the filesystem the host's root directory is on. */
export function hostRootDevice(): { major: number; minor: number } {
  const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === '/');
  const [major, minor] = line!.split(' ')[2]!.split(':').map(Number);
  return { major: major!, minor: minor! };
}
