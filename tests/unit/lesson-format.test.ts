import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { catalogueSummary, formatLessonError, loadCatalogue, parseLesson } from '../../src/lib/lesson-format/index.ts';
import { errors, ok } from '../support/lesson-results.ts';

const FILE = 'lessons/01-containers/01-first-container/lesson.md';

function lesson(frontMatter: string, body = 'Some text.\n'): string {
  return `---\n${frontMatter}\n---\n${body}`;
}


describe('parseLesson', () => {
  it('accepts a valid lesson and fills in defaults', () => {
    const parsed = ok(
      parseLesson(
        lesson('title: Your first container\nsummary: Run one\nminutes: 15\nimages: [hello-world, "debian:bookworm-slim"]', '## Hello\n\nRun *this*.\n'),
        FILE,
      ),
    );
    expect(parsed.frontMatter).toEqual({
      title: 'Your first container',
      summary: 'Run one',
      minutes: 15,
      level: 'beginner',
      prerequisites: [],
      runtime: 'sandbox',
      nodes: 1,
      images: ['hello-world', 'debian:bookworm-slim'],
      setup: [],
    });
    expect(parsed.html).toContain('<h2>Hello</h2>');
    expect(parsed.html).toContain('<em>this</em>');
    expect(parsed.blocks).toEqual([]);
  });

  it('names file, line and field of an unknown key and suggests the right one', () => {
    const found = errors(parseLesson(lesson('title: T\nlevle: beginner\nsummary: S'), FILE));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ file: FILE, line: 3, field: 'levle' });
    expect(formatLessonError(found[0]!)).toBe(`${FILE}:3 field "levle": unknown key; did you mean "level"?`);
  });

  it('reports missing and mistyped fields with their lines', () => {
    const found = errors(parseLesson(lesson('title: T\nminutes: -3\nlevel: expert\nnodes: 9'), FILE));
    const byField = Object.fromEntries(found.map((error) => [error.field, error]));
    expect(byField.summary).toMatchObject({ line: 2 });
    expect(byField.summary!.message).toMatch(/required/);
    expect(byField.minutes).toMatchObject({ line: 3 });
    expect(byField.level).toMatchObject({ line: 4 });
    expect(byField.level!.message).toMatch(/beginner, intermediate, advanced/);
    expect(byField.nodes).toMatchObject({ line: 5 });
  });

  it('points at the bad entry of a list', () => {
    const found = errors(parseLesson(lesson('title: T\nsummary: S\nimages:\n  - nginx\n  - Not An Image'), FILE));
    expect(found).toMatchObject([{ line: 6, field: 'images.1' }]);
  });

  it('rejects the reserved browser runtime with an explanation', () => {
    const found = errors(parseLesson(lesson('title: T\nsummary: S\nruntime: browser'), FILE));
    expect(found[0]).toMatchObject({ field: 'runtime', line: 4 });
    expect(found[0]!.message).toMatch(/reserved/);
  });

  it('requires front matter', () => {
    expect(errors(parseLesson('# Just markdown\n', FILE))[0]).toMatchObject({ file: FILE, line: 1 });
  });

  it('reports broken YAML with its line', () => {
    const found = errors(parseLesson(lesson('title: T\nsummary: [unclosed'), FILE));
    expect(found[0]!.line).toBeGreaterThanOrEqual(3);
  });

  it('extracts runnable blocks with their node, interrupt flag, line and exact text', () => {
    const body = [
      '',
      'Copy only:',
      '',
      '```sh',
      'echo not runnable',
      '```',
      '',
      '```sh run',
      'docker run hello-world',
      '```',
      '',
      '```bash run=node2',
      "printf '%s\\n' \"<b>&amp;\"",
      'ls /',
      '```',
      '',
      '> [!TIP]',
      '> Stop it:',
      '>',
      '> ```sh run interrupt',
      '> docker ps',
      '> ```',
      '',
    ].join('\n');
    const parsed = ok(parseLesson(lesson('title: T\nsummary: S\nnodes: 2', body), FILE));
    // The body starts on line 6 (front matter is lines 1-5).
    expect(parsed.blocks).toEqual([
      { node: 'node1', command: 'docker run hello-world', interrupt: false, line: 13, kind: 'run' },
      { node: 'node2', command: "printf '%s\\n' \"<b>&amp;\"\nls /", interrupt: false, line: 17, kind: 'run' },
      { node: 'node1', command: 'docker ps', interrupt: true, line: 25, kind: 'run' },
    ]);
    expect(parsed.html).toContain('<pre class="code" data-run="node1"><code class="language-sh">docker run hello-world</code></pre>');
    expect(parsed.html).toContain('data-run="node2"');
    expect(parsed.html).toMatch(/<pre class="code" data-run="node1" data-interrupt(="")?><code/);
    expect(parsed.html).toContain('&lt;b&gt;&amp;amp;');
    expect(parsed.html).toContain('<pre class="code"><code class="language-sh">echo not runnable</code></pre>');
    expect(parsed.html).toContain('class="callout callout-tip"');
    expect(parsed.html.match(/data-run=/g)).toHaveLength(3);
  });

  it('rejects a runnable block aimed past the lesson nodes', () => {
    const body = '\nText\n\n```sh run=node3\nhostname\n```\n';
    const found = errors(parseLesson(lesson('title: T\nsummary: S\nnodes: 2', body), FILE));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ file: FILE, line: 9 });
    expect(found[0]!.message).toMatch(/node3/);
  });

  it('rejects unknown code block options and run on a non-shell language', () => {
    expect(errors(parseLesson(lesson('title: T\nsummary: S', '```sh run fast\nls\n```\n'), FILE))[0]!.message).toMatch(/"fast"/);
    expect(errors(parseLesson(lesson('title: T\nsummary: S', '```python run\nprint(1)\n```\n'), FILE))[0]!.message).toMatch(/python/);
  });

  it('sanitises the HTML', () => {
    const body = [
      '<script>alert("x")</script>',
      '',
      '<p onclick="steal()">Click</p>',
      '',
      '<a href="javascript:alert(1)">bad link</a> and [good](https://docs.docker.com/)',
      '',
      '<pre class="code" data-run="node1"><code>rm -rf /</code></pre>',
      '',
      '<img src="x" onerror="alert(1)">',
    ].join('\n');
    const parsed = ok(parseLesson(lesson('title: T\nsummary: S', body), FILE));
    expect(parsed.html).not.toMatch(/<script/i);
    expect(parsed.html).not.toContain('alert("x")');
    expect(parsed.html).not.toMatch(/onclick|onerror/i);
    expect(parsed.html).not.toMatch(/javascript:/i);
    expect(parsed.html).toContain('<p>Click</p>');
    expect(parsed.html).toContain('<a href="https://docs.docker.com/" target="_blank" rel="noopener noreferrer">good</a>');
    // Raw HTML cannot pose as a runnable block.
    expect(parsed.html).not.toContain('data-run');
    expect(parsed.blocks).toEqual([]);
  });
});

