/**
 * npm run lessons:lint [lessons-folder]
 *
 * Validates every lesson with the parser and schema the app uses, plus the lint rules of
 * src/lib/lesson-format/lint.ts, against the images the registry mirror serves. Prints one line
 * per problem (file:line, field, what to do) and exits 1 if there is any.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { learnerImages } from '../sandbox-backend/images/recipes.ts';
import { loadCatalogue } from '../src/lib/lesson-format/catalogue.ts';
import { lintCatalogue } from '../src/lib/lesson-format/lint.ts';
import { formatLessonError } from '../src/lib/lesson-format/types.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  console.log('Usage: npm run lessons:lint [lessons-folder]   (default: lessons/)');
  process.exit(0);
}
const dir = path.resolve(args[0] ?? path.join(root, 'lessons'));

const catalogue = loadCatalogue(dir, { displayRoot: process.cwd() });
const errors = lintCatalogue(catalogue, { images: learnerImages, displayRoot: process.cwd() });
const lessons = catalogue.lessons.size;
const modules = catalogue.modules.length;
const counted = `${lessons} lesson${lessons === 1 ? '' : 's'} in ${modules} module${modules === 1 ? '' : 's'}`;

if (errors.length === 0) {
  console.log(`lessons:lint: ${counted}, no problems`);
  process.exit(0);
}
for (const error of errors) console.log(formatLessonError(error));
const files = new Set(errors.map((error) => error.file)).size;
console.log(`\nlessons:lint: ${errors.length} problem${errors.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'} (${counted} parsed)`);
process.exit(1);
