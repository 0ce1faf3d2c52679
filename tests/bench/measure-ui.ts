/**
 * The lesson page's initial JavaScript: the entry script, what it imports statically (and what
 * index.html preloads), plus the lesson route's chunk and a lesson's content, which the page
 * fetches before it can show anything. Editors and the like must stay out of it (lazy chunks).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';

export interface ChunkSize {
  file: string;
  raw: number;
  gzip: number;
}

export type UiResult =
  | { built: false; reason: string }
  | {
      built: true;
      builtAt: string;
      rebuilt: boolean;
      /** What index.html loads before anything is shown: the entry and its static imports. */
      entry: ChunkSize[];
      /** Entry plus the lesson route and the largest lesson's content: the lesson page's initial set. */
      lessonPage: ChunkSize[];
      entryGzip: number;
      lessonPageGzip: number;
      /** Why each chunk of the lesson page's set is in it. */
      roles: Record<string, 'index.html' | 'lesson route' | 'lesson content'>;
      /** Chunks of the initial set that mention monaco (must be none), and all that do anywhere. */
      monacoInInitial: string[];
      monacoAnywhere: string[];
      /** Bytes the running backend actually sent for the lesson page's JS with Accept-Encoding: gzip, br. */
      servedBytes?: number;
      servedEncodings?: Record<string, string>;
    };

/** Script srcs and modulepreload hrefs of index.html, in order, as paths under the dist root. */
export function initialScripts(html: string): string[] {
  const found: string[] = [];
  for (const tag of html.match(/<(script|link)\b[^>]*>/gi) ?? []) {
    const attr = (name: string) => new RegExp(`\\b${name}\\s*=\\s*["']([^"']+)["']`, 'i').exec(tag)?.[1];
    const isScript = /^<script/i.test(tag) && /type\s*=\s*["']module["']/i.test(tag);
    const isPreload = /^<link/i.test(tag) && attr('rel') === 'modulepreload';
    const url = isScript ? attr('src') : isPreload ? attr('href') : undefined;
    if (url && !/^[a-z]+:\/\//i.test(url)) found.push(url.replace(/^\.?\//, ''));
  }
  return found;
}

/** Relative static imports and re-exports of a built chunk (not `import()`, which is lazy). */
export function staticImports(code: string): string[] {
  const found = new Set<string>();
  for (const m of code.matchAll(/(?:^|[;\s}])(?:import|export)\s*(?:[^"'`();]*?from\s*)?["'](\.{1,2}\/[^"']+\.js)["']/g)) found.add(m[1]!);
  return [...found];
}

/** Relative dynamic imports of a built chunk. */
export function dynamicImports(code: string): string[] {
  const found = new Set<string>();
  for (const m of code.matchAll(/import\(\s*[`"'](\.{1,2}\/[^`"']+\.js)[`"']\s*\)/g)) found.add(m[1]!);
  return [...found];
}

function closure(dist: string, roots: string[]): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file) || !file.endsWith('.js')) return;
    const full = path.join(dist, file);
    if (!fs.existsSync(full)) return;
    seen.add(file);
    const code = fs.readFileSync(full, 'utf8');
    for (const spec of staticImports(code)) visit(path.posix.join(path.posix.dirname(file), spec));
  };
  roots.forEach(visit);
  return [...seen];
}

function sizeOf(dist: string, file: string): ChunkSize {
  const bytes = fs.readFileSync(path.join(dist, file));
  // Level 6, gzip's and most servers' default: the size a browser would download.
  return { file, raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 6 }).length };
}

/** Lesson slugs ("first-container") from lessons/<NN-module>/<NN-slug>/: their chunks carry these names. */
function lessonSlugs(lessonsDir: string): string[] {
  if (!fs.existsSync(lessonsDir)) return [];
  const slugs: string[] = [];
  for (const mod of fs.readdirSync(lessonsDir, { withFileTypes: true })) {
    if (!mod.isDirectory()) continue;
    for (const lesson of fs.readdirSync(path.join(lessonsDir, mod.name), { withFileTypes: true })) {
      if (lesson.isDirectory()) slugs.push(lesson.name.replace(/^\d+-/, ''));
    }
  }
  return slugs;
}

function build(repoRoot: string): string | undefined {
  const vite = path.join(repoRoot, 'node_modules', '.bin', 'vite');
  const result = spawnSync(vite, ['build'], { cwd: repoRoot, encoding: 'utf8', timeout: 300_000 });
  if (result.status === 0) return undefined;
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-8).join('\n');
  return `vite build failed (${result.error?.message ?? `exit ${result.status}`}): ${output}`;
}

/** Counts the bytes on the wire (compressed as the server chose), following nothing. */
function fetchWireBytes(url: string): Promise<{ bytes: number; encoding: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { 'accept-encoding': 'gzip, br' }, timeout: 10_000 }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => (res.statusCode === 200 ? resolve({ bytes, encoding: String(res.headers['content-encoding'] ?? 'identity') }) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
  });
}

