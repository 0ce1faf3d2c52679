/**
 * How a sandbox container is made: the one place that decides its privileges and limits.
 *
 * Docker's privileged mode is neither needed nor possible here (see docs/security.md). The
 * container's own processes are only the image's berth-init and its helpers, run as the host's
 * root with the capabilities listed below (no SYS_MODULE, SYS_RAWIO, SYS_TIME, SYS_BOOT,
 * SYS_PTRACE, ...). Learner code never runs there: berth-init builds an inner world in a user
 * namespace whose root is an unprivileged host uid, and every exec enters it (berth-enter), so
 * what the learner's root can do to the host is what any unprivileged user can.
 */
import type { ContainerCreateOptions } from 'dockerode';
import { sandboxSeccompProfile } from './seccomp.ts';

export const LABEL_NAMESPACE = 'berth.namespace';
export const LABEL_ROLE = 'berth.role';
export const LABEL_SANDBOX = 'berth.sandbox';

/**
 * Capabilities of the container's own root, which berth-init uses to build the inner world: mount
 * its filesystems and the sandbox disk, delegate cgroups, map the inner user namespace's ids, wire
 * its network. The inner world's root gets every capability, but only over its own namespaces.
 */
export const sandboxCapabilities = [
  'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETGID', 'SETUID', 'SETPCAP', 'NET_ADMIN', 'MKNOD', 'SYS_ADMIN',
] as const;

/**
 * Runs the rest of a command line as root of the sandbox's inner world. An exec that may run
 * learner input must start with it: outside the inner world is the host's root. The image also
 * puts it first on PATH as `sh` and `bash`, which is how execs of those enter today.
 */
export const SANDBOX_ENTER = '/usr/local/sbin/berth-enter';

export interface SandboxSpec {
  sandboxId: string;
  namespace: string;
  image: string;
  registryMirror: string;
  hostname: string;
  memoryBytes: number;
  cpus: number;
  pids: number;
  /** Whether the sandbox's network reaches beyond it; without, berth-init makes outside lookups fail fast. */
  internet: boolean;
  /** Bound on what the sandbox can write to the host's disk (the sandbox disk, see berth-init). */
  diskBytes: number;
}

export function containerName(namespace: string, sandboxId: string): string {
  return `${namespace}-${sandboxId}`;
}

export function volumeName(namespace: string, sandboxId: string): string {
  return `${namespace}-${sandboxId}-docker`;
}

/** Each sandbox has a private network of its own; a session's further nodes join the first one's. */
export function networkName(namespace: string, sandboxId: string): string {
  return `${namespace}-${sandboxId}`;
}

/**
 * Host-side bridge names share the prefix "brth" so that one host firewall rule
 * (scripts/host-firewall.sh) keeps every sandbox away from the host's own services.
 * Linux allows 15 characters.
 */
export const BRIDGE_PREFIX = 'brth';
export function bridgeName(sandboxId: string): string {
  return `${BRIDGE_PREFIX}${sandboxId.replace(/^sbx-/, '')}`.slice(0, 15);
}

export function sandboxNetworkOptions(spec: { namespace: string; sandboxId: string; subnet: string; internet: boolean }) {
  return {
    Name: networkName(spec.namespace, spec.sandboxId),
    Driver: 'bridge',
    // Internal: no route out of the sandbox's network (internet, cloud metadata), unless enabled.
    Internal: !spec.internet,
    CheckDuplicate: true,
    IPAM: { Driver: 'default', Config: [{ Subnet: spec.subnet }] },
    Options: { 'com.docker.network.bridge.name': bridgeName(spec.sandboxId) },
    Labels: sandboxLabels(spec.namespace, spec.sandboxId),
  };
}

export function sandboxLabels(namespace: string, sandboxId: string): Record<string, string> {
  return { [LABEL_NAMESPACE]: namespace, [LABEL_ROLE]: 'sandbox', [LABEL_SANDBOX]: sandboxId };
}

export function sandboxContainerOptions(spec: SandboxSpec): ContainerCreateOptions {
  const env = [
    `BERTH_HOSTNAME=${spec.hostname}`,
    `BERTH_INTERNET=${spec.internet ? 1 : 0}`,
    `BERTH_DISK_SIZE=${spec.diskBytes}`,
  ];
  if (spec.registryMirror) env.push(`BERTH_REGISTRY_MIRROR=${spec.registryMirror}`);
  return {
    name: containerName(spec.namespace, spec.sandboxId),
    Image: spec.image,
    // Docker's network DNS answers for a container's configured hostname, so it must be unique:
    // the node name (node1..node5) is set inside by berth-init and carried by network aliases.
    Hostname: spec.sandboxId,
    Env: env,
    Labels: sandboxLabels(spec.namespace, spec.sandboxId),
    HostConfig: {
      // A private cgroup namespace (not in @types/dockerode yet, hence the cast below).
      CgroupnsMode: 'private',
      CapDrop: ['ALL'],
      CapAdd: [...sandboxCapabilities],
      SecurityOpt: [
        // berth-init mounts cgroups, /proc, /sys and the sandbox disk, which the host's AppArmor
        // profile for containers forbids; the user namespace, seccomp (below) and capabilities
        // bound the sandbox instead.
        'apparmor=unconfined',
        `seccomp=${sandboxSeccompProfile()}`,
      ],
      // The inner world mounts its own /proc and /sys, which the kernel allows only where the
      // container's are fully visible (the CLI's `systempaths=unconfined`). What Docker's masks
      // would protect, the inner world's user namespace protects: its root is not the host's.
      MaskedPaths: [],
      ReadonlyPaths: [],
      // The sandbox disk is a loop device (berth-init): loop devices and nothing else beyond
      // Docker's default allowlist. Only the container's own root can open them; the inner
      // world cannot create device nodes, and berth-init removes the loop nodes once mounted.
      Devices: [{ PathOnHost: '/dev/loop-control', PathInContainer: '/dev/loop-control', CgroupPermissions: 'rwm' }],
      DeviceCgroupRules: ['b 7:* rwm'],
      // Inner containers inherit these: with a private cgroup namespace the sandbox's cgroup is
      // their root, so the limits bound everything the learner starts.
      Memory: spec.memoryBytes,
      MemorySwap: spec.memoryBytes,
      NanoCpus: Math.round(spec.cpus * 1e9),
      PidsLimit: spec.pids,
      // No OomScoreAdj: the inner dockerd gives inner containers 0 and nothing in the sandbox can
      // go lower (that takes CAP_SYS_RESOURCE), so a higher score here would leave the inner
      // dockerd, not a learner's memory hog, as what the memory limit's OOM kill takes first.
      Tmpfs: {
        '/run': 'rw,nosuid,nodev,mode=755,size=64m',
        '/tmp': 'rw,nosuid,nodev,mode=1777,size=256m',
      },
      Mounts: [
        // Holds the sandbox disk's image file: a volume, since the loop device's file must not
        // be on the container's own overlayfs, and the volume goes with the sandbox.
        { Type: 'volume', Source: volumeName(spec.namespace, spec.sandboxId), Target: '/var/lib/docker' },
      ],
      NetworkMode: networkName(spec.namespace, spec.sandboxId),
      RestartPolicy: { Name: 'no' },
    } as NonNullable<ContainerCreateOptions['HostConfig']>,
    NetworkingConfig: {
      EndpointsConfig: { [networkName(spec.namespace, spec.sandboxId)]: { Aliases: [spec.hostname] } },
    },
  };
}
