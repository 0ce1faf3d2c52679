import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  lessonContent,
  loadCatalogue,
  parseFenceInfo,
  parseLesson,
  parsePortLink,
  resolveReferences,
  stepSlug,
} from '../../src/lib/lesson-format/index.ts';
import { errors, ok } from '../support/lesson-results.ts';

const FILE = 'lessons/01-x/01-y/lesson.md';
const lesson = (body: string, frontMatter = 'title: T\nsummary: S') => `---\n${frontMatter}\n---\n${body}`;
// Front matter "title: T\nsummary: S" takes lines 1-4, so a body's first line is line 5.


describe('fence info', () => {
  it('reads every block kind and its options', () => {
    expect(parseFenceInfo('sh run')).toEqual({ kind: 'run', language: 'sh', node: 1, interrupt: false });
    expect(parseFenceInfo('sh solution interrupt')).toEqual({ kind: 'solution', language: 'sh', node: 1, interrupt: true });
    expect(parseFenceInfo('sh solution=node3')).toMatchObject({ kind: 'solution', node: 3 });
    expect(parseFenceInfo('sh check')).toEqual({ kind: 'check', language: 'sh', node: 1, watch: false });
    expect(parseFenceInfo('bash check node=node2 watch')).toEqual({ kind: 'check', language: 'bash', node: 2, watch: true });
    expect(parseFenceInfo('check')).toMatchObject({ kind: 'check', language: '' });
    expect(parseFenceInfo('hint')).toEqual({ kind: 'hint' });
    expect(parseFenceInfo('quiz')).toEqual({ kind: 'quiz' });
    expect(parseFenceInfo('Dockerfile')).toEqual({ kind: 'copy', language: 'Dockerfile' });
  });

  it('explains misuse', () => {
    expect(parseFenceInfo('sh run check')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/either run, solution or check/) });
    expect(parseFenceInfo('sh check interrupt')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/interrupt/) });
    expect(parseFenceInfo('sh watch')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/check watch/) });
    expect(parseFenceInfo('sh check fast')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/"fast".*node=nodeN and watch/) });
    expect(parseFenceInfo('hint please')).toMatchObject({ kind: 'invalid' });
    expect(parseFenceInfo('md hint')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/```hint alone/) });
    expect(parseFenceInfo('python check')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/python/) });
    expect(parseFenceInfo('sh check node=node9')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/at most node5/) });
  });
});

describe('steps', () => {
  const body = [
    'Intro.', // 5
    '',
    '```sh run',
    'docker pull nginx', // 8
    '```',
    '',
    '## Start *the* `web` server', // 11
    '',
    '```sh run',
    'docker run -d --name web nginx',
    '```',
    '',
    '```sh check watch', // 17
    'docker ps | grep -q web || { echo "No web yet."; exit 1; }',
    '```',
    '',
    '```hint',
    'Use `--name`.',
    '```',
    '',
    '```hint',
    'Then **nginx**.',
    '```',
    '',
    '## Start the web server', // 29
    '',
    '```sh check node=node2', // 31
    'true',
    '```',
    '',
    '```sh solution interrupt',
    'docker rm -f web', // 36
    '```',
  ].join('\n');

  it('splits the body at ## headings into steps with unique ids', () => {
    const parsed = ok(parseLesson(lesson(body, 'title: T\nsummary: S\nnodes: 2'), FILE));
    // nodes: 2 adds a line, so everything below sits one line further down.
    expect(parsed.steps.map((step) => [step.id, step.title, step.line])).toEqual([
      ['start-the-web-server', 'Start the web server', 12],
      ['start-the-web-server-2', 'Start the web server', 30],
    ]);
    const [first, second] = parsed.steps;
    expect(first!.blocks).toEqual([
      { node: 'node1', command: 'docker run -d --name web nginx', interrupt: false, line: 14, kind: 'run', step: 'start-the-web-server' },
    ]);
    expect(first!.checks).toEqual([
      { step: 'start-the-web-server', node: 'node1', script: 'docker ps | grep -q web || { echo "No web yet."; exit 1; }', watch: true, line: 18 },
    ]);
    expect(first!.hints).toEqual(['<p>Use <code>--name</code>.</p>\n', '<p>Then <strong>nginx</strong>.</p>\n']);
    expect(second!.checks).toMatchObject([{ node: 'node2', watch: false, line: 32 }]);
    expect(second!.solutions).toEqual([
      { node: 'node1', command: 'docker rm -f web', interrupt: true, line: 36, kind: 'solution', step: 'start-the-web-server-2' },
    ]);
    // Replay order: everything runnable, intro first, in document order.
    expect(parsed.blocks.map((block) => [block.kind, block.step])).toEqual([
      ['run', undefined],
      ['run', 'start-the-web-server'],
      ['solution', 'start-the-web-server-2'],
    ]);
    expect(parsed.checks).toHaveLength(2);
  });

  it('renders steps as sections with slots for the page to fill', () => {
    const parsed = ok(parseLesson(lesson(body, 'title: T\nsummary: S\nnodes: 2'), FILE));
    expect(parsed.html).toMatch(/^<section class="intro">\n<p>Intro.<\/p>/);
    expect(parsed.html).toContain('<section class="step" id="step-start-the-web-server" data-step="start-the-web-server">\n<h2>Start <em>the</em> <code>web</code> server</h2>');
    expect(parsed.html).toContain('<div class="check-slot" data-check="start-the-web-server"></div>');
    expect(parsed.html.match(/class="check-slot"/g)).toHaveLength(2);
    expect(parsed.html).toContain('<div class="hint" data-hint="start-the-web-server"><p>Use <code>--name</code>.</p>');
    expect(parsed.html).toMatch(
      /<div class="solution" data-solution="start-the-web-server-2"><pre class="code" data-run="node1" data-interrupt(="")? data-kind="solution"><code class="language-sh">docker rm -f web<\/code><\/pre><\/div>/,
    );
    // The check's script is for the sandbox, not for the page.
    expect(parsed.html).not.toContain('No web yet');
  });

  it('requires checks, hints and solutions to be inside a step', () => {
    const found = errors(parseLesson(lesson('```sh check\ntrue\n```\n\n```hint\nx\n```\n\n```sh solution\nls\n```\n'), FILE));
    expect(found.map((e) => [e.line, e.message.split(':')[0]])).toEqual([
      [5, 'a check belongs to a step'],
      [9, 'a hint belongs to a step'],
      [13, 'a solution belongs to a step'],
    ]);
  });

  it('rejects empty checks and checks aimed past the lesson nodes', () => {
    const found = errors(parseLesson(lesson('## A\n\n```sh check\n```\n\n```sh check node=node3\ntrue\n```\n'), FILE));
    expect(found).toMatchObject([
      { line: 7, message: expect.stringMatching(/check is empty/) },
      { line: 10, message: expect.stringMatching(/node3.*only node1/) },
    ]);
  });

  it('makes slugs from headings', () => {
    expect(stepSlug('Hello, world!')).toBe('hello-world');
    expect(stepSlug('  Über `docker` & more ')).toBe('uber-docker-more');
  });

  it('gives headings without letters a numbered id', () => {
    const parsed = ok(parseLesson(lesson('## ???\n\nText.\n'), FILE));
    expect(parsed.steps[0]!.id).toBe('step-1');
  });

  it('strips data attributes that raw HTML uses to imitate slots', () => {
    const parsed = ok(
      parseLesson(
        lesson('<div class="check-slot" data-check="x"></div>\n\n<section class="step" id="main" data-step="x">hi</section>\n\n<a class="port-link" data-port="22">p</a>\n'),
        FILE,
      ),
    );
    expect(parsed.html).not.toMatch(/data-(check|step|port)=/);
    expect(parsed.html).not.toContain('id="main"');
  });
});

