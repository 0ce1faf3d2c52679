/**
 * npm run lessons:new <module> <slug>
 *
 * Scaffolds lessons/<NN-module>/<NN-slug>/lesson.md with a commented example (one step, a run
 * block, a check and a hint), creating the module and its module.yml if needed.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scaffoldLesson, ScaffoldError } from '../src/lib/lesson-format/scaffold.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const usage = `Usage: npm run lessons:new <module> <slug>
  e.g.  npm run lessons:new containers port-publishing
Names are lower case with dashes. The lesson is numbered after the module's last one; a module
that does not exist yet is created after the last module.`;

if (args.includes('-h') || args.includes('--help')) {
  console.log(usage);
  process.exit(0);
}
if (args.length !== 2) {
  console.error(`lessons:new: expected a module and a lesson name, got ${args.length} argument${args.length === 1 ? '' : 's'}.\n\n${usage}`);
  process.exit(2);
}

const lessonsDir = process.env.BERTH_LESSONS_DIR ? path.resolve(process.env.BERTH_LESSONS_DIR) : path.join(root, 'lessons');
try {
  const created = scaffoldLesson(lessonsDir, args[0]!, args[1]!);
  const show = (file: string) => path.relative(process.cwd(), file) || file;
  if (created.moduleFile) console.log(`created ${show(created.moduleFile)} (a new module: give it a real title and summary)`);
  console.log(`created ${show(created.lessonFile)}`);
  console.log(`
Next:
  npm run dev                         preview it at http://localhost:8080/lessons/${created.id}
  npm run lessons:lint                check it
  npm run lessons:test ${created.id}  replay it in a real sandbox
The guide: docs/authoring.md`);
} catch (error) {
  if (!(error instanceof ScaffoldError)) throw error;
  console.error(`lessons:new: ${error.message}`);
  process.exit(1);
}
