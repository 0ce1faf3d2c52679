/**
 * How a sandbox container is made: the one place that decides its privileges and limits.
 *
 * Docker's privileged mode is neither needed nor possible here (see docs/security.md). The sandbox gets the
 * capabilities an inner dockerd needs and no more: no SYS_MODULE, SYS_RAWIO, SYS_TIME, SYS_BOOT,
 * SYS_PTRACE of the host, and the device cgroup keeps Docker's default allowlist, so a root user
 * inside can mknod a host disk but never open it.
 */
import type { ContainerCreateOptions } from 'dockerode';
import { sandboxSeccompProfile } from './seccomp.ts';

export const LABEL_NAMESPACE = 'berth.namespace';
export const LABEL_ROLE = 'berth.role';
export const LABEL_SANDBOX = 'berth.sandbox';

/** Capabilities of the sandbox's root: what dockerd, containerd and runc use to build inner containers. */
export const sandboxCapabilities = [
  'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'NET_BIND_SERVICE', 'NET_RAW', 'NET_ADMIN', 'SYS_CHROOT', 'MKNOD', 'AUDIT_WRITE', 'SETFCAP',
  'SYS_ADMIN',
] as const;

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
  const env = [`BERTH_HOSTNAME=${spec.hostname}`, `BERTH_INTERNET=${spec.internet ? 1 : 0}`];
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
        // The inner dockerd mounts cgroups, /proc and overlayfs, which the host's AppArmor
        // profile for containers forbids; seccomp (below) and capabilities bound it instead.
        'apparmor=unconfined',
        `seccomp=${sandboxSeccompProfile()}`,
      ],
      // The /proc and /sys paths Docker masks or makes read-only would stop the inner daemon
      // from configuring its own namespaces (the CLI's `systempaths=unconfined`); /sys still
      // shows the sandbox's own cgroup and network namespaces.
      MaskedPaths: [],
      ReadonlyPaths: [],
      // Inner containers inherit these: with a private cgroup namespace the sandbox's cgroup is
      // their root, so the limits bound everything the learner starts.
      Memory: spec.memoryBytes,
      MemorySwap: spec.memoryBytes,
      NanoCpus: Math.round(spec.cpus * 1e9),
      PidsLimit: spec.pids,
      // Under host memory pressure, a sandbox dies before the backend or the engine.
      OomScoreAdj: 500,
      Tmpfs: {
        '/run': 'rw,nosuid,nodev,mode=755,size=64m',
        '/tmp': 'rw,nosuid,nodev,mode=1777,size=256m',
      },
      Mounts: [
        // The inner /var/lib/docker must not be on the container's own overlayfs (overlay on
        // overlay is refused by the kernel), hence a volume per sandbox.
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
