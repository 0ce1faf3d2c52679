import { describe, expect, it } from 'vitest';
import { sandboxCapabilities, sandboxContainerOptions } from '../../sandbox-backend/provisioning/recipe.ts';
import { deniedSyscalls, sandboxSeccompProfile } from '../../sandbox-backend/provisioning/seccomp.ts';

const spec = {
  sandboxId: 'sbx-1',
  namespace: 'berth',
  image: 'berth/sandbox:latest',
  network: 'berth',
  registryMirror: 'http://berth-registry:5000',
  hostname: 'node1',
  memoryBytes: 1024 ** 3,
  cpus: 1,
  pids: 1000,
};

describe('the sandbox recipe', () => {
  const options = sandboxContainerOptions(spec);
  const host = options.HostConfig as Record<string, unknown>;

  it('is never privileged and drops every capability it does not list', () => {
    expect(host.Privileged).toBeFalsy();
    expect(host.CapDrop).toEqual(['ALL']);
    for (const dangerous of ['SYS_MODULE', 'SYS_RAWIO', 'SYS_TIME', 'SYS_BOOT', 'SYS_PTRACE', 'SYS_RESOURCE', 'DAC_READ_SEARCH', 'BPF', 'PERFMON', 'SYSLOG', 'MAC_ADMIN', 'LINUX_IMMUTABLE']) {
      expect(sandboxCapabilities).not.toContain(dangerous);
    }
    // Device access stays at Docker's default allowlist: no rule that opens host block devices.
    expect(host.DeviceCgroupRules).toBeUndefined();
    expect(host.Devices).toBeUndefined();
  });

  it('bounds the sandbox and, through a private cgroup namespace, everything inside it', () => {
    expect(host).toMatchObject({ CgroupnsMode: 'private', Memory: 1024 ** 3, MemorySwap: 1024 ** 3, NanoCpus: 1e9, PidsLimit: 1000 });
  });

  it('keeps the inner /var/lib/docker on a labelled per-sandbox volume', () => {
    expect(host.Mounts).toEqual([{ Type: 'volume', Source: 'berth-sbx-1-docker', Target: '/var/lib/docker' }]);
    expect(options.Labels).toEqual({ 'berth.namespace': 'berth', 'berth.role': 'sandbox', 'berth.sandbox': 'sbx-1' });
    expect(options.Env).toContain('BERTH_REGISTRY_MIRROR=http://berth-registry:5000');
  });

  it('runs under a seccomp profile that refuses host-affecting calls and answers keyrings with ENOSYS', () => {
    const opt = (host.SecurityOpt as string[]).find((o) => o.startsWith('seccomp='))!;
    const profile = JSON.parse(opt.slice('seccomp='.length));
    expect(profile).toEqual(JSON.parse(sandboxSeccompProfile()));
    const denied = profile.syscalls.find((rule: { errnoRet: number }) => rule.errnoRet === 1).names;
    for (const call of ['init_module', 'finit_module', 'kexec_load', 'clock_settime', 'settimeofday', 'reboot', 'open_by_handle_at']) {
      expect(denied).toContain(call);
    }
    expect(denied).toEqual([...deniedSyscalls]);
    expect(profile.syscalls.find((rule: { errnoRet: number }) => rule.errnoRet === 38).names).toEqual(['keyctl', 'add_key', 'request_key']);
  });
});