describe('quizzes', () => {
  it('parses the YAML and renders inline markdown', () => {
    const body = [
      '## Q',
      '',
      '```quiz',
      'question: Which flag keeps a container in the **background**?',
      'options:',
      '  - text: "`-d`"',
      '    correct: true',
      '    why: Detached.',
      '  - text: "`-it`"',
      '    why: Interactive.',
      '  - text: "`--detach`"',
      '    correct: true',
      'explanation: Both spell the same flag.',
      '```',
    ].join('\n');
    const parsed = ok(parseLesson(lesson(body), FILE));
    expect(parsed.quizzes).toEqual([
      {
        id: 'q-quiz-1',
        step: 'q',
        line: 7,
        questionHtml: 'Which flag keeps a container in the <strong>background</strong>?',
        options: [
          { html: '<code>-d</code>', correct: true, whyHtml: 'Detached.' },
          { html: '<code>-it</code>', correct: false, whyHtml: 'Interactive.' },
          { html: '<code>--detach</code>', correct: true },
        ],
        explanationHtml: 'Both spell the same flag.',
        multiple: true,
      },
    ]);
    expect(parsed.steps[0]!.quizzes).toEqual(['q-quiz-1']);
    expect(parsed.html).toContain('<div class="quiz-slot" data-quiz="q-quiz-1"></div>');
  });

  it('reports invalid quiz YAML at the line of the problem', () => {
    const body = ['## Q', '', '```quiz', 'question: Q?', 'options:', '  - text: a', '    corect: true', '  - text: b', '```'].join('\n');
    const found = errors(parseLesson(lesson(body), FILE));
    expect(found).toMatchObject([{ line: 11, field: 'quiz.options.0.corect', message: 'quiz: unknown key; did you mean "correct"?' }]);
  });

  it('needs a question, two options and a correct one', () => {
    expect(errors(parseLesson(lesson('## Q\n\n```quiz\noptions: []\n```\n'), FILE)).map((e) => e.field)).toEqual(
      expect.arrayContaining(['quiz.question', 'quiz.options']),
    );
    expect(errors(parseLesson(lesson('## Q\n\n```quiz\nquestion: Q\noptions:\n  - text: a\n  - text: b\n```\n'), FILE))[0]!.message).toMatch(/no option is correct/);
  });
});

