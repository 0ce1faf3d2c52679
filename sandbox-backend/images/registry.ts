/**
 * The registry mirror: a container on the engine that sandboxes' inner dockerd uses as
 * --registry-mirror, so that `docker pull nginx` inside a sandbox works with no internet.
 * Learner images are pushed to it through the port it publishes on the engine host's loopback.
 */
import {
  MIRROR_PUSH_HOST,
  REGISTRY_IMAGE,
  learnerImages,
  mirrorTag,
  type LearnerImage,
} from './recipes.ts';
import { inspectImages } from './build.ts';
import { CommandError, docker, indent } from './run.ts';

/** Must match BERTH_NETWORK's default in sandbox-backend/config.ts. */
export const BERTH_NETWORK = 'berth';
export const REGISTRY_CONTAINER = 'berth-registry';
/** The name sandboxes resolve on the network (Docker's embedded DNS). */
export const REGISTRY_ALIAS = 'berth-registry';
export const REGISTRY_VOLUME = 'berth-registry-data';
export const REGISTRY_PORT = 5000;
/** Must match BERTH_REGISTRY_MIRROR's default in sandbox-backend/config.ts. */
export const REGISTRY_MIRROR_URL = `http://${REGISTRY_ALIAS}:${REGISTRY_PORT}`;
export const MANAGED_LABEL = 'berth.managed';
export const ROLE_LABEL = 'berth.role';

export interface RegistryOptions {
  image?: string;
  network?: string;
  /** Makes the registry a pull-through cache of this registry (e.g. https://registry-1.docker.io). */
  proxyRemoteUrl?: string;
  log?: (line: string) => void;
}

interface ContainerState {
  Image: string;
  State: { Running: boolean; Status: string };
  Config: { Env: string[] | null };
  NetworkSettings: { Networks: Record<string, { Aliases: string[] | null }> | null };
}

/** Creates the user-defined bridge network sandboxes and the registry share, if it is missing. */
export async function ensureNetwork(name = BERTH_NETWORK): Promise<void> {
  const found = await docker(['network', 'inspect', '--format', '{{.Name}}', name], { allowFailure: true });
  if (found.code === 0) return;
  const created = await docker(['network', 'create', '--driver', 'bridge', '--label', `${MANAGED_LABEL}=true`, name], {
    allowFailure: true,
  });
  // Another process may have created it between our two calls.
  if (created.code !== 0 && !/already exists/i.test(created.stderr)) {
    throw new CommandError(`could not create the docker network "${name}":\n${indent(created.stderr.trim())}`, 'docker network create', created.code, created.stderr);
  }
}

async function inspectContainer(name: string): Promise<ContainerState | undefined> {
  const result = await docker(['container', 'inspect', name], { allowFailure: true });
  if (result.code !== 0) return undefined;
  return (JSON.parse(result.stdout) as ContainerState[])[0];
}

/**
 * Starts the registry container if it is missing or stopped, and recreates it when its image
 * or settings changed. Its data lives in a volume, so a recreation keeps the pushed images.
 */
