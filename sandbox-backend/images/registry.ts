/**
 * The registry mirror: a container on the engine that sandboxes' inner dockerd uses as
 * --registry-mirror, so that `docker pull nginx` inside a sandbox works with no internet.
 * Learner images are pushed to it through the port it publishes on the engine host's loopback.
 *
 * Its home is the network `berth`; the backend also attaches it to each sandbox's network under
 * the mirror's host name (see provisioning/driver.ts).
 */
import { inspectImages } from './build.ts';
import { MIRROR_PUSH_HOST, REGISTRY_IMAGE, learnerImages, mirrorTag, type LearnerImage } from './recipes.ts';
import { CommandError, docker, indent } from './run.ts';

/** The registry's home network, a user-defined bridge so that names resolve on it. */
export const BERTH_NETWORK = 'berth';
/** Must match BERTH_REGISTRY_CONTAINER's default in sandbox-backend/config.ts. */
export const REGISTRY_CONTAINER = 'berth-registry';
/** The name sandboxes resolve the mirror by (Docker's embedded DNS). */
export const REGISTRY_ALIAS = 'berth-registry';
export const REGISTRY_VOLUME = 'berth-registry-data';
export const REGISTRY_PORT = 5000;
/** Must match BERTH_REGISTRY_MIRROR's default in sandbox-backend/config.ts. */
export const REGISTRY_MIRROR_URL = `http://${REGISTRY_ALIAS}:${REGISTRY_PORT}`;
export const MANAGED_LABEL = 'berth.managed';
export const ROLE_LABEL = 'berth.role';

export interface RegistryOptions {
  image?: string;
  /** Container name (BERTH_REGISTRY_CONTAINER). */
  container?: string;
  network?: string;
  /** Makes the registry a pull-through cache of this registry (e.g. https://registry-1.docker.io). */
  proxyRemoteUrl?: string;
  log?: (line: string) => void;
}

interface ContainerState {
  Id: string;
  Image: string;
  State: { Running: boolean; Restarting: boolean; Status: string };
  Config: { Env: string[] | null };
  NetworkSettings: { Networks: Record<string, { Aliases: string[] | null }> | null };
}

/** Creates the user-defined bridge network if it is missing. */
export async function ensureNetwork(name = BERTH_NETWORK): Promise<void> {
  const found = await docker(['network', 'inspect', '--format', '{{.Name}}', name], { allowFailure: true });
  if (found.code === 0) return;
  const created = await docker(['network', 'create', '--driver', 'bridge', '--label', `${MANAGED_LABEL}=true`, name], {
    allowFailure: true,
  });
  // Another process may have created it between our two calls.
  if (created.code !== 0 && !/already exists/i.test(created.stderr)) {
    throw new CommandError(
      `could not create the docker network "${name}":\n${indent(created.stderr.trim())}`,
      'docker network create',
      created.code,
      created.stderr,
    );
  }
}

async function inspectContainer(name: string): Promise<ContainerState | undefined> {
  const result = await docker(['container', 'inspect', name], { allowFailure: true });
  if (result.code !== 0) return undefined;
  return (JSON.parse(result.stdout) as ContainerState[])[0];
}

/**
 * Starts the registry container if it is missing or stopped, and recreates it when its image
 * or settings changed. Its data lives in a volume, so a recreation keeps the pushed images, and
 * the new container joins every network the old one was on, so running sandboxes keep their mirror.
 */
export async function ensureRegistry(options: RegistryOptions = {}): Promise<{ changed: boolean }> {
  const image = options.image ?? REGISTRY_IMAGE;
  const container = options.container ?? REGISTRY_CONTAINER;
  const network = options.network ?? BERTH_NETWORK;
  const log = options.log ?? (() => {});
  await ensureNetwork(network);

  const wanted = (await inspectImages([image])).get(image);
  if (!wanted) {
    throw new Error(`the registry image ${image} does not exist on the engine.\n  What to do: build it with npm run images`);
  }
  const env = options.proxyRemoteUrl ? [`REGISTRY_PROXY_REMOTEURL=${options.proxyRemoteUrl}`] : [];

  const current = await inspectContainer(container);
  let otherNetworks: [string, string[]][] = [];
  if (current) {
    const currentEnv = (current.Config.Env ?? []).filter((e) => e.startsWith('REGISTRY_'));
    const networks = current.NetworkSettings.Networks ?? {};
    const upToDate =
      current.Image === wanted.Id &&
      JSON.stringify(currentEnv.sort()) === JSON.stringify([...env].sort()) &&
      (networks[network]?.Aliases ?? []).includes(REGISTRY_ALIAS);
    if (upToDate) {
      if (current.State.Running && !current.State.Restarting) return { changed: false };
      log(`[berth] starting the registry mirror (it was ${current.State.Status})...`);
      await docker(['start', container], { hint: registryHint(container) });
      await waitForRegistry(container);
      return { changed: true };
    }
    // Docker lists the container's short id among its aliases; the new container has its own.
    otherNetworks = Object.entries(networks)
      .filter(([name]) => name !== network && !['bridge', 'host', 'none'].includes(name))
      .map(([name, endpoint]) => [name, (endpoint.Aliases ?? []).filter((a) => !(a.length >= 12 && current.Id.startsWith(a)))]);
    log('[berth] recreating the registry mirror (its image or settings changed)...');
    await docker(['rm', '--force', container]);
  } else {
    log('[berth] starting the registry mirror...');
  }

  const args = [
    'run', '--detach',
    '--name', container,
    '--network', network,
    '--network-alias', REGISTRY_ALIAS,
    '--restart', 'unless-stopped',
    // Loopback only: pushes come from the engine's host, sandboxes use the network.
    '--publish', `127.0.0.1:${REGISTRY_PORT}:${REGISTRY_PORT}`,
    '--volume', `${REGISTRY_VOLUME}:/var/lib/registry`,
    '--label', `${ROLE_LABEL}=registry`,
    ...env.flatMap((e) => ['--env', e]),
    image,
  ];
  await docker(args, { hint: registryHint(container) });
  for (const [name, aliases] of otherNetworks) {
    // A sandbox network may have gone meanwhile; the backend re-attaches on recovery anyway.
    await docker(['network', 'connect', ...aliases.flatMap((a) => ['--alias', a]), name, container], { allowFailure: true });
  }
  await waitForRegistry(container);
  return { changed: true };
}

