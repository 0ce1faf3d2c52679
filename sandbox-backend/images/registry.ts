/**
 * The registry mirror: a container on the engine that sandboxes' inner dockerd uses as
 * --registry-mirror, so that `docker pull nginx` inside a sandbox works with no internet.
 * It is read-only: learner images are pushed to a writable twin on the same storage, published
 * on the engine host's loopback only (see ensureRegistry).
 *
 * Their home is the network `berth`; the backend also attaches the mirror, and only the mirror,
 * to each sandbox's network under the mirror's host name (see provisioning/driver.ts).
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
  Config: { Env: string[] | null; Labels: Record<string, string> | null };
  NetworkSettings: { Networks: Record<string, { Aliases: string[] | null; NetworkID: string }> | null };
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

/** The writable instance's name: the mirror's, with this suffix. */
export const PUSH_CONTAINER_SUFFIX = '-push';
/** Label carrying what a registry container was made from, to tell when it must be recreated. */
const SPEC_LABEL = 'berth.registry-spec';

/** One registry container: what ensureContainer compares and creates. */
interface RegistrySpec {
  name: string;
  role: 'registry' | 'registry-push';
  image: string;
  imageId: string;
  network: string;
  alias?: string;
  publish?: string;
  env: string[];
  config: string;
}

/**
 * Starts the registry mirror and its writable twin if they are missing or stopped, and recreates
 * whichever's image or settings changed. Both serve one volume. Sandboxes reach only the mirror,
 * which is read-only (mirror.yml), so no learner can replace or delete an image that other
 * sessions pull; scripts/images.ts pushes to the twin, which is published on the engine host's
 * loopback only and is on no sandbox network. As a pull-through cache the mirror must write
 * what it caches, and refuses pushes by itself, so it keeps the writable configuration.
 * A recreated mirror joins every network the old one was on, so running sandboxes keep it.
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
  const base = { image, imageId: wanted.Id, network, env };
  // The mirror first: an older Berth published the port from it, which the twin now takes.
  const mirror = await ensureContainer(
    { ...base, name: container, role: 'registry', alias: REGISTRY_ALIAS, config: options.proxyRemoteUrl ? 'config.yml' : 'mirror.yml' },
    log,
  );
  const push = await ensureContainer(
    { ...base, name: `${container}${PUSH_CONTAINER_SUFFIX}`, role: 'registry-push', publish: `127.0.0.1:${REGISTRY_PORT}:${REGISTRY_PORT}`, config: 'config.yml' },
    log,
  );
  return { changed: mirror || push };
}

async function ensureContainer(spec: RegistrySpec, log: (line: string) => void): Promise<boolean> {
  const { name, network } = spec;
  const what = spec.role === 'registry' ? 'the registry mirror' : 'the registry for pushes';
  const specLabel = JSON.stringify([spec.imageId, [...spec.env].sort(), spec.alias ?? '', spec.publish ?? '', spec.config]);
  const current = await inspectContainer(name);
  let otherNetworks: [string, string[]][] = [];
  if (current) {
    if (current.Config.Labels?.[SPEC_LABEL] === specLabel && current.Image === spec.imageId) {
      if (current.State.Running && !current.State.Restarting) return false;
      log(`[berth] starting ${what} (it was ${current.State.Status})...`);
      await detachMissingNetworks(current, spec, log);
      await startContainer(name);
      await waitForRegistry(name);
      return true;
    }
    // Docker lists the container's short id among its aliases; the new container has its own.
    const networks = current.NetworkSettings.Networks ?? {};
    otherNetworks = Object.entries(networks)
      .filter(([n]) => n !== network && !['bridge', 'host', 'none'].includes(n))
      .map(([n, endpoint]) => [n, (endpoint.Aliases ?? []).filter((a) => !(a.length >= 12 && current.Id.startsWith(a)))]);
    log(`[berth] recreating ${what} (its image or settings changed)...`);
    await docker(['rm', '--force', name]);
  } else {
    log(`[berth] starting ${what}...`);
  }

  const args = [
    'run', '--detach',
    '--name', name,
    '--network', network,
    ...(spec.alias ? ['--network-alias', spec.alias] : []),
    '--restart', 'unless-stopped',
    ...(spec.publish ? ['--publish', spec.publish] : []),
    '--volume', `${REGISTRY_VOLUME}:/var/lib/registry`,
    '--label', `${ROLE_LABEL}=${spec.role}`,
    '--label', `${SPEC_LABEL}=${specLabel}`,
    ...spec.env.flatMap((e) => ['--env', e]),
    spec.image,
    'serve', `/etc/docker/registry/${spec.config}`,
  ];
  await docker(args, { hint: registryHint(name, '') });
  for (const [n, aliases] of otherNetworks) {
    // A sandbox network may have gone meanwhile; the backend re-attaches on recovery anyway.
    await docker(['network', 'connect', ...aliases.flatMap((a) => ['--alias', a]), n, name], { allowFailure: true });
  }
  await waitForRegistry(name);
  return true;
}

/**
 * A stopped container keeps its place on networks removed meanwhile (a sandbox's, gone with its
 * session while the engine was down, or `berth` itself after the engine lost its network store),
 * and the engine then refuses to start it ("network ... not found"). Forgetting those places
 * (disconnect --force works on a network that no longer exists) and rejoining the home network,
 * recreated by ensureNetwork under the same name, lets it start; the backend attaches it to live
 * sandbox networks again.
 */
async function detachMissingNetworks(current: ContainerState, spec: RegistrySpec, log: (line: string) => void): Promise<void> {
  let rejoinHome = false;
  for (const [name, endpoint] of Object.entries(current.NetworkSettings.Networks ?? {})) {
    const found = await docker(['network', 'inspect', '--format', '{{.Id}}', endpoint.NetworkID || name], { allowFailure: true });
    if (found.code === 0) continue;
    log(`[berth] ${spec.name} is still on network ${name}, which no longer exists: detaching it`);
    await docker(['network', 'disconnect', '--force', name, spec.name], { allowFailure: true });
    if (name === spec.network) rejoinHome = true;
  }
  if (rejoinHome) {
    await docker(['network', 'connect', ...(spec.alias ? ['--alias', spec.alias] : []), spec.network, spec.name]);
  }
}

async function startContainer(name: string): Promise<void> {
  const started = await docker(['start', name], { allowFailure: true });
  if (started.code === 0) return;
  throw new CommandError(
    `docker start ${name} failed:\n${indent(started.stderr.trim())}\n  What to do: ${registryHint(name, started.stderr)}`,
    `docker start ${name}`,
    started.code,
    started.stderr,
  );
}

/** Blames the port only when the engine said the port is taken: our own registry, stopped, is not "something else". */
function registryHint(container: string, error: string): string {
  const portTaken = /port is already allocated|address already in use|bind/i.test(error) || error === '';
  return portTaken
    ? `if the port is taken, something else listens on 127.0.0.1:${REGISTRY_PORT} (a docker-registry service installed on the host, for instance: systemctl disable --now docker-registry); ` +
        `otherwise see docker logs ${container}`
    : `see docker logs ${container} and docker inspect ${container}`;
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
        `docker push ${name} failed:\n${indent(result.stderr.trim())}\n  What to do: check the registry for pushes with docker logs ${container}${PUSH_CONTAINER_SUFFIX}`,
        `docker push ${name}`,
        result.code,
        result.stderr,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
  }
}