describe('loadCatalogue', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function write(files: Record<string, string>): string {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-lessons-'));
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), text);
    }
    return dir;
  }

  it('orders modules and lessons by their number prefixes and strips them from ids', () => {
    const root = write({
      '02-images/module.yml': 'title: Images\nsummary: Build them\n',
      '02-images/01-layers/lesson.md': lesson('title: Layers\nsummary: L\nprerequisites: [containers/first-container]'),
      '01-containers/module.yml': 'title: Containers\nsummary: Run them\n',
      '01-containers/10-cleanup/lesson.md': lesson('title: Cleanup\nsummary: C'),
      '01-containers/02-first-container/lesson.md': lesson('title: First\nsummary: F\nminutes: 10'),
      '_drafts/notes.md': 'ignored',
    });
    const catalogue = loadCatalogue(root, { displayRoot: root });
    expect(catalogue.errors).toEqual([]);
    expect(catalogueSummary(catalogue).map((m) => [m.id, m.lessons.map((l) => l.id)])).toEqual([
      ['containers', ['containers/first-container', 'containers/cleanup']],
      ['images', ['images/layers']],
    ]);
    expect(catalogueSummary(catalogue)[0]!.lessons[0]).toMatchObject({ title: 'First', minutes: 10 });
  });

  it('collects errors from every file and keeps the valid lessons', () => {
    const root = write({
      '01-containers/module.yml': 'title: Containers\nsummary: Run them\n',
      '01-containers/01-good/lesson.md': lesson('title: Good\nsummary: G\nprerequisites: [containers/missing]'),
      '01-containers/02-bad/lesson.md': lesson('title: Bad\nsummary: B\ncolour: red'),
      '02-nomodule/01-x/lesson.md': lesson('title: X\nsummary: X'),
      'Misnamed/module.yml': 'title: M\nsummary: M\n',
    });
    const catalogue = loadCatalogue(root, { displayRoot: root });
    const messages = catalogue.errors.map(formatLessonError);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^01-containers\/02-bad\/lesson\.md:4 field "colour": unknown key/),
        expect.stringMatching(/^02-nomodule\/module\.yml:1 missing/),
        expect.stringMatching(/^Misnamed:1 /),
        expect.stringMatching(/^01-containers\/01-good\/lesson\.md:4 field "prerequisites": "containers\/missing"/),
      ]),
    );
    expect([...catalogue.lessons.keys()]).toEqual(['containers/good']);
  });
});

describe('the lessons in this repository', () => {
  it('parse without errors', () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const catalogue = loadCatalogue(path.join(root, 'lessons'), { displayRoot: root });
    expect(catalogue.errors.map(formatLessonError)).toEqual([]);
    const first = catalogue.lessons.get('containers/first-container');
    expect(first?.blocks[0]).toMatchObject({ node: 'node1', command: 'docker run hello-world', interrupt: false });
  });
});
