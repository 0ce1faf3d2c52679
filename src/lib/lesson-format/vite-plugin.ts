import path from 'node:path';
import { searchForWorkspaceRoot, type Plugin, type ViteDevServer } from 'vite';
import { catalogueSummary, defaultReferenceUrl, lessonContent, loadCatalogue, type Catalogue, type CatalogueLesson } from './catalogue.ts';
import { formatLessonError } from './types.ts';

const CATALOGUE_ID = 'virtual:lessons';
const LESSON_PREFIX = 'virtual:lessons/';
const RESOLVED = '\0';

export interface LessonsPluginOptions {
  /** The lessons folder, absolute or relative to the working directory. */
  dir: string;
}

/**
 * Serves the lessons folder to the app as `virtual:lessons`: the catalogue (titles and summaries)
 * plus one lazily imported module per lesson, so the catalogue page does not carry every lesson
 * body. A build with lesson errors fails listing them all; in dev they show in Vite's overlay and
 * the valid lessons keep working.
 *
 * Images and files a lesson links to are imported with `?url`, so Vite serves them in dev and
 * emits them (hashed) into the build; the lesson's HTML gets their final URLs.
 */
export function lessonsPlugin(options: LessonsPluginOptions): Plugin {
  const dir = path.resolve(options.dir);
  let catalogue: Catalogue | undefined;
  let isBuild = false;

  const read = () => loadCatalogue(dir);
  const current = () => (catalogue ??= read());
  const errorReport = (c: Catalogue) =>
    `${c.errors.length} problem${c.errors.length === 1 ? '' : 's'} in the lessons:\n${c.errors.map((e) => `  ${formatLessonError(e)}`).join('\n')}`;

  return {
    name: 'berth-lessons',

    config() {
      // The lessons folder may live outside the project (BERTH_LESSONS_DIR); its images must
      // still be servable in dev.
      return {
        server: { fs: { allow: [searchForWorkspaceRoot(process.cwd()), dir] } },
        // Lesson files stay files: a browser will not open a link to a data: URL, and diagrams
        // are cached better on their own than inside each lesson's script.
        build: { assetsInlineLimit: (file: string) => (path.resolve(file).startsWith(dir + path.sep) ? false : undefined) },
      };
    },

    configResolved(config) {
      isBuild = config.command === 'build';
    },

    buildStart() {
      catalogue = read();
      if (isBuild && catalogue.errors.length > 0) this.error(errorReport(catalogue));
      for (const lesson of catalogue.lessons.values()) this.addWatchFile(lesson.path);
    },

    resolveId(id) {
      if (id === CATALOGUE_ID || id.startsWith(LESSON_PREFIX)) return RESOLVED + id;
      return undefined;
    },

    load(id) {
      if (!id.startsWith(RESOLVED + CATALOGUE_ID)) return undefined;
      const c = current();
      if (id === RESOLVED + CATALOGUE_ID) return catalogueModule(c);
      const lessonId = id.slice(RESOLVED.length + LESSON_PREFIX.length);
      const lesson = c.lessons.get(lessonId);
      if (!lesson) return `export default undefined;`;
      return lessonModule(c, lesson, !isBuild);
    },

    configureServer(server) {
      server.watcher.add(dir);
      const report = (c: Catalogue) => {
        if (c.errors.length === 0) return;
        const message = errorReport(c);
        server.config.logger.error(message, { timestamp: true });
        server.ws.send({ type: 'error', err: { message, stack: '', plugin: 'berth-lessons' } });
      };
      const onChange = (file: string) => {
        if (!path.resolve(file).startsWith(dir + path.sep)) return;
        const before = current();
        catalogue = read();
        refresh(server, before, catalogue);
        report(catalogue);
      };
      server.watcher.on('add', onChange);
      server.watcher.on('change', onChange);
      server.watcher.on('unlink', onChange);
      server.watcher.on('unlinkDir', onChange);
      // Show problems present at startup once the first page connects.
      server.ws.on('connection', () => report(current()));
    },
  };
}

function catalogueModule(catalogue: Catalogue): string {
  const loaders = [...catalogue.lessons.keys()]
    .map((id) => `  ${JSON.stringify(id)}: () => import(${JSON.stringify(LESSON_PREFIX + id)}),`)
    .join('\n');
  return [
    `export const modules = ${JSON.stringify(catalogueSummary(catalogue))};`,
    `const loaders = {\n${loaders}\n};`,
    `export function hasLesson(id) { return Object.prototype.hasOwnProperty.call(loaders, id); }`,
    `export async function loadLesson(id) { return hasLesson(id) ? (await loaders[id]()).default : undefined; }`,
  ].join('\n');
}

function lessonModule(catalogue: Catalogue, lesson: CatalogueLesson, hot: boolean): string {
  const imports: string[] = [];
  const urls = lesson.targets.map((target, index) => {
    if (target.kind !== 'asset') return JSON.stringify(defaultReferenceUrl(lesson, index));
    imports.push(`import asset${index} from ${JSON.stringify(`${target.file}?url`)};`);
    return `asset${index} + ${JSON.stringify(lesson.references[index]!.fragment)}`;
  });
  const json = JSON.stringify(lessonContent(catalogue, lesson, { keepPlaceholders: true }));
  const code = `${imports.join('\n')}
const lesson = ${json};
const urls = [${urls.join(', ')}];
const attribute = (text) => String(text).replace(/&/g, '&amp;').replace(/"/g, '&quot;');
lesson.html = lesson.html.replace(/(src|href)="berth-ref:(\\d+)"/g, (whole, name, index) => urls[index] === undefined ? whole : name + '="' + attribute(urls[index]) + '"');
export default lesson;
`;
  if (!hot) return code;
  // The lesson page listens for this event and swaps the body in place, keeping the terminal.
  return `${code}if (import.meta.hot) {
  import.meta.hot.accept((next) => {
    if (next) window.dispatchEvent(new CustomEvent('berth:lesson-update', { detail: next.default }));
  });
}
`;
}

/** Pushes the lessons that changed (and the catalogue, if its summary changed) through HMR. */
function refresh(server: ViteDevServer, before: Catalogue, after: Catalogue): void {
  const client = server.environments.client;
  const reload = (id: string) => {
    const module = client.moduleGraph.getModuleById(RESOLVED + id);
    if (module) void client.reloadModule(module);
  };
  const ids = new Set([...before.lessons.keys(), ...after.lessons.keys()]);
  for (const id of ids) {
    const old = before.lessons.get(id);
    const next = after.lessons.get(id);
    const text = (c: Catalogue, lesson: typeof old) => (lesson ? JSON.stringify(lessonContent(c, lesson)) : '');
    if (text(before, old) !== text(after, next)) reload(LESSON_PREFIX + id);
  }
  if (JSON.stringify(catalogueSummary(before)) !== JSON.stringify(catalogueSummary(after))) reload(CATALOGUE_ID);
}
