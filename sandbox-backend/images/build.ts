/**
 * Builds the images of recipes.ts on the engine DOCKER_HOST points at (or the default one).
 *
 * Each image carries the hash of its recipe's inputs in the label `berth.recipe`; an image whose
 * label matches is not built again, so a run with nothing changed costs one `docker image inspect`.
 * What goes into the hash: RECIPE_VERSION, the recipe's files (content and executable bit), the
 * mmdebstrap options, the Debian binaries it copies, and the hashes of the images it builds on.
 * Debian package updates alone do not trigger a rebuild: bump RECIPE_VERSION or pass --force.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  DEBIAN_SUITE,
  RECIPE_LABEL,
  RECIPE_VERSION,
  recipe as findRecipe,
  recipes,
  recipesDir,
  type Recipe,
  type RecipeName,
} from './recipes.ts';
import { CommandError, describe, docker, elapsed, exitOf, indent, run } from './run.ts';

export interface BuildOptions {
  /** Scratch space for build contexts, logs and downloaded packages; git-ignored (.berth/build). */
  workDir: string;
  /** Rebuild even when the labels say the images are up to date. */
  force?: boolean;
  /** How many mmdebstrap runs at once (each is mostly downloading and unpacking). */
  jobs?: number;
  log?: (line: string) => void;
}

export interface BuiltImage {
  recipe: RecipeName;
  id: string;
  hash: string;
  /** False when the existing image was already up to date. */
  built: boolean;
}

export interface ImageState {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Config: { Labels: Record<string, string> | null };
}

/**
 * Shared by every mmdebstrap build; part of the recipe hash. Docs, man pages and translations are
 * left out as in Docker Hub's slim images (copyright files stay, as Debian's licences ask); the
 * dpkg options stay in the image, so a learner's `apt-get install` leaves them out too.
 */
const MMDEBSTRAP_COMMON = [
  '--variant=minbase',
  '--format=tar',
  // Without this hook bookworm's essential set pulls in usrmerge and with it all of perl (~50 MB);
  // the hook lays out merged /usr directly, as Docker Hub's Debian images have it.
  '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
  '--aptopt=Acquire::Retries "3"',
  // No fsync per unpacked file: a throw-away build needs no crash safety (Hub's images set it too).
  '--dpkgopt=force-unsafe-io',
  '--dpkgopt=path-exclude=/usr/share/man/*',
  '--dpkgopt=path-exclude=/usr/share/info/*',
  '--dpkgopt=path-exclude=/usr/share/locale/*',
  '--dpkgopt=path-include=/usr/share/locale/locale.alias',
  '--dpkgopt=path-exclude=/usr/share/doc/*',
  '--dpkgopt=path-include=/usr/share/doc/*/copyright',
];

/** Build failures explained: what failed, where its log is, what to do. */
export class BuildError extends Error {
  override name = 'BuildError';
}

/** Looks up several images in one `docker image inspect`; absent ones are simply missing from the map. */
export async function inspectImages(names: readonly string[]): Promise<Map<string, ImageState>> {
  const found = new Map<string, ImageState>();
  if (names.length === 0) return found;
  const result = await docker(['image', 'inspect', ...names], { allowFailure: true });
  // Exit code 1 with some of the images found still prints those; anything else is a real failure.
  const text = result.stdout.trim();
  if (!text.startsWith('[')) {
    if (/No such image/i.test(result.stderr) || text === '') return found;
    throw new BuildError(`docker image inspect failed:\n${indent(result.stderr.trim())}`);
  }
  for (const image of JSON.parse(text) as ImageState[]) {
    for (const tag of image.RepoTags ?? []) found.set(tag, image);
  }
  return found;
}

