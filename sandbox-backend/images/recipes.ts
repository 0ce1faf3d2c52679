/**
 * What images Berth builds, from which inputs. Nothing here runs anything: tests and the backend
 * may import the names and the list of learner images freely.
 *
 * No container registry is reachable where Berth is developed and tested, so every image is
 * built here from Debian packages; see docs/images.md.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Bump to rebuild every image although no recipe file changed: to pick up Debian updates, or when
 * build.ts changes what it produces (its code is not part of the hash).
 */
export const RECIPE_VERSION = 1;

/** The label holding the hash of an image's recipe inputs; a build is skipped when it matches. */
export const RECIPE_LABEL = 'berth.recipe';

export const DEBIAN_SUITE = 'bookworm';

/** The registry mirror as the engine's host reaches it, for pushes (127.0.0.0/8 needs no TLS). */
export const MIRROR_PUSH_HOST = '127.0.0.1:5000';

/** Must match BERTH_SANDBOX_IMAGE's default in sandbox-backend/config.ts. */
export const SANDBOX_IMAGE = 'berth/sandbox:latest';
export const SANDBOX_BASE_IMAGE = 'berth/sandbox-base:latest';
export const REGISTRY_IMAGE = 'berth/registry:latest';

/** Folder of the recipe files (this file's folder). */
export const recipesDir = path.dirname(fileURLToPath(import.meta.url));

export type RecipeName = 'sandbox-base' | 'sandbox' | 'debian' | 'nginx' | 'hello-world' | 'busybox' | 'registry' | 'gcc' | 'learner-registry' | 'docker-cli';

/** How the filesystem of an image comes to be before its Dockerfile (if any) adds metadata. */
export type Rootfs =
  /** `mmdebstrap --variant=minbase`, plus the packages listed in `packagesFile`, then `customizeHook` (a script run with the rootfs path). */
  | { kind: 'mmdebstrap'; packagesFile?: string; customizeHook?: string }
  /** A single statically linked C program, installed as `/hello`. */
  | { kind: 'static-c'; source: string; installAs: string }
  /** Debian's dynamically linked busybox with a link for each applet and the glibc files it loads, plus passwd, group and nsswitch.conf. */
  | { kind: 'busybox' };

export interface Recipe {
  name: RecipeName;
  /** Folder under recipesDir holding its files. */
  dir: string;
  /** Files of `dir` that are inputs of this recipe (and its docker build context); all of them when absent. */
  files?: string[];
  /** Files of `dir` that are not, when `files` is absent. */
  excludeFiles?: string[];
  /** Local tags; the first is the one whose label is checked. */
  tags: string[];
  rootfs?: Rootfs;
  /** Built with `docker build` from `dir` (with ROOTFS set to the imported rootfs, if there is one). */
  dockerfile: boolean;
  /** Binaries taken from Debian packages (apt-get download, never installed on the host), copied into the build context. */
  debFiles?: { pkg: string; path: string; as: string }[];
  /** Recipes whose images this one's build uses. */
  dependsOn: RecipeName[];
  /** The image's CMD when it has no Dockerfile (docker import). */
  importChanges?: string[];
  /** For progress lines. */
  title: string;
}

/** An image learners pull through the mirror, under its Docker Hub name. */
export interface LearnerImage {
  /** What a learner types: `docker run <name>`. */
  name: string;
  /** Repository in the registry (Docker Hub's official images live under library/). */
  repository: string;
  tags: string[];
  recipe: RecipeName;
}

export const learnerImages: LearnerImage[] = [
  { name: 'hello-world', repository: 'library/hello-world', tags: ['latest'], recipe: 'hello-world' },
  { name: 'busybox', repository: 'library/busybox', tags: ['latest', 'stable'], recipe: 'busybox' },
  { name: 'debian', repository: 'library/debian', tags: ['bookworm-slim', 'bookworm', '12', 'latest'], recipe: 'debian' },
  { name: 'nginx', repository: 'library/nginx', tags: ['latest', 'stable'], recipe: 'nginx' },
  { name: 'gcc', repository: 'library/gcc', tags: ['12', 'latest'], recipe: 'gcc' },
  { name: 'registry', repository: 'library/registry', tags: ['2', 'latest'], recipe: 'learner-registry' },
  { name: 'docker', repository: 'library/docker', tags: ['cli'], recipe: 'docker-cli' },
];

