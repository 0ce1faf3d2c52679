import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { learnerImages } from '../../sandbox-backend/images/recipes.ts';
import { formatLessonError, loadCatalogue } from '../../src/lib/lesson-format/index.ts';
import { imageProblem, lintCatalogue, type ServedImage } from '../../src/lib/lesson-format/lint.ts';

const fixtures = path.resolve(import.meta.dirname, 'fixtures/lint');
const images: ServedImage[] = [
  { name: 'hello-world', tags: ['latest'] },
  { name: 'busybox', tags: ['latest', 'stable'] },
  { name: 'debian', tags: ['bookworm-slim', 'latest'] },
  { name: 'nginx', tags: ['latest', 'stable'] },
];

function lint() {
  const catalogue = loadCatalogue(fixtures, { displayRoot: fixtures });
  return lintCatalogue(catalogue, { images, displayRoot: fixtures }).map(formatLessonError);
}

const GOOD = '01-basics/01-good/lesson.md';
const BROKEN = '01-basics/02-broken/lesson.md';
const NO_CHECKS = '01-basics/03-no-checks/lesson.md';
const LINT = '01-basics/04-lint-problems/lesson.md';

describe('lessons:lint rules', () => {
  const messages = lint();
  const about = (file: string) => messages.filter((message) => message.startsWith(`${file}:`));

  it('finds nothing wrong with a lesson that uses every feature correctly', () => {
    expect(about(GOOD)).toEqual([]);
  });

  it('names an unknown front-matter key with its line and a did-you-mean', () => {
    expect(about(BROKEN)).toContain(`${BROKEN}:4 field "levle": unknown key; did you mean "level"?`);
  });

  it('reports a check aimed at a node the lesson does not have', () => {
    expect(about(BROKEN)).toContainEqual(expect.stringMatching(/:9 check runs on node2 but the lesson has only node1; raise "nodes"/));
  });

  it('reports malformed port links', () => {
    expect(about(BROKEN)).toEqual(
      expect.arrayContaining([expect.stringMatching(/:13 "port:99999" is not a port link; write port:8080/), expect.stringMatching(/:13 "port:web" is not a port link/)]),
    );
  });

  it('reports invalid quiz YAML, a quiz with no right answer and an empty hint', () => {
    expect(about(BROKEN)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/:17 quiz: invalid YAML/),
        expect.stringMatching(/:20 quiz: no option is correct; add "correct: true"/),
        expect.stringMatching(/:27 hint is empty/),
      ]),
    );
  });

  it('reports a lesson without any check', () => {
    expect(about(NO_CHECKS)).toEqual([expect.stringMatching(/^01-basics\/03-no-checks\/lesson\.md:6 the lesson has no check; add a ```sh check block/)]);
  });

  it('reports images the mirror does not serve, with a suggestion', () => {
    expect(about(LINT)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/:5 field "images\.0": "alpine" is not served by the registry mirror.*the mirror serves hello-world, busybox, debian, nginx/),
        expect.stringMatching(/:6 field "images\.1": "nginx:1\.25": the registry mirror serves nginx only as nginx:latest, nginx:stable/),
        expect.stringMatching(/:7 field "images\.2": "ngnix" is not served .*did you mean "nginx"\?/),
      ]),
    );
  });

  it('reports a prerequisite that does not exist', () => {
    expect(about(LINT)).toContainEqual(expect.stringMatching(/:8 field "prerequisites": "basics\/missing": no lesson has this id; .* e\.g\. basics\/good/));
  });

  it('reports broken relative images and links', () => {
    expect(about(LINT)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/:11 broken image "missing\.svg": there is no file missing\.svg in the lesson's folder/),
        expect.stringMatching(/:11 broken link "notes\.md": there is no file notes\.md/),
        expect.stringMatching(/:11 broken image "\.\.\/01-good\/files\/app\/hello\.txt" is not an image the app can show/),
      ]),
    );
  });

  it('reports a step with a solution but no check', () => {
    expect(about(LINT)).toContainEqual(expect.stringMatching(/:25 step "Exercise without a check" has a solution but no check/));
    // The step that has both is fine.
    expect(about(LINT).some((message) => message.includes('step "Exercise" has'))).toBe(false);
  });

  it('sorts problems by file and line', () => {
    const keys = messages.map((message) => {
      const [, file, line] = /^(.*?):(\d+) /.exec(message)!;
      return [file!, Number(line)] as const;
    });
    const sorted = [...keys].sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1]);
    expect(keys).toEqual(sorted);
  });
});

describe('imageProblem', () => {
  it('accepts every spelling of a served image', () => {
    for (const ref of ['nginx', 'nginx:stable', 'library/nginx', 'docker.io/library/nginx:latest', `nginx@sha256:${'a'.repeat(64)}`]) {
      expect(imageProblem(ref, images)).toBeUndefined();
    }
  });

  it('knows the learner images exported by the image recipes', () => {
    expect(imageProblem('hello-world', learnerImages)).toBeUndefined();
    expect(imageProblem('debian:bookworm-slim', learnerImages)).toBeUndefined();
    expect(imageProblem('no-such-image-anywhere', learnerImages)).toMatch(/not served/);
  });
});