function registryHint(container: string): string {
  return (
    `if the port is taken, something else listens on 127.0.0.1:${REGISTRY_PORT} (a docker-registry service installed on the host, for instance: systemctl disable --now docker-registry); ` +
    `otherwise see docker logs ${container}`
  );
}

/** Polls briefly until the registry accepts connections. */
async function waitForRegistry(container: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await registryAnswers(container)) return;
    const state = await inspectContainer(container);
    // With its restart policy a crashing registry shows as restarting rather than stopped.
    if (!state?.State.Running || state.State.Restarting) {
      const logs = await docker(['logs', '--tail', '20', container], { allowFailure: true });
      throw new Error(
        `the registry mirror stopped right after starting; the end of its log:\n${indent(`${logs.stdout}${logs.stderr}`.trim())}` +
          `\n  What to do: fix what the log shows (with BERTH_REGISTRY_PROXY set, the registry must reach that URL when it starts)`,
      );
    }
    if (Date.now() > deadline) {
      throw new Error(`the registry mirror did not answer within ${timeoutMs / 1000} s.\n  What to do: see docker logs ${container}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Asked from inside the container: our loopback need not be the engine's. */
async function registryAnswers(container: string): Promise<boolean> {
  const probe = await docker(['exec', container, 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${REGISTRY_PORT}`], {
    allowFailure: true,
  });
  return probe.code === 0;
}

/**
 * repository:tag -> manifest digest for everything the mirror holds, read from its storage through
 * the engine. Asking over HTTP from here would reach a different registry whenever our loopback
 * is not the engine's (DOCKER_HOST on another machine or in another network namespace).
 */
async function mirrorContents(container: string): Promise<Map<string, string>> {
  const script =
    'cd /var/lib/registry/docker/registry/v2/repositories 2>/dev/null || exit 0; ' +
    'for f in */*/_manifests/tags/*/current/link; do [ -f "$f" ] && printf "%s %s\\n" "$f" "$(cat "$f")"; done; exit 0';
  const result = await docker(['exec', container, 'bash', '-c', script], { allowFailure: true });
  const contents = new Map<string, string>();
  if (result.code !== 0) return contents;
  for (const line of result.stdout.split('\n')) {
    const match = /^(.+)\/_manifests\/tags\/([^/]+)\/current\/link (sha256:[0-9a-f]{64})$/.exec(line.trim());
    if (match) contents.set(`${match[1]}:${match[2]}`, match[3]!);
  }
  return contents;
}

/**
 * Pushes the learner images to the mirror, skipping every tag for which the mirror already holds
 * the local image's manifest.
 */
export async function pushLearnerImages(
  options: { images?: LearnerImage[]; container?: string; log?: (line: string) => void } = {},
): Promise<{ pushed: string[] }> {
  const images = options.images ?? learnerImages;
  const container = options.container ?? REGISTRY_CONTAINER;
  const log = options.log ?? (() => {});
  const [local, mirror] = await Promise.all([
    inspectImages(images.flatMap((image) => image.tags.map((tag) => mirrorTag(image, tag)))),
    mirrorContents(container),
  ]);
  const pushed: string[] = [];
  await Promise.all(
    images.map(async (image) => {
      // One image's tags in turn: the first push uploads the layers, the others only a manifest.
      for (const tag of image.tags) {
        const name = mirrorTag(image, tag);
        const state = local.get(name);
        if (!state) throw new Error(`the image ${name} does not exist on the engine.\n  What to do: build it with npm run images`);
        const digest = mirror.get(`${image.repository}:${tag}`);
        if (digest && (state.RepoDigests ?? []).includes(`${MIRROR_PUSH_HOST}/${image.repository}@${digest}`)) continue;
        log(`[berth] pushing ${image.name}:${tag} to the registry mirror...`);
        await pushWithRetry(name, container);
        pushed.push(`${image.name}:${tag}`);
      }
    }),
  );
  return { pushed };
}

async function pushWithRetry(name: string, container: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const result = await docker(['push', name], { allowFailure: true });
    if (result.code === 0) return;
    // A registry that was just (re)started may refuse the first connection.
    const transient = /connection refused|connection reset|EOF|timeout/i.test(result.stderr);
    if (!transient || attempt >= 3) {
      throw new CommandError(
        `docker push ${name} failed:\n${indent(result.stderr.trim())}\n  What to do: check the mirror with docker logs ${container}`,
        `docker push ${name}`,
        result.code,
        result.stderr,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
  }
}