/** The engine-local name of a learner image, which is also the name it is pushed under. */
export function mirrorTag(image: LearnerImage, tag: string): string {
  return `${MIRROR_PUSH_HOST}/${image.repository}:${tag}`;
}

function learnerTags(recipe: RecipeName): string[] {
  const image = learnerImages.find((i) => i.recipe === recipe)!;
  return image.tags.map((tag) => mirrorTag(image, tag));
}

export const recipes: Recipe[] = [
  {
    name: 'sandbox-base',
    title: 'sandbox base rootfs',
    dir: 'sandbox',
    files: ['packages.txt'],
    tags: [SANDBOX_BASE_IMAGE],
    rootfs: { kind: 'mmdebstrap', packagesFile: 'packages.txt' },
    dockerfile: false,
    importChanges: ['CMD ["bash"]'],
    dependsOn: [],
  },
  {
    name: 'sandbox',
    title: 'sandbox image',
    dir: 'sandbox',
    // Everything the Dockerfile may COPY; the package list belongs to the base.
    excludeFiles: ['packages.txt'],
    tags: [SANDBOX_IMAGE],
    dockerfile: true,
    dependsOn: ['sandbox-base'],
  },
  {
    name: 'debian',
    title: 'debian learner image',
    dir: 'debian',
    tags: learnerTags('debian'),
    rootfs: { kind: 'mmdebstrap' },
    dockerfile: true,
    dependsOn: [],
  },
  {
    name: 'nginx',
    title: 'nginx learner image',
    dir: 'nginx',
    tags: learnerTags('nginx'),
    rootfs: { kind: 'mmdebstrap', packagesFile: 'packages.txt', customizeHook: 'customize.sh' },
    dockerfile: true,
    dependsOn: [],
  },
  {
    name: 'hello-world',
    title: 'hello-world learner image',
    dir: 'hello-world',
    tags: learnerTags('hello-world'),
    rootfs: { kind: 'static-c', source: 'hello.c', installAs: 'hello' },
    dockerfile: true,
    dependsOn: [],
  },
  {
    name: 'busybox',
    title: 'busybox learner image',
    dir: 'busybox',
    tags: learnerTags('busybox'),
    rootfs: { kind: 'busybox' },
    // Not busybox-static: its static glibc segfaults on any name lookup (see busyboxTree in build.ts).
    debFiles: [{ pkg: 'busybox', path: 'bin/busybox', as: 'busybox' }],
    dockerfile: true,
    dependsOn: [],
  },
  {
    name: 'gcc',
    title: 'gcc learner image',
    dir: 'gcc',
    tags: learnerTags('gcc'),
    rootfs: { kind: 'mmdebstrap', packagesFile: 'packages.txt' },
    dockerfile: true,
    dependsOn: [],
  },
  {
    name: 'registry',
    title: 'registry image',
    dir: 'registry',
    tags: [REGISTRY_IMAGE],
    dockerfile: true,
    debFiles: [{ pkg: 'docker-registry', path: 'usr/bin/docker-registry', as: 'docker-registry' }],
    // debian: its FROM; sandbox-base: the CA bundle it copies.
    dependsOn: ['debian', 'sandbox-base'],
  },
  {
    name: 'learner-registry',
    title: 'registry learner image',
    dir: 'learner-registry',
    tags: learnerTags('learner-registry'),
    dockerfile: true,
    debFiles: [{ pkg: 'docker-registry', path: 'usr/bin/docker-registry', as: 'docker-registry' }],
    dependsOn: ['busybox'],
  },
  {
    name: 'docker-cli',
    title: 'docker CLI learner image',
    dir: 'docker-cli',
    tags: learnerTags('docker-cli'),
    dockerfile: true,
    debFiles: [{ pkg: 'docker.io', path: 'usr/bin/docker', as: 'docker' }],
    dependsOn: ['busybox'],
  },
];

export function recipe(name: RecipeName): Recipe {
  const found = recipes.find((r) => r.name === name);
  if (!found) throw new Error(`no image recipe named "${name}"`);
  return found;
}