describe('port links', () => {
  it('parses port, node and path', () => {
    expect(parsePortLink('port:8080')).toEqual({ node: 'node1', port: 8080, path: '/' });
    expect(parsePortLink('port:node2:80/api?x=1')).toEqual({ node: 'node2', port: 80, path: '/api?x=1' });
    expect(parsePortLink('port:0')).toBeUndefined();
    expect(parsePortLink('port:70000')).toBeUndefined();
    expect(parsePortLink('port:web')).toBeUndefined();
  });

  it('renders links the page completes with the session, and rejects bad ones', () => {
    const parsed = ok(parseLesson(lesson('See [the page](port:8080 "Welcome").\n', 'title: T\nsummary: S'), FILE));
    expect(parsed.html).toContain('<a class="port-link" data-node="node1" data-port="8080" data-path="/" title="Welcome">the page</a>');
    const found = errors(parseLesson(lesson('A [x](port:8080x)\n\nB [y](port:node3:80)\n\n![z](port:80)\n'), FILE));
    expect(found).toMatchObject([
      { line: 5, message: expect.stringMatching(/"port:8080x" is not a port link/) },
      { line: 7, message: expect.stringMatching(/node3/) },
      { line: 9, message: expect.stringMatching(/an image cannot come from a port/) },
    ]);
  });
});

describe('relative references', () => {
  const fixtures = path.resolve(import.meta.dirname, 'fixtures/lint');

  it('records relative links and images with their lines and leaves others alone', () => {
    const parsed = ok(parseLesson(lesson('![a](img/box.svg)\n\n[b](../02-next/#part) [c](https://docs.docker.com/) [d](#top) [e](/lessons/x/y)\n'), FILE));
    expect(parsed.references).toEqual([
      { index: 0, path: 'img/box.svg', fragment: '', kind: 'image', line: 5 },
      { index: 1, path: '../02-next/', fragment: '#part', kind: 'link', line: 7 },
    ]);
    expect(parsed.html).toContain('<img src="berth-ref:0" alt="a" />');
    expect(parsed.html).toContain('<a href="berth-ref:1">b</a>');
    expect(parsed.html).toContain('<a href="#top">d</a>');
    expect(resolveReferences(parsed.html, ['/assets/box-1a2b.svg', '/lessons/m/next#part'])).toContain('<img src="/assets/box-1a2b.svg" alt="a" />');
  });

  it('resolves them against the lesson folder: assets, other lessons, broken ones', () => {
    const catalogue = loadCatalogue(fixtures, { displayRoot: fixtures });
    const good = catalogue.lessons.get('basics/good')!;
    expect(good.targets).toEqual([
      { kind: 'asset', file: path.join(fixtures, '01-basics/01-good/diagram.svg') },
      { kind: 'lesson', id: 'basics/no-checks' },
      { kind: 'asset', file: path.join(fixtures, '01-basics/01-good/files/app/hello.txt') },
    ]);
    const content = lessonContent(catalogue, good);
    expect(content.html).toContain('<a href="/lessons/basics/no-checks">the next lesson</a>');
    expect(content.html).toContain('href="files/app/hello.txt#top"');
    expect(lessonContent(catalogue, good, { keepPlaceholders: true }).html).toContain('src="berth-ref:0"');
    const broken = catalogue.lessons.get('basics/lint-problems')!;
    expect(broken.targets.map((target) => target.kind)).toEqual(['broken', 'broken', 'broken']);
  });

  it('reads files/ with paths, contents and the executable bit', () => {
    const catalogue = loadCatalogue(fixtures, { displayRoot: fixtures });
    const content = lessonContent(catalogue, catalogue.lessons.get('basics/good')!);
    expect(content.files).toEqual([
      { path: 'app/hello.txt', base64: Buffer.from('hello from files\n').toString('base64'), executable: false },
      { path: 'app/run.sh', base64: Buffer.from('#!/bin/sh\necho run me\n').toString('base64'), executable: true },
    ]);
    expect(content.setup).toEqual(['docker pull nginx']);
    expect(content.checkedSteps).toEqual(['start-the-web-server', 'your-turn']);
    expect(content.quizzes.map((quiz) => quiz.id)).toEqual(['your-turn-quiz-1']);
  });
});
