/**
 * Issue 3, "Isolation and least privilege": what the sandbox's root can do to the host. Each test
 * makes the attack for real, as a learner would (the exec API or the terminal, and from inner
 * containers, --privileged ones included), and asserts that it fails; a control shows the same
 * path works where it should, so a test cannot pass because the attack never ran.
 * docs/security.md explains the defences these prove.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_ENTER } from '../../sandbox-backend/provisioning/recipe.ts';
import { startBackend, type TestBackend } from '../support/backend.ts';
import { TerminalClient } from '../support/terminal.ts';
import {
  capabilityNames,
  engineExec,
  hostPidsOf,
  hostProcStatus,
  hostRootDevice,
  must,
  newSession,
  readHostCgroup,
  run,
  sandboxOf,
} from './support.ts';

let backend: TestBackend;
let sessionId: string;
let containerId: string;
let sandboxInitPid: number;

beforeAll(async () => {
  backend = await startBackend({ BERTH_POOL_IDLE: '0' });
  sessionId = await newSession(backend);
  const info = await sandboxOf(backend, sessionId);
  containerId = info.Id;
  sandboxInitPid = info.State.Pid;
  // The inner containers below run these; pulling them first keeps each test about its attack.
  await must(backend, sessionId, 'docker pull -q busybox >/dev/null && docker pull -q debian:bookworm-slim >/dev/null');
});

afterAll(async () => {
  await backend?.stop();
});

/** errno of a raw system call made with perl, which lets a test call exactly the syscall it means. */
const syscall = (number: number, ...args: string[]) =>
  `perl -e 'my $b = pack("x64"); my $r = syscall(${[number, ...args].join(', ')}); print $r == -1 ? "errno=" . ($! + 0) : "ok", "\\n"'`;

describe("the sandbox's root", () => {
  it('is root only in a user namespace of its own: on the host it is an unprivileged uid, for exec and terminal alike', async () => {
    const inside = await must(backend, sessionId, 'id -u; cat /proc/self/uid_map');
    const [uid, map] = inside.trim().split('\n');
    expect(uid).toBe('0');
    const [first, hostFirst, count] = map!.trim().split(/\s+/).map(Number);
    expect(first).toBe(0);
    expect(hostFirst).toBeGreaterThanOrEqual(1_000_000_000);
    expect(count).toBe(262144);

    // A process the learner starts, seen from the host: every id is in that range, none is 0.
    const tag = `berth-probe-${randomBytes(4).toString('hex')}`;
    await must(backend, sessionId, `bash -c 'exec -a ${tag} sleep 120' >/dev/null 2>&1 &`);
    const probe = hostPidsOf(containerId).find((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(tag);
      } catch {
        return false;
      }
    });
    expect(probe, 'the probe process in the sandbox cgroup').toBeDefined();
    const status = hostProcStatus(probe!);
    for (const id of [...status.Uid!.split(/\s+/), ...status.Gid!.split(/\s+/)]) expect(Number(id)).toBe(hostFirst);
    // Its capabilities count only in its own user namespace, not the host's.
    expect(fs.readlinkSync(`/proc/${probe}/ns/user`)).not.toBe(fs.readlinkSync('/proc/self/ns/user'));
    await must(backend, sessionId, `pkill -f '^${tag}'`);

    // The terminal's shell is in the same place.
    const term = await TerminalClient.open(backend.url, sessionId);
    try {
      await term.waitForText('root@node1:~#');
      term.type('echo "map:$(cat /proc/self/uid_map | tr -s " ")"\r');
      await term.waitForText(`map: 0 ${hostFirst} ${count}`);
    } finally {
      term.close();
    }
  });

  it('is where every way in through the engine leads: sh, bash and berth-enter', async () => {
    const map = await must(backend, sessionId, 'cat /proc/self/uid_map');
    expect(map).not.toMatch(/^\s*0\s+0\s/);
    for (const cmd of [['sh', '-c', 'cat /proc/self/uid_map'], ['bash', '-c', 'cat /proc/self/uid_map'], [SANDBOX_ENTER, 'cat', '/proc/self/uid_map']]) {
      expect(await engineExec(backend.engine, containerId, cmd), cmd.join(' ')).toEqual({ exitCode: 0, output: map });
    }
  });

  it("runs under the seccomp profile, and the container's own root holds none of the capabilities that reach the host", async () => {
    // The brief's check from inside: PID 1 of what the learner sees is filtered (mode 2).
    expect(await must(backend, sessionId, 'grep "^Seccomp:" /proc/1/status /proc/self/status')).toMatch(/1\/status:Seccomp:\s+2\n.*self\/status:Seccomp:\s+2/);
    // From the host: the container's init, the only processes with host capabilities.
    const init = hostProcStatus(sandboxInitPid);
    expect(init.Seccomp).toBe('2');
    expect(capabilityNames(init.CapEff!)).toEqual([]);
    expect(capabilityNames(init.CapBnd!)).toEqual([]);
    // Control: the parse finds them where they are (the host's own init holds them all).
    expect(capabilityNames(hostProcStatus(1).CapBnd!)).toContain('SYS_MODULE');
  });
});