/** Lists the input files of a recipe, relative to its folder, in a stable order. */
async function recipeFiles(r: Recipe): Promise<string[]> {
  if (r.files) return [...r.files].sort();
  const entries = await fsp.readdir(path.join(recipesDir, r.dir), { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !r.excludeFiles?.includes(e.name))
    .map((e) => e.name)
    .sort();
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function hashFile(file: string): Promise<string> {
  return sha256(await fsp.readFile(file));
}

/** Package names from a packages.txt: one a line, "#" comments. */
export function parsePackageList(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(count: number) {
    this.free = Math.max(1, count);
  }
  async use<T>(work: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

export class ImageBuilder {
  private readonly results = new Map<RecipeName, Promise<BuiltImage>>();
  private readonly slots: Slots;
  private readonly log: (line: string) => void;
  private state?: Promise<Map<string, ImageState>>;
  private aptUpdated?: Promise<unknown>;
  private readonly debPackages = new Map<string, Promise<string>>();

  constructor(private readonly options: BuildOptions) {
    this.slots = new Slots(options.jobs ?? 3);
    this.log = options.log ?? ((line) => console.log(line));
  }

  /** Builds the recipe (and what it builds on) unless its image is up to date. Memoised per run. */
  ensure(name: RecipeName): Promise<BuiltImage> {
    let result = this.results.get(name);
    if (!result) {
      result = this.ensureOne(findRecipe(name));
      this.results.set(name, result);
    }
    return result;
  }

  /** Whether any image was built in this run (so there may be superseded images to remove). */
  async anyBuilt(): Promise<boolean> {
    const settled = await Promise.allSettled(this.results.values());
    return settled.some((s) => s.status === 'fulfilled' && s.value.built);
  }

  private currentState(): Promise<Map<string, ImageState>> {
    this.state ??= inspectImages(recipes.flatMap((r) => r.tags));
    return this.state;
  }

  private async ensureOne(r: Recipe): Promise<BuiltImage> {
    const deps = await Promise.all(r.dependsOn.map((dep) => this.ensure(dep)));
    const debFiles = await Promise.all((r.debFiles ?? []).map((d) => this.debFile(d.pkg, d.path)));
    const hash = await this.hash(r, deps, debFiles);

    const state = await this.currentState();
    const primary = state.get(r.tags[0]!);
    const current = primary?.Config.Labels?.[RECIPE_LABEL];
    if (primary && current === hash && !this.options.force) {
      // Up to date; a tag added to the recipe since the last build only needs tagging.
      for (const tag of r.tags.slice(1)) {
        if (state.get(tag)?.Id !== primary.Id) await docker(['tag', primary.Id, tag]);
      }
      this.log(`[berth] ${r.title} up to date`);
      return { recipe: r.name, id: primary.Id, hash, built: false };
    }

    const reason = this.options.force ? 'forced' : primary ? 'recipe changed' : 'not built yet';
    const started = performance.now();
    this.log(`[berth] building ${r.title} (${reason})...`);
    const id = await this.build(r, hash, debFiles);
    this.log(`[berth] ${r.title} built in ${elapsed(started)}`);
    return { recipe: r.name, id, hash, built: true };
  }

  private async hash(r: Recipe, deps: BuiltImage[], debFiles: string[]): Promise<string> {
    const h = createHash('sha256');
    h.update(
      JSON.stringify({
        version: RECIPE_VERSION,
        recipe: r.name,
        suite: DEBIAN_SUITE,
        rootfs: r.rootfs ?? null,
        mmdebstrap: r.rootfs?.kind === 'mmdebstrap' ? MMDEBSTRAP_COMMON : null,
        importChanges: r.importChanges ?? null,
        deps: deps.map((d) => d.hash),
        debs: await Promise.all(debFiles.map(hashFile)),
      }),
    );
    for (const file of await recipeFiles(r)) {
      const full = path.join(recipesDir, r.dir, file);
      const stat = await fsp.stat(full);
      h.update(`\0${file}\0${stat.mode & 0o111 ? 'x' : '-'}\0`);
      h.update(await fsp.readFile(full));
    }
    return h.digest('hex');
  }

  private async build(r: Recipe, hash: string, debFiles: string[]): Promise<string> {
    const label = `${RECIPE_LABEL}=${hash}`;
    if (!r.dockerfile) {
      // The rootfs is the whole image: its metadata comes with the import.
      const id = await this.importRootfs(r, debFiles, [`LABEL ${label}`, ...(r.importChanges ?? [])]);
      for (const tag of r.tags) await docker(['tag', id, tag]);
      return id;
    }
    const rootfsId = r.rootfs ? await this.importRootfs(r, debFiles, []) : undefined;
    try {
      const context = await this.buildContext(r, debFiles);
      const args = ['build', '--quiet', '--label', label, ...r.tags.flatMap((tag) => ['--tag', tag])];
      if (rootfsId) args.push('--build-arg', `ROOTFS=${rootfsId}`);
      args.push(context);
      // The legacy builder: Berth's Dockerfiles only COPY and set metadata, and it works with every
      // engine and client version without the buildx plugin.
      const result = await docker(args, {
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
        hint: `fix ${path.join('sandbox-backend/images', r.dir, 'Dockerfile')} or the files it copies, then run npm run images again`,
      });
      return result.stdout.trim().split('\n').pop()!;
    } catch (error) {
      if (rootfsId) await docker(['rmi', rootfsId], { allowFailure: true });
      throw error;
    }
  }

  /** A fresh folder holding the recipe's files and the Debian binaries it copies. */
  private async buildContext(r: Recipe, debFiles: string[]): Promise<string> {
    const context = path.join(this.options.workDir, 'context', r.name);
    await fsp.rm(context, { recursive: true, force: true });
    await fsp.mkdir(context, { recursive: true });
    for (const file of await recipeFiles(r)) {
      await fsp.copyFile(path.join(recipesDir, r.dir, file), path.join(context, file));
      await fsp.chmod(path.join(context, file), (await fsp.stat(path.join(recipesDir, r.dir, file))).mode);
    }
    for (const [i, d] of (r.debFiles ?? []).entries()) {
      await fsp.copyFile(debFiles[i]!, path.join(context, d.as));
      await fsp.chmod(path.join(context, d.as), 0o755);
    }
    return context;
  }

  /** Produces the recipe's root filesystem as a tar stream and imports it; returns the image id. */
  private async importRootfs(r: Recipe, debFiles: string[], changes: string[]): Promise<string> {
    const rootfs = r.rootfs!;
    const dir = path.join(recipesDir, r.dir);
    const logFile = path.join(this.options.workDir, 'logs', `${r.name}.log`);
    await fsp.mkdir(path.dirname(logFile), { recursive: true });
    await fsp.writeFile(logFile, '');

    if (rootfs.kind === 'mmdebstrap') {
      const args = [...MMDEBSTRAP_COMMON];
      if (rootfs.packagesFile) {
        const packages = parsePackageList(await fsp.readFile(path.join(dir, rootfs.packagesFile), 'utf8'));
        if (packages.length) args.push(`--include=${packages.join(',')}`);
      }
      if (rootfs.customizeHook) args.push(`--customize-hook=sh ${shellQuote(path.join(dir, rootfs.customizeHook))} "$1"`);
      args.push(DEBIAN_SUITE, '-');
      return this.slots.use(() =>
        importFrom('mmdebstrap', args, logFile, changes, r.title,
          'check that the Debian mirror answers (apt-get update), and run as root (mmdebstrap needs root, or unprivileged user namespaces for its unshare mode)'),
      );
    }

    const tree = path.join(this.options.workDir, 'rootfs', r.name);
    await fsp.rm(tree, { recursive: true, force: true });
    await fsp.mkdir(tree, { recursive: true });
    if (rootfs.kind === 'static-c') {
      await run('gcc', ['-static', '-Os', '-s', '-o', path.join(tree, rootfs.installAs), path.join(dir, rootfs.source)], {
        hint: 'a static build needs gcc and libc6-dev (apt-get install gcc libc6-dev)',
      });
    } else {
      await busyboxTree(tree, debFiles[0]!, dir, await this.debPackage('libc6'));
    }
    const tarArgs = ['--numeric-owner', '--owner=0', '--group=0', '-C', tree, '-c', '.'];
    return importFrom('tar', tarArgs, logFile, changes, r.title, `see ${logFile}`);
  }

  /**
   * A file from a Debian package, downloaded with apt-get and unpacked under workDir, never
   * installed: installing docker-registry would start a registry service on the host's port 5000,
   * and busybox or libc6 would replace the host's own.
   */
  private async debFile(pkg: string, inner: string): Promise<string> {
    const target = path.join(await this.debPackage(pkg), inner);
    if (!fs.existsSync(target)) throw new BuildError(`Debian package ${pkg} has no ${inner}`);
    return target;
  }

  /** The folder a Debian package is unpacked into; memoised, as two recipes may want the same package at once. */
  private debPackage(pkg: string): Promise<string> {
    let unpacked = this.debPackages.get(pkg);
    if (!unpacked) {
      unpacked = this.unpackDeb(pkg);
      this.debPackages.set(pkg, unpacked);
    }
    return unpacked;
  }

  private async unpackDeb(pkg: string): Promise<string> {
    const dir = path.join(this.options.workDir, 'debs', pkg);
    const root = path.join(dir, 'root');
    if (fs.existsSync(root) && !this.options.force) return root;
    await fsp.rm(dir, { recursive: true, force: true });
    const download = path.join(dir, 'download');
    await fsp.mkdir(download, { recursive: true });
    // As root, apt drops to the _apt user to download, which cannot write into our folder.
    const aptArgs = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
    const fetch = () => run('apt-get', [...aptArgs, 'download', pkg], { cwd: download, allowFailure: true });
    let result = await fetch();
    if (result.code !== 0 && /Unable to locate|no installation candidate|Unable to fetch|404/i.test(result.stderr)) {
      if (process.getuid?.() !== 0) {
        throw new BuildError(
          `apt-get download ${pkg} failed: the package lists are missing or stale.\n  What to do: run "apt-get update" as root (or bash scripts/bootstrap.sh), then npm run images again.\n${indent(result.stderr.trim())}`,
        );
      }
      this.log('[berth] updating apt package lists (apt-get update)...');
      this.aptUpdated ??= run('apt-get', ['update'], { hint: 'check that the Debian mirror is reachable' });
      await this.aptUpdated;
      result = await fetch();
    }
    if (result.code !== 0) {
      throw new BuildError(`apt-get download ${pkg} failed:\n${indent(result.stderr.trim())}\n  What to do: check that the Debian mirror is reachable (apt-get update).`);
    }
    const deb = (await fsp.readdir(download)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new BuildError(`apt-get download ${pkg} left no .deb file in ${download}`);
    await run('dpkg-deb', ['-x', path.join(download, deb), root]);
    return root;
  }
}

/**
 * The files of glibc that a dynamically linked busybox loads: the dynamic loader (and the /lib64
 * link the ELF header names on amd64), libc, libresolv, and the NSS modules for /etc/hosts and DNS.
 */
const BUSYBOX_LIBC = /^(ld-linux.*\.so\.\d+|libc\.so\.6|libresolv\.so\.2|libnss_(dns|files)\.so\.2)$/;

/**
 * Debian's dynamically linked busybox with a symlink per applet, the few glibc libraries it needs,
 * the account files, nsswitch.conf and the usual empty folders. Not busybox-static: a static glibc
 * cannot load NSS modules, and its getaddrinfo crashes, so wget, nslookup and ping of a name would
 * segfault.
 */
async function busyboxTree(tree: string, busybox: string, recipeDir: string, libcRoot: string): Promise<void> {
  for (const d of ['bin', 'etc', 'root', 'tmp', 'home', 'var', 'usr/bin', 'usr/sbin', 'sbin']) {
    await fsp.mkdir(path.join(tree, d), { recursive: true });
  }
  await fsp.chmod(path.join(tree, 'tmp'), 0o1777);
  await fsp.chmod(path.join(tree, 'root'), 0o700);
  await copyLibc(libcRoot, tree);
  await fsp.copyFile(busybox, path.join(tree, 'bin/busybox'));
  await fsp.chmod(path.join(tree, 'bin/busybox'), 0o755);
  // Runs on the build host with the host's own glibc, which bootstrap guarantees is Debian's.
  const { stdout } = await run(path.join(tree, 'bin/busybox'), ['--list-full']);
  for (const applet of parseAppletList(stdout)) {
    const link = path.join(tree, applet);
    await fsp.mkdir(path.dirname(link), { recursive: true });
    await fsp.symlink('/bin/busybox', link);
  }
  for (const file of ['passwd', 'group', 'nsswitch.conf']) {
    await fsp.copyFile(path.join(recipeDir, file), path.join(tree, 'etc', file));
    await fsp.chmod(path.join(tree, 'etc', file), 0o644);
  }
}

/**
 * Copies the BUSYBOX_LIBC files of the unpacked libc6 package, at their paths and with their
 * symlinks, so the layout matches whatever architecture the host has (lib/x86_64-linux-gnu,
 * lib/aarch64-linux-gnu, ...) and the loader finds them without an ld.so.cache.
 */
async function copyLibc(libcRoot: string, tree: string): Promise<void> {
  let copied = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await fsp.readdir(path.join(libcRoot, rel), { withFileTypes: true })) {
      const from = path.join(libcRoot, rel, entry.name);
      const to = path.join(tree, rel, entry.name);
      if (entry.isDirectory()) {
        await walk(path.join(rel, entry.name));
      } else if (BUSYBOX_LIBC.test(entry.name)) {
        await fsp.mkdir(path.dirname(to), { recursive: true });
        if (entry.isSymbolicLink()) await fsp.symlink(await fsp.readlink(from), to);
        else await fsp.copyFile(from, to);
        copied++;
      }
    }
  };
  for (const top of await fsp.readdir(libcRoot)) {
    if (/^lib/.test(top)) await walk(top);
  }
  if (!fs.existsSync(path.join(tree, 'lib')) || copied < 5) {
    throw new BuildError(`the libc6 package in ${libcRoot} lacks the loader or libraries busybox needs`);
  }
}

/**
 * `busybox --list-full` prints paths like "usr/bin/[" relative to /. linuxrc is for booting an
 * initramfs and has no place in a container.
 */
export function parseAppletList(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim().replace(/^\/+/, ''))
    .filter((line) => line && line !== 'bin/busybox' && line !== 'linuxrc' && !line.includes('..'));
}

/**
 * Streams a root filesystem from `command` (a tar on its stdout) into `docker import`, without a
 * tar file on disk. The image is kept only if both sides succeed: a producer that dies half-way
 * leaves a truncated tar that docker may still import.
 */
async function importFrom(
  command: string,
  args: string[],
  logFile: string,
  changes: string[],
  title: string,
  hint: string,
): Promise<string> {
  const log = fs.openSync(logFile, 'a');
  try {
    const producer = spawn(command, args, { stdio: ['ignore', 'pipe', log] });
    const producerExit = exitOf(producer, command, args);
    await new Promise<void>((resolve, reject) => {
      producer.once('spawn', resolve);
      producerExit.then(() => resolve(), reject);
    });
    const importArgs = ['import', ...changes.flatMap((c) => ['--change', c]), '-'];
    const importer = spawn('docker', importArgs, { stdio: [producer.stdout!, 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    importer.stdout!.on('data', (c: Buffer) => out.push(c));
    importer.stderr!.on('data', (c: Buffer) => err.push(c));
    // Our copy of the pipe's read end is not needed: the importer has its own.
    producer.stdout!.destroy();
    const importerExit = exitOf(importer, 'docker', importArgs).then(
      (code) => {
        // Otherwise the producer could block forever on a pipe nobody reads.
        if (code !== 0) producer.kill('SIGTERM');
        return code;
      },
      (error: unknown) => {
        producer.kill('SIGTERM');
        throw error;
      },
    );
    const [producerCode, importerCode] = await Promise.all([producerExit, importerExit]);
    const id = Buffer.concat(out).toString().trim();
    if (producerCode !== 0) {
      if (importerCode === 0 && id) await docker(['rmi', id], { allowFailure: true });
      const logTail = (await fsp.readFile(logFile, 'utf8')).trimEnd().split('\n').slice(-20).join('\n');
      throw new BuildError(
        `building the ${title} failed: ${describe(command, args)} exited with code ${producerCode}.\n` +
          `${indent(logTail)}\n  Full log: ${logFile}\n  What to do: ${hint}`,
      );
    }
    if (importerCode !== 0) {
      throw new CommandError(
        `docker import of the ${title} failed:\n${indent(Buffer.concat(err).toString().trim())}\n  What to do: check that the engine has disk space (docker system df)`,
        describe('docker', importArgs),
        importerCode,
        Buffer.concat(err).toString(),
      );
    }
    return id;
  } finally {
    fs.closeSync(log);
  }
}