export async function ensureRegistry(options: RegistryOptions = {}): Promise<{ changed: boolean }> {
  const image = options.image ?? REGISTRY_IMAGE;
  const network = options.network ?? BERTH_NETWORK;
  const log = options.log ?? (() => {});
  await ensureNetwork(network);

  const wanted = (await inspectImages([image])).get(image);
  if (!wanted) {
    throw new Error(`the registry image ${image} does not exist on the engine.\n  What to do: build it with npm run images`);
  }
  const env = options.proxyRemoteUrl ? [`REGISTRY_PROXY_REMOTEURL=${options.proxyRemoteUrl}`] : [];

  const current = await inspectContainer(REGISTRY_CONTAINER);
  if (current) {
    const currentEnv = (current.Config.Env ?? []).filter((e) => e.startsWith('REGISTRY_'));
    const aliases = current.NetworkSettings.Networks?.[network]?.Aliases ?? [];
    const upToDate =
      current.Image === wanted.Id &&
      JSON.stringify(currentEnv.sort()) === JSON.stringify([...env].sort()) &&
      aliases.includes(REGISTRY_ALIAS);
    if (upToDate) {
      if (current.State.Running) return { changed: false };
      log(`[berth] starting the registry mirror (it was ${current.State.Status})...`);
      await docker(['start', REGISTRY_CONTAINER], { hint: registryHint });
      await waitForRegistry();
      return { changed: true };
    }
    log('[berth] recreating the registry mirror (its image or settings changed)...');
    await docker(['rm', '--force', REGISTRY_CONTAINER]);
  } else {
    log('[berth] starting the registry mirror...');
  }

  const args = [
    'run', '--detach',
    '--name', REGISTRY_CONTAINER,
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
  await docker(args, { hint: registryHint });
  await waitForRegistry();
  return { changed: true };
}

const registryHint =
  `if the port is taken, something else listens on 127.0.0.1:${REGISTRY_PORT} (a docker-registry service installed on the host, for instance: systemctl disable --now docker-registry); ` +
  `otherwise see docker logs ${REGISTRY_CONTAINER}`;

/** Polls briefly until the registry accepts connections. */
async function waitForRegistry(timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await registryAnswers()) return;
    const state = await inspectContainer(REGISTRY_CONTAINER);
    if (!state?.State.Running) {
      const logs = await docker(['logs', '--tail', '20', REGISTRY_CONTAINER], { allowFailure: true });
      throw new Error(`the registry mirror stopped right after starting:\n${indent(`${logs.stdout}${logs.stderr}`.trim())}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`the registry mirror did not answer within ${timeoutMs / 1000} s.\n  What to do: see docker logs ${REGISTRY_CONTAINER}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Asked from inside the container: our loopback need not be the engine's. */
async function registryAnswers(): Promise<boolean> {
  const probe = await docker(['exec', REGISTRY_CONTAINER, 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${REGISTRY_PORT}`], {
    allowFailure: true,
  });
  return probe.code === 0;
}

/**
 * repository:tag -> manifest digest for everything the mirror holds, read from its storage through
 * the engine. Asking over HTTP from here would reach a different registry whenever our loopback
 * is not the engine's (DOCKER_HOST on another machine or in another network namespace).
 */
async function mirrorContents(): Promise<Map<string, string>> {
  const script =
    'cd /var/lib/registry/docker/registry/v2/repositories 2>/dev/null || exit 0; ' +
    'for f in */*/_manifests/tags/*/current/link; do [ -f "$f" ] && printf "%s %s\\n" "$f" "$(cat "$f")"; done; exit 0';
  const result = await docker(['exec', REGISTRY_CONTAINER, 'bash', '-c', script], { allowFailure: true });
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
  options: { images?: LearnerImage[]; log?: (line: string) => void } = {},
): Promise<{ pushed: string[] }> {
  const images = options.images ?? learnerImages;
  const log = options.log ?? (() => {});
  const [local, mirror] = await Promise.all([
    inspectImages(images.flatMap((image) => image.tags.map((tag) => mirrorTag(image, tag)))),
    mirrorContents(),
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
        await pushWithRetry(name);
        pushed.push(`${image.name}:${tag}`);
      }
    }),
  );
  return { pushed };
}

async function pushWithRetry(name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const result = await docker(['push', name], { allowFailure: true });
    if (result.code === 0) return;
    // A registry that was just (re)started may refuse the first connection.
    const transient = /connection refused|connection reset|EOF|timeout/i.test(result.stderr);
    if (!transient || attempt >= 3) {
      throw new CommandError(
        `docker push ${name} failed:\n${indent(result.stderr.trim())}\n  What to do: check the mirror with docker logs ${REGISTRY_CONTAINER}`,
        `docker push ${name}`,
        result.code,
        result.stderr,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
  }
}
