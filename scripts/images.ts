/**
 * Builds Berth's images and fills the registry mirror (`npm run images`; bootstrap.sh runs it).
 * Only what changed is rebuilt, so a run with nothing to do takes a few seconds.
 *
 *   --force      rebuild every image (e.g. to pick up Debian security updates)
 *   --jobs N     mmdebstrap builds at once (default 3)
 *
 * BERTH_REGISTRY_PROXY=https://registry-1.docker.io makes the mirror a pull-through cache of that
 * registry (for hosts with internet); the offline learner images are then neither built nor pushed.
 * BERTH_REGISTRY_CONTAINER, if set, names the mirror's container (as for the backend).
 * DOCKER_HOST is honoured like the docker CLI does. See docs/images.md.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../sandbox-backend/config.ts';
import { ImageBuilder } from '../sandbox-backend/images/build.ts';
import { RECIPE_LABEL, SANDBOX_IMAGE, learnerImages } from '../sandbox-backend/images/recipes.ts';
import { REGISTRY_CONTAINER, REGISTRY_MIRROR_URL, ensureRegistry, pushLearnerImages } from '../sandbox-backend/images/registry.ts';
import { docker, elapsed } from '../sandbox-backend/images/run.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = (line: string) => console.log(line);

function parseArgs(argv: string[]): { force: boolean; jobs: number } {
  let force = false;
  let jobs = 3;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--force') force = true;
    else if (arg === '--jobs' || arg.startsWith('--jobs=')) {
      const value = arg.includes('=') ? arg.slice('--jobs='.length) : argv[++i];
      jobs = Number(value);
      if (!Number.isInteger(jobs) || jobs < 1) fail(`--jobs wants a whole number of at least 1, not "${value}"`);
    } else if (arg === '--help' || arg === '-h') {
      console.log('usage: tsx scripts/images.ts [--force] [--jobs N]');
      process.exit(0);
    } else fail(`unknown option "${arg}" (try --help)`);
  }
  return { force, jobs };
}

function fail(message: string): never {
  console.error(`[berth] ${message}`);
  process.exit(1);
}

/** The backend finds what this script makes by config.ts's defaults; a drift would only show at run time. */
function checkNamesMatchConfig(): void {
  const defaults = loadConfig({}).sandbox;
  const drift = [
    defaults.image !== SANDBOX_IMAGE && `BERTH_SANDBOX_IMAGE defaults to ${defaults.image}, images build ${SANDBOX_IMAGE}`,
    defaults.registryContainer !== REGISTRY_CONTAINER &&
      `BERTH_REGISTRY_CONTAINER defaults to ${defaults.registryContainer}, the mirror runs as ${REGISTRY_CONTAINER}`,
    defaults.registryMirror !== REGISTRY_MIRROR_URL &&
      `BERTH_REGISTRY_MIRROR defaults to ${defaults.registryMirror}, the mirror answers at ${REGISTRY_MIRROR_URL}`,
  ].filter(Boolean);
  if (drift.length) fail(`sandbox-backend/config.ts and sandbox-backend/images/ disagree:\n  ${drift.join('\n  ')}`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const { force, jobs } = parseArgs(process.argv.slice(2));
  checkNamesMatchConfig();
  const proxy = process.env.BERTH_REGISTRY_PROXY?.trim() || undefined;
  // The backend looks for the mirror under this name (BERTH_REGISTRY_CONTAINER).
  const container = process.env.BERTH_REGISTRY_CONTAINER?.trim() || REGISTRY_CONTAINER;

  const engine = await docker(['version', '--format', '{{.Server.Version}}'], { allowFailure: true });
  if (engine.code !== 0) {
    fail(
      `the Docker engine does not answer${process.env.DOCKER_HOST ? ` at DOCKER_HOST=${process.env.DOCKER_HOST}` : ''}:\n` +
        `    ${engine.stderr.trim().split('\n').pop()}\n  What to do: run bash scripts/bootstrap.sh, which installs and starts one.`,
    );
  }

  const builder = new ImageBuilder({ workDir: path.join(root, '.berth', 'build'), force, jobs, log });
  // Everything that can run at once does: the mmdebstrap builds dominate a cold run.
  const sandbox = builder.ensure('sandbox');
  const registry = builder.ensure('registry').then(() => ensureRegistry({ proxyRemoteUrl: proxy, container, log }));
  const learners = proxy ? [] : learnerImages.map((image) => builder.ensure(image.recipe));
  const mirror = proxy
    ? registry.then(() => log(`[berth] registry mirror is a pull-through cache of ${proxy}; no learner images pushed`))
    : Promise.all([registry, ...learners]).then(async () => {
        const { pushed } = await pushLearnerImages({ container, log });
        if (pushed.length === 0) log('[berth] registry mirror already holds every learner image');
      });

  const outcomes = await Promise.allSettled([sandbox, registry, ...learners, mirror]);
  const failures = [...new Set(outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : [])))];

  if (await builder.anyBuilt()) {
    // Images superseded by this run's builds; ones still used by a container stay. An old image
    // whose old child is removed in the same pass is only prunable in the next one.
    for (let pass = 0; pass < 3; pass++) {
      const pruned = await docker(['image', 'prune', '--force', '--filter', `label=${RECIPE_LABEL}`], { allowFailure: true });
      if (!/deleted:/i.test(pruned.stdout)) break;
    }
  }

  if (failures.length) {
    const messages = [...new Set(failures.map((e) => e.message))];
    for (const message of messages) console.error(`[berth] FAILED: ${message}`);
    process.exit(1);
  }
  log(`[berth] images ready (${elapsed(started)})`);
}

main().catch((error: Error) => fail(`FAILED: ${error.message}`));
