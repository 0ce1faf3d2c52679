import { describe, expect, it } from 'vitest';
import { bridgeName, sandboxCapabilities, sandboxContainerOptions, sandboxNetworkOptions } from '../../sandbox-backend/provisioning/recipe.ts';
import { randomSubnet, subnetAt, subnetCount } from '../../sandbox-backend/provisioning/subnets.ts';
import { deniedSyscalls, sandboxSeccompProfile } from '../../sandbox-backend/provisioning/seccomp.ts';

const spec = {
  sandboxId: 'sbx-1',
  namespace: 'berth',
  image: 'berth/sandbox:latest',
  registryMirror: 'http://berth-registry:5000',
  hostname: 'node1',
  memoryBytes: 1024 ** 3,
  cpus: 1,
  pids: 1000,
  diskBytes: 10 * 1024 ** 3,
  internet: false,
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
    // Beyond Docker's default device allowlist, only loop devices, for the sandbox disk
    // (berth-init): no rule opens the host's other block devices.
    expect(host.DeviceCgroupRules).toEqual(['b 7:* rwm']);
    expect(host.Devices).toEqual([{ PathOnHost: '/dev/loop-control', PathInContainer: '/dev/loop-control', CgroupPermissions: 'rwm' }]);
  });

  it('bounds the sandbox and, through a private cgroup namespace, everything inside it', () => {
    expect(host).toMatchObject({ CgroupnsMode: 'private', Memory: 1024 ** 3, MemorySwap: 1024 ** 3, NanoCpus: 1e9, PidsLimit: 1000 });
  });

  it('keeps the inner /var/lib/docker on a labelled per-sandbox volume', () => {
    expect(host.Mounts).toEqual([{ Type: 'volume', Source: 'berth-sbx-1-docker', Target: '/var/lib/docker' }]);
    expect(options.Labels).toEqual({ 'berth.namespace': 'berth', 'berth.role': 'sandbox', 'berth.sandbox': 'sbx-1' });
    expect(options.Env).toContain('BERTH_REGISTRY_MIRROR=http://berth-registry:5000');
    // The node name lives inside (berth-init) and in network aliases; Docker's DNS would also
    // answer for the configured hostname, so that one is unique.
    expect(options.Env).toContain('BERTH_HOSTNAME=node1');
    // Without internet, berth-init makes outside name lookups fail at once.
    expect(options.Env).toContain('BERTH_INTERNET=0');
    expect(options.Env, 'the sandbox disk is sized by the backend').toContain(`BERTH_DISK_SIZE=${10 * 1024 ** 3}`);
    expect(options.Hostname).toBe('sbx-1');
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

describe('sandbox networks', () => {
  it('give each sandbox a private, internal network that it joins under its node name', () => {
    const network = sandboxNetworkOptions({ namespace: 'berth', sandboxId: 'sbx-0123456789ab', subnet: '172.30.0.16/28', internet: false });
    expect(network).toMatchObject({ Name: 'berth-sbx-0123456789ab', Internal: true, IPAM: { Config: [{ Subnet: '172.30.0.16/28' }] } });
    expect(network.Options['com.docker.network.bridge.name']).toBe('brth0123456789a');
    expect(sandboxNetworkOptions({ namespace: 'b', sandboxId: 'sbx-1', subnet: '172.30.0.0/28', internet: true }).Internal).toBe(false);
    const container = sandboxContainerOptions({ ...spec, sandboxId: 'sbx-0123456789ab' });
    expect(container.HostConfig?.NetworkMode).toBe('berth-sbx-0123456789ab');
    expect(container.NetworkingConfig?.EndpointsConfig?.['berth-sbx-0123456789ab']?.Aliases).toEqual(['node1']);
  });

  it('keeps bridge names within the 15 characters Linux allows, under one prefix', () => {
    expect(bridgeName('sbx-0123456789ab')).toHaveLength(15);
    expect(bridgeName('sbx-0123456789ab').startsWith('brth')).toBe(true);
  });

  it('carves /28 subnets out of the configured range', () => {
    expect(subnetCount('172.30.0.0/16')).toBe(4096);
    expect(subnetAt('172.30.0.0/16', 0)).toBe('172.30.0.0/28');
    expect(subnetAt('172.30.0.0/16', 1)).toBe('172.30.0.16/28');
    expect(subnetAt('172.30.0.0/16', 4095)).toBe('172.30.255.240/28');
    expect(subnetAt('10.9.0.0/24', 3)).toBe('10.9.0.48/28');
    expect(() => subnetAt('172.30.0.0/16', 4096)).toThrow(RangeError);
    expect(randomSubnet('172.30.0.0/16', () => 0.5)).toBe('172.30.128.0/28');
  });
});