export async function measureUi(repoRoot: string, options: { rebuild: boolean }): Promise<UiResult> {
  const dist = path.join(repoRoot, 'dist');
  const index = path.join(dist, 'index.html');
  let rebuilt = false;
  if (options.rebuild || !fs.existsSync(index)) {
    const failure = build(repoRoot);
    if (failure) return { built: false, reason: failure };
    rebuilt = true;
  }
  if (!fs.existsSync(index)) return { built: false, reason: 'dist/index.html is missing after the build' };
  const html = fs.readFileSync(index, 'utf8');
  const roots = initialScripts(html);
  if (roots.length === 0) return { built: false, reason: 'dist/index.html names no module script' };
  const entryFiles = closure(dist, roots);

  const lazy = new Set<string>();
  for (const file of entryFiles) {
    for (const spec of dynamicImports(fs.readFileSync(path.join(dist, file), 'utf8'))) lazy.add(path.posix.join(path.posix.dirname(file), spec));
  }
  const route = [...lazy].filter((file) => /(^|\/)LessonPage-[^/]*\.js$/.test(file));
  const slugs = lessonSlugs(path.join(repoRoot, 'lessons'));
  const lessonChunks = [...lazy]
    .filter((file) => slugs.some((slug) => path.posix.basename(file).startsWith(`${slug}-`)))
    .map((file) => sizeOf(dist, file))
    .sort((a, b) => b.gzip - a.gzip);
  const lessonFile = lessonChunks[0]?.file;
  const lessonPageFiles = closure(dist, [...entryFiles, ...route, ...(lessonFile ? [lessonFile] : [])]);
  const roles: Record<string, 'index.html' | 'lesson route' | 'lesson content'> = {};
  for (const file of lessonPageFiles) roles[file] = entryFiles.includes(file) ? 'index.html' : file === lessonFile ? 'lesson content' : 'lesson route';

  const entry = entryFiles.map((file) => sizeOf(dist, file));
  const lessonPage = lessonPageFiles.map((file) => sizeOf(dist, file));
  const mentionsMonaco = (file: string) => /monaco/i.test(file) || /monaco/i.test(fs.readFileSync(path.join(dist, file), 'utf8'));
  const allJs = fs.readdirSync(path.join(dist, 'assets')).filter((f) => f.endsWith('.js')).map((f) => `assets/${f}`);

  const result: UiResult = {
    built: true,
    builtAt: fs.statSync(index).mtime.toISOString(),
    rebuilt,
    entry,
    lessonPage,
    entryGzip: entry.reduce((a, c) => a + c.gzip, 0),
    lessonPageGzip: lessonPage.reduce((a, c) => a + c.gzip, 0),
    roles,
    monacoInInitial: lessonPageFiles.filter(mentionsMonaco),
    monacoAnywhere: allJs.filter(mentionsMonaco),
  };
  return result;
}

/**
 * What the running backend actually sends for the initial set, asking for compression as a
 * browser does: gzip sizes above are what a compressing server would send, this is what Berth does.
 */
export async function measureServed(backendUrl: string, ui: UiResult): Promise<void> {
  if (!ui.built) return;
  const files = ui.lessonPage.map((c) => c.file);
  const served = await Promise.all(files.map((file) => fetchWireBytes(`${backendUrl}/${file}`)));
  ui.servedBytes = served.reduce((a, s) => a + s.bytes, 0);
  ui.servedEncodings = Object.fromEntries(files.map((file, i) => [file, served[i]!.encoding]));
}