describe('host devices', () => {
  it("cannot make or open a device node for the host's disk, not even in a --privileged inner container", async () => {
    const { major, minor } = hostRootDevice();
    const direct = await run(backend, sessionId, `mknod /tmp/hostdisk b ${major} ${minor}; head -c 512 /tmp/hostdisk | wc -c; mount -t ext4 -o ro /tmp/hostdisk /mnt`);
    expect(direct.exitCode).not.toBe(0);
    expect(direct.output).toMatch(/mknod: \/tmp\/hostdisk: Operation not permitted/);
    expect(direct.output).toMatch(/No such file or directory/);
    // No block device node is there to begin with, nor the loop control of the sandbox disk.
    expect((await run(backend, sessionId, 'find /dev -type b | wc -l; ls /dev/loop-control')).output).toMatch(/^0\n.*loop-control'?: No such file or directory/);

    const privileged = await run(
      backend,
      sessionId,
      `docker run --rm --privileged busybox sh -c 'mknod /dev/hostdisk b ${major} ${minor} && head -c 512 /dev/hostdisk | wc -c'`,
    );
    expect(privileged.exitCode).not.toBe(0);
    expect(privileged.output).toMatch(/Operation not permitted/);
    // Control: that privileged container runs, and may mount what its own namespaces allow.
    expect(await must(backend, sessionId, "docker run --rm --privileged busybox sh -c 'mkdir /m && mount -t tmpfs none /m && echo mounted'")).toContain('mounted');

    // The device cgroup is the second wall: read and write only for loop devices among block devices.
    const rules = readHostCgroup(containerId, 'devices', 'devices.list').trim().split('\n');
    expect(rules).not.toContain('a *:* rwm');
    const blockAccess = rules.filter((r) => r.startsWith('b ') && /[rw]/.test(r.split(' ')[2]!));
    expect(blockAccess).toEqual(['b 7:* rwm']);
  });

  it('cannot read raw memory or I/O ports, nor the kernel log', async () => {
    const direct = await run(
      backend,
      sessionId,
      [
        'ls /dev/mem /dev/kmem /dev/port 2>&1',
        'mknod /tmp/mem c 1 1 2>&1',
        `echo iopl: $(${syscall(172, '3')})`,
        `echo ioperm: $(${syscall(173, '0', '1024', '1')})`,
        'head -c 16 /proc/kcore >/dev/null 2>&1 || echo kcore: denied',
        `echo syslog: $(${syscall(103, '3', '$b', '64')})`,
      ].join('; '),
    );
    expect(direct.output).toMatch(/\/dev\/mem'?: No such file or directory/);
    expect(direct.output).toMatch(/\/dev\/kmem'?: No such file or directory/);
    expect(direct.output).toMatch(/\/dev\/port'?: No such file or directory/);
    expect(direct.output).toMatch(/mknod: \/tmp\/mem: Operation not permitted/);
    expect(direct.output).toContain('iopl: errno=1');
    expect(direct.output).toContain('ioperm: errno=1');
    expect(direct.output).toContain('kcore: denied');
    expect(direct.output).toContain('syslog: errno=1');

    const privileged = await must(
      backend,
      sessionId,
      `docker run --rm --privileged debian:bookworm-slim sh -c 'ls /dev/mem 2>&1; echo iopl: $(${syscall(172, '3').replace(/'/g, `'"'"'`)})'`,
    );
    expect(privileged).toMatch(/\/dev\/mem'?: No such file or directory/);
    expect(privileged).toContain('iopl: errno=1');
  });
});

describe('the kernel', () => {
  it('cannot load kernel modules', async () => {
    // This kernel may have no module support at all (ENOSYS): EPERM shows the profile refused first.
    const direct = await run(backend, sessionId, `echo init_module: $(${syscall(175, '$b', '64', '$b')}); echo finit_module: $(${syscall(313, '0', '$b', '0')}); modprobe dummy; echo modprobe=$?`);
    expect(direct.output).toContain('init_module: errno=1');
    expect(direct.output).toContain('finit_module: errno=1');
    expect(direct.output).not.toContain('modprobe=0');
    const privileged = await must(
      backend,
      sessionId,
      `docker run --rm --privileged debian:bookworm-slim sh -c 'echo init_module: $(${syscall(175, '$b', '64', '$b').replace(/'/g, `'"'"'`)})'`,
    );
    expect(privileged).toContain('init_module: errno=1');
  });

  it("cannot set the host's clock", async () => {
    const now = Math.floor(Date.now() / 1000);
    // First with the current time, which would be harmless if it were allowed.
    const harmless = await run(backend, sessionId, `echo clock_settime: $(perl -e 'my $t = pack("qq", time, 0); print syscall(227, 0, $t) == -1 ? "errno=" . ($! + 0) : "ok"'); echo settimeofday: $(perl -e 'my $t = pack("qq", time, 0); print syscall(164, $t, 0) == -1 ? "errno=" . ($! + 0) : "ok"')`);
    expect(harmless.output).toContain('clock_settime: errno=1');
    expect(harmless.output).toContain('settimeofday: errno=1');
    // Then as an attacker would, a day ahead, directly and from a --privileged inner container.
    const ahead = now + 86_400;
    const direct = await run(backend, sessionId, `date -s @${ahead}`);
    expect(direct.exitCode).not.toBe(0);
    expect(direct.output).toMatch(/Operation not permitted/);
    const privileged = await run(backend, sessionId, `docker run --rm --privileged busybox date -s @${ahead}`);
    expect(privileged.output).toMatch(/can't set date: Operation not permitted/);
    // The host's clock and the sandbox's agree, and neither moved.
    const seen = Number((await must(backend, sessionId, 'date +%s')).trim());
    expect(Math.abs(seen - Date.now() / 1000)).toBeLessThan(5);
    expect(Math.abs(Date.now() / 1000 - now)).toBeLessThan(120);
  });

  it('cannot change host-wide kernel settings, the usual way out of a container', async () => {
    const hostCorePattern = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
    // A pipe in core_pattern would make the host's kernel run a program of the attacker's as root.
    // Writing back the value already there would change nothing even if it were allowed.
    const direct = await run(
      backend,
      sessionId,
      [
        'v=$(cat /proc/sys/kernel/core_pattern); echo "read:$v"',
        'printf "%s\\n" "$v" > /proc/sys/kernel/core_pattern && echo core_pattern: WRITTEN',
        'echo h > /proc/sysrq-trigger && echo sysrq: WRITTEN',
        'mkdir -p /tmp/cg && mount -t cgroup -o none,name=berthprobe cgroup /tmp/cg && echo new-hierarchy: MOUNTED',
        'echo 1 > /proc/sys/vm/drop_caches && echo drop_caches: WRITTEN',
      ].join('; '),
    );
    expect(direct.output).toContain(`read:${hostCorePattern.trim()}`);
    expect(direct.output).not.toContain('WRITTEN');
    expect(direct.output).not.toContain('MOUNTED');
    expect(direct.output).toMatch(/core_pattern: Permission denied/);
    // Control: settings of the sandbox's own namespaces are its to change.
    expect(await must(backend, sessionId, 'echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward')).toBe('1\n');

    const privileged = await run(
      backend,
      sessionId,
      `docker run --rm --privileged --security-opt systempaths=unconfined busybox sh -c 'v=$(cat /proc/sys/kernel/core_pattern); echo "$v" > /proc/sys/kernel/core_pattern && echo core_pattern: WRITTEN; mount -t proc proc /mnt && echo "$v" > /mnt/sys/kernel/core_pattern && echo fresh-proc: WRITTEN'`,
    );
    expect(privileged.output).not.toContain('WRITTEN');
    expect(privileged.output).toMatch(/Permission denied/);
    expect(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8')).toBe(hostCorePattern);
  });

  it("cannot raise the sandbox's own limits", async () => {
    const limit = readHostCgroup(containerId, 'memory', 'memory.limit_in_bytes');
    const attempt = await run(
      backend,
      sessionId,
      'echo 99999999999 > /sys/fs/cgroup/memory/memory.limit_in_bytes && echo memory: RAISED; echo max > /sys/fs/cgroup/pids/pids.max && echo pids: RAISED; echo -1 > /sys/fs/cgroup/cpu/cpu.cfs_quota_us && echo cpu: RAISED',
    );
    expect(attempt.output).not.toContain('RAISED');
    expect(attempt.output).toMatch(/memory.limit_in_bytes: Permission denied/);
    expect(readHostCgroup(containerId, 'memory', 'memory.limit_in_bytes')).toBe(limit);
    // Control: limits below its own, for its inner containers, are the inner dockerd's to set.
    expect(await must(backend, sessionId, 'docker run --rm -m 64m busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes')).toBe(`${64 * 1024 * 1024}\n`);
  });
});

describe('a --privileged inner container', () => {
  it("runs, and `-v /:/host` gives it the sandbox's root filesystem, never the host's", async () => {
    const marker = randomBytes(6).toString('hex');
    const hostMarker = `/berth-host-marker-${marker}`;
    fs.writeFileSync(hostMarker, 'only the host has this\n');
    try {
      await must(backend, sessionId, `echo sandbox > /root/berth-sandbox-marker-${marker}`);
      // berth-init is a file of the sandbox image that the host does not have.
      expect(fs.existsSync('/usr/local/sbin/berth-init')).toBe(false);
      const seen = await must(
        backend,
        sessionId,
        `docker run --rm --privileged -v /:/host busybox sh -c 'ls /host${hostMarker} 2>&1; cat /host/root/berth-sandbox-marker-${marker}; ls /host/usr/local/sbin/berth-init'`,
      );
      expect(seen).toMatch(new RegExp(`/host${hostMarker}: No such file or directory`));
      expect(seen).toContain('sandbox\n');
      expect(seen).toContain('/host/usr/local/sbin/berth-init');
    } finally {
      fs.rmSync(hostMarker, { force: true });
    }
  });
});
