import { Marked, type Token, type Tokens, type TokensList } from 'marked';
import sanitizeHtml from 'sanitize-html';
import { z } from 'zod';
import { MAX_NODES } from './schema.ts';
import type { CheckBlock, LessonError, LessonStep, Quiz, RunnableBlock } from './types.ts';
import { parseYamlFields } from './yaml-fields.ts';

/** A relative link or image in the body; its URL is only known once the lesson's folder is looked at. */
export interface Reference {
  /** Position in the list; the HTML holds `berth-ref:<index>` where the URL goes. */
  index: number;
  /** The path as written, without its `#fragment`. */
  path: string;
  /** `#...` or empty. */
  fragment: string;
  kind: 'image' | 'link';
  line: number;
}

export interface RenderedMarkdown {
  html: string;
  /** `run` and `solution` blocks in document order. */
  blocks: RunnableBlock[];
  steps: LessonStep[];
  checks: CheckBlock[];
  quizzes: Quiz[];
  references: Reference[];
  errors: LessonError[];
}

export interface RenderOptions {
  file: string;
  /** Line of the file on which `markdown` starts (the body follows the front matter). */
  firstLine: number;
  /** Nodes the lesson's session has; blocks aimed past it are errors. */
  nodes: number;
}

/** Languages whose blocks can be typed into a shell or run with bash; anything else is an author mistake. */
const SHELL_LANGUAGES = new Set(['', 'sh', 'bash', 'shell', 'console', 'shell-session']);

type Role = 'run' | 'solution' | 'check';

export type FenceInfo =
  | { kind: 'copy'; language: string }
  | { kind: 'run' | 'solution'; language: string; node: number; interrupt: boolean }
  | { kind: 'check'; language: string; node: number; watch: boolean }
  | { kind: 'hint' }
  | { kind: 'quiz' }
  | { kind: 'invalid'; message: string };

const OPTION_WORD = /^(run|solution|check|interrupt|watch|node)(=|$)/;

/**
 * Reads a fence's info string: the language, then options. `run` makes the block runnable in
 * node1 (`run=nodeN` elsewhere), `solution` hides it behind "Show solution", `check` makes it the
 * step's check (`node=nodeN`, `watch`), `interrupt` sends Ctrl-C first. `hint` and `quiz` are
 * block types of their own.
 */
export function parseFenceInfo(info: string): FenceInfo {
  const words = info.trim().split(/\s+/).filter(Boolean);
  if (words[0] === 'hint' || words[0] === 'quiz') {
    const kind = words[0];
    if (words.length > 1) return { kind: 'invalid', message: `a ${kind} block takes no options; write \`\`\`${kind} alone` };
    return { kind };
  }
  const language = words[0] && !OPTION_WORD.test(words[0]) ? words.shift()! : '';
  let role: Role | undefined;
  let node: number | undefined;
  let interrupt = false;
  let watch = false;
  const unknown: string[] = [];
  for (const word of words) {
    const option = /^(run|solution|check|node)(?:=(.*))?$/.exec(word);
    if (option) {
      const [, name, target] = option as unknown as [string, 'run' | 'solution' | 'check' | 'node', string | undefined];
      if (name !== 'node') {
        if (role && role !== name) return { kind: 'invalid', message: `a block is either run, solution or check, not both "${role}" and "${name}"` };
        role = name;
      }
      if (name === 'node' && target === undefined) return { kind: 'invalid', message: '"node" needs a machine: write node=node2' };
      if (target !== undefined) {
        const match = /^node([1-9]\d*)$/.exec(target);
        if (!match) return { kind: 'invalid', message: `"${word}" names no node; write ${name}=node2 (node1 to node${MAX_NODES})` };
        node = Number(match[1]);
        if (node > MAX_NODES) return { kind: 'invalid', message: `"${word}": a session has at most node${MAX_NODES}` };
      }
    } else if (word === 'interrupt') interrupt = true;
    else if (word === 'watch') watch = true;
    else unknown.push(word);
  }
  if (!role) {
    const misplaced = unknown.find((word) => word === 'hint' || word === 'quiz');
    if (misplaced) return { kind: 'invalid', message: `a ${misplaced} block has no language; write \`\`\`${misplaced} alone` };
    if (interrupt) return { kind: 'invalid', message: '"interrupt" only works with "run" or "solution"; write ```sh run interrupt' };
    if (watch) return { kind: 'invalid', message: '"watch" only works with "check"; write ```sh check watch' };
    if (node !== undefined) return { kind: 'invalid', message: '"node=" only works with run, solution or check; write ```sh run=node2' };
    return { kind: 'copy', language };
  }
  if (!SHELL_LANGUAGES.has(language)) {
    return {
      kind: 'invalid',
      message: `a "${language}" block cannot be a ${role}: ${role === 'check' ? 'checks run with bash' : 'these blocks are typed into a shell'}, so mark it sh or bash`,
    };
  }
  if (unknown.length > 0) {
    return {
      kind: 'invalid',
      message: `unknown code block option ${unknown.map((w) => `"${w}"`).join(', ')}; the options are ${role === 'check' ? 'node=nodeN and watch' : `${role}=nodeN and interrupt`}`,
    };
  }
  if (role === 'check') {
    if (interrupt) return { kind: 'invalid', message: '"interrupt" does not apply to a check: checks run beside the terminal, not in it' };
    return { kind: 'check', language, node: node ?? 1, watch };
  }
  if (watch) return { kind: 'invalid', message: '"watch" only works with "check"' };
  return { kind: role, language, node: node ?? 1, interrupt };
}

interface Fence {
  line: number;
  info: string;
}

/**
 * Finds the opening line of every fenced code block. marked does not report positions, so the
 * fences are located here and paired, in document order, with marked's code tokens.
 */
function findFences(markdown: string, firstLine: number): Fence[] {
  const fences: Fence[] = [];
  let open: { char: string; length: number } | undefined;
  markdown.split('\n').forEach((rawLine, index) => {
    // Fences inside block quotes and list items are still fences.
    let line = rawLine;
    for (;;) {
      const stripped = line.replace(/^ {0,3}>\s?/, '').replace(/^\s*(?:[-*+]|\d+[.)])\s+(?=[`~]{3})/, '');
      if (stripped === line) break;
      line = stripped;
    }
    const match = /^\s*(`{3,}|~{3,})(.*)$/.exec(line);
    if (!match) return;
    const marker = match[1]!;
    const rest = match[2]!;
    if (open) {
      if (marker[0] === open.char && marker.length >= open.length && rest.trim() === '') open = undefined;
      return;
    }
    if (marker[0] === '`' && rest.includes('`')) return;
    open = { char: marker[0]!, length: marker.length };
    fences.push({ line: firstLine + index, info: rest.trim() });
  });
  return fences;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A heading's text as a reader sees it, without markdown punctuation. */
function plainText(tokens: Token[] | undefined): string {
  return (tokens ?? [])
    .map((token) => {
      if ('tokens' in token && Array.isArray(token.tokens) && token.tokens.length > 0) return plainText(token.tokens);
      if (token.type === 'html') return '';
      return 'text' in token && typeof token.text === 'string' ? token.text : '';
    })
    .join('')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'");
}

/** `Running in the background` -> `running-in-the-background`. */
export function stepSlug(title: string): string {
  return title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

const quizSchema = z.strictObject({
  question: z.string({ error: 'must be the question as text, e.g. question: Which command lists stopped containers?' }).trim().min(1, { error: 'must not be empty' }),
  options: z
    .array(
      z.strictObject({
        text: z.string({ error: 'each option needs a text, e.g. - text: docker ps -a' }).trim().min(1, { error: 'must not be empty' }),
        correct: z.boolean({ error: 'must be true or false' }).default(false),
        why: z.string({ error: 'must be text' }).trim().min(1, { error: 'must not be empty; leave "why" out instead' }).optional(),
      }),
      { error: 'must be a list of options, each "- text: ..." with "correct: true" on the right ones' },
    )
    .min(2, { error: 'a quiz needs at least two options' }),
  explanation: z.string({ error: 'must be text' }).trim().min(1, { error: 'must not be empty; leave "explanation" out instead' }).optional(),
});
const quizKeys = Object.keys(quizSchema.shape);
const quizOptionKeys = ['text', 'correct', 'why'];

const PORT_LINK = /^port:(?:(node[1-9]\d*):)?(\d{1,5})(\/[^\s]*)?$/i;

/** Parses `port:8080`, `port:node2:8080` or `port:8080/some/path`; undefined when malformed. */
export function parsePortLink(href: string): { node: string; port: number; path: string } | undefined {
  const match = PORT_LINK.exec(href);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  return { node: (match[1] ?? 'node1').toLowerCase(), port, path: match[3] ?? '/' };
}

/** True for URLs that point into the lesson's folder (or a sibling lesson's). */
export function isRelativeUrl(href: string): boolean {
  return href !== '' && !/^[a-z][a-z0-9+.-]*:/i.test(href) && !href.startsWith('/') && !href.startsWith('#');
}

const CALLOUTS: Record<string, string> = { NOTE: 'Note', TIP: 'Tip', WARNING: 'Warning' };

/** Renders markdown that needs none of the lesson features: hint bodies, quiz texts. */
const plain = new Marked({
  gfm: true,
  renderer: {
    code(token) {
      return `<pre class="code"><code>${escapeHtml(token.text)}</code></pre>\n`;
    },
  },
});

interface Section {
  step?: LessonStep;
  tokens: Token[];
}

/**
 * Renders a lesson body to sanitised HTML and collects what the page and the tools act on:
 * steps, runnable blocks, checks, hints, solutions, quizzes and relative references.
 */
export function renderMarkdown(markdown: string, options: RenderOptions): RenderedMarkdown {
  const errors: LessonError[] = [];
  const blocks: RunnableBlock[] = [];
  const checks: CheckBlock[] = [];
  const quizzes: Quiz[] = [];
  const steps: LessonStep[] = [];
  const references: Reference[] = [];
  const fences = findFences(markdown, options.firstLine);
  const error = (line: number, message: string) => errors.push({ file: options.file, line, message });
  const lineAt = (offset: number) => options.firstLine + (markdown.slice(0, Math.max(0, offset)).match(/\n/g)?.length ?? 0);

  // What the walk decided about each token, for the renderer to draw.
  const runnable = new WeakMap<Tokens.Code, RunnableBlock>();
  const checkSlots = new WeakMap<Tokens.Code, { step: string; first: boolean }>();
  const hintSlots = new WeakMap<Tokens.Code, { step: string; html: string }>();
  const quizSlots = new WeakMap<Tokens.Code, Quiz>();
  const refs = new WeakMap<Tokens.Link | Tokens.Image, Reference>();
  // Only elements this renderer produced may carry data-* attributes: raw HTML in the markdown
  // that imitates one loses them during sanitising, so the page never offers a Run, a Check or
  // a quiz that the lesson's data does not know.
  const stamp = Math.random().toString(36).slice(2);
  const stamped = `data-stamp="${stamp}"`;

  const marked = new Marked({
    gfm: true,
    renderer: {
      code(token) {
        const block = runnable.get(token);
        const text = escapeHtml(token.text);
        if (block) {
          const interrupt = block.interrupt ? ' data-interrupt=""' : '';
          const kind = block.kind === 'solution' ? ' data-kind="solution"' : '';
          const pre = `<pre class="code" data-run="${block.node}"${interrupt}${kind} ${stamped}><code class="language-sh">${text}</code></pre>`;
          if (block.kind === 'run') return `${pre}\n`;
          return `<div class="solution" data-solution="${escapeHtml(block.step ?? '')}" ${stamped}>${pre}</div>\n`;
        }
        const check = checkSlots.get(token);
        if (check) return check.first ? `<div class="check-slot" data-check="${escapeHtml(check.step)}" ${stamped}></div>\n` : '';
        const hint = hintSlots.get(token);
        if (hint) return `<div class="hint" data-hint="${escapeHtml(hint.step)}" ${stamped}>${hint.html}</div>\n`;
        const quiz = quizSlots.get(token);
        if (quiz) return `<div class="quiz-slot" data-quiz="${escapeHtml(quiz.id)}" ${stamped}></div>\n`;
        const language = parseFenceInfo(token.lang ?? '');
        // Invalid, hint and quiz blocks that failed to parse still show their text, so a lesson
        // with errors in dev mode is readable while the author fixes it.
        const lang = language.kind === 'copy' && language.language ? ` class="language-${escapeHtml(language.language)}"` : '';
        return `<pre class="code"><code${lang}>${text}</code></pre>\n`;
      },
      blockquote({ tokens }) {
        const inner = this.parser.parse(tokens);
        const callout = /^<p>\[!(NOTE|TIP|WARNING)\]\s*/.exec(inner);
        if (!callout) return `<blockquote>\n${inner}</blockquote>\n`;
        const kind = callout[1]!;
        const rest = inner.slice(callout[0].length).replace(/^<\/p>\n?/, '');
        const body = rest.startsWith('<') || rest === '' ? rest : `<p>${rest}`;
        return `<div class="callout callout-${kind.toLowerCase()}" role="note"><p class="callout-title">${CALLOUTS[kind]}</p>\n${body}</div>\n`;
      },
      link(token) {
        const inner = this.parser.parseInline(token.tokens);
        const title = token.title ? ` title="${escapeHtml(token.title)}"` : '';
        const port = parsePortLink(token.href);
        if (port) {
          return `<a class="port-link" data-node="${port.node}" data-port="${port.port}" data-path="${escapeHtml(port.path)}"${title} ${stamped}>${inner}</a>`;
        }
        const ref = refs.get(token);
        const href = ref ? `berth-ref:${ref.index}` : token.href;
        return `<a href="${escapeHtml(href)}"${title}>${inner}</a>`;
      },
      image(token) {
        const ref = refs.get(token);
        const src = ref ? `berth-ref:${ref.index}` : token.href;
        const title = token.title ? ` title="${escapeHtml(token.title)}"` : '';
        return `<img src="${escapeHtml(src)}" alt="${escapeHtml(token.text)}"${title}>`;
      },
    },
  });

  const tokens = marked.lexer(markdown);

  // Split the body at its `##` headings: each section is a step; what comes before is the intro.
  const sections: Section[] = [{ tokens: [] }];
  const usedIds = new Map<string, number>();
  let offset = 0;
  const topOffsets = new Map<Token, number>();
  for (const token of tokens) {
    const found = markdown.indexOf(token.raw, offset);
    const at = found < 0 ? offset : found;
    topOffsets.set(token, at);
    if (found >= 0) offset = found + token.raw.length;
    if (token.type === 'heading' && (token as Tokens.Heading).depth === 2) {
      const heading = token as Tokens.Heading;
      const title = plainText(heading.tokens).trim();
      const base = stepSlug(title) || `step-${steps.length + 1}`;
      const seen = usedIds.get(base) ?? 0;
      usedIds.set(base, seen + 1);
      const step: LessonStep = {
        id: seen === 0 ? base : `${base}-${seen + 1}`,
        title,
        line: lineAt(at),
        blocks: [],
        checks: [],
        hints: [],
        solutions: [],
        quizzes: [],
      };
      steps.push(step);
      sections.push({ step, tokens: [token] });
    } else {
      sections.at(-1)!.tokens.push(token);
    }
  }

  let fenceIndex = 0;
  const fenceLine = (info: string) => {
    // Pair with the next scanned fence that has the same info string.
    for (let i = fenceIndex; i < fences.length; i++) {
      if (fences[i]!.info === info) {
        fenceIndex = i + 1;
        return fences[i]!.line;
      }
    }
    return options.firstLine;
  };
  const nodeProblem = (node: number) =>
    node > options.nodes
      ? `runs on node${node} but the lesson has ${options.nodes === 1 ? 'only node1' : `nodes node1..node${options.nodes}`}; raise "nodes" in the front matter or aim it at another node`
      : undefined;

  for (const section of sections) {
    const step = section.step;
    let searchFrom = 0;
    let quizCount = 0;
    marked.walkTokens(section.tokens, (token: Token) => {
      if (topOffsets.has(token)) searchFrom = topOffsets.get(token)!;
      if (token.type === 'link' || token.type === 'image') {
        const link = token as Tokens.Link | Tokens.Image;
        const found = markdown.indexOf(link.raw, searchFrom);
        const line = lineAt(found < 0 ? searchFrom : found);
        if (found >= 0) searchFrom = found + link.raw.length;
        if (/^port:/i.test(link.href)) {
          const port = parsePortLink(link.href);
          if (token.type === 'image') error(line, `an image cannot come from a port; link to it instead: [text](${link.href})`);
          else if (!port) error(line, `"${link.href}" is not a port link; write port:8080 or port:node2:8080 (a port from 1 to 65535)`);
          else if (nodeProblem(Number(port.node.slice(4)))) error(line, `port link ${nodeProblem(Number(port.node.slice(4)))}`);
          return;
        }
        if (!isRelativeUrl(link.href)) return;
        const hash = link.href.indexOf('#');
        const reference: Reference = {
          index: references.length,
          path: hash < 0 ? link.href : link.href.slice(0, hash),
          fragment: hash < 0 ? '' : link.href.slice(hash),
          kind: token.type,
          line,
        };
        references.push(reference);
        refs.set(link, reference);
        return;
      }
      if (token.type !== 'code') return;
      const code = token as Tokens.Code;
      if (code.codeBlockStyle === 'indented') return;
      const info = (code.lang ?? '').trim();
      const line = fenceLine(info);
      const parsed = parseFenceInfo(info);
      switch (parsed.kind) {
        case 'invalid':
          error(line, `code block: ${parsed.message}`);
          return;
        case 'copy':
          return;
        case 'run':
        case 'solution': {
          const problem = nodeProblem(parsed.node);
          if (problem) return void error(line, `code block ${problem}`);
          if (code.text.trim() === '') return void error(line, `${parsed.kind} block is empty; add the commands or remove the block`);
          if (parsed.kind === 'solution' && !step) return void error(line, 'a solution belongs to a step: put it below the step\'s "## " heading');
          const block: RunnableBlock = {
            node: `node${parsed.node}`,
            command: code.text,
            interrupt: parsed.interrupt,
            line,
            kind: parsed.kind,
            ...(step ? { step: step.id } : {}),
          };
          runnable.set(code, block);
          blocks.push(block);
          step?.blocks.push(block);
          if (parsed.kind === 'solution') step?.solutions.push(block);
          return;
        }
        case 'check': {
          const problem = nodeProblem(parsed.node);
          if (problem) return void error(line, `check ${problem}`);
          if (!step) return void error(line, 'a check belongs to a step: put it below the step\'s "## " heading');
          if (code.text.trim() === '') return void error(line, 'check is empty; write a script that exits 0 when the step is done');
          const check: CheckBlock = { step: step.id, node: `node${parsed.node}`, script: code.text, watch: parsed.watch, line };
          checkSlots.set(code, { step: step.id, first: step.checks.length === 0 });
          step.checks.push(check);
          checks.push(check);
          return;
        }
        case 'hint': {
          if (!step) return void error(line, 'a hint belongs to a step: put it below the step\'s "## " heading');
          if (code.text.trim() === '') return void error(line, 'hint is empty; write the hint or remove the block');
          const html = plain.parse(code.text, { async: false });
          hintSlots.set(code, { step: step.id, html });
          step.hints.push(sanitize(html, stamp));
          return;
        }
        case 'quiz': {
          const result = parseYamlFields(code.text, quizSchema, quizKeys, options.file, line + 1, (at) =>
            at[0] === 'options' && typeof at[1] === 'number' ? quizOptionKeys : undefined,
          );
          if (!result.ok) {
            for (const problem of result.errors) errors.push({ ...problem, field: problem.field && `quiz.${problem.field}`, message: `quiz: ${problem.message}` });
            return;
          }
          const data = result.data;
          const correct = data.options.filter((option) => option.correct).length;
          if (correct === 0) return void error(line, 'quiz: no option is correct; add "correct: true" to the right one(s)');
          quizCount++;
          const inline = (text: string) => sanitize(plain.parseInline(text, { async: false }), stamp);
          const quiz: Quiz = {
            id: `${step?.id ?? 'intro'}-quiz-${quizCount}`,
            ...(step ? { step: step.id } : {}),
            line,
            questionHtml: inline(data.question),
            options: data.options.map((option) => ({
              html: inline(option.text),
              correct: option.correct,
              ...(option.why ? { whyHtml: inline(option.why) } : {}),
            })),
            ...(data.explanation ? { explanationHtml: inline(data.explanation) } : {}),
            multiple: correct > 1,
          };
          quizSlots.set(code, quiz);
          quizzes.push(quiz);
          step?.quizzes.push(quiz.id);
          return;
        }
      }
    });
  }

  const html = sections
    .map((section) => {
      const list = Object.assign([...section.tokens], { links: tokens.links }) as TokensList;
      const inner = marked.parser(list);
      if (!section.step) return inner.trim() === '' ? '' : `<section class="intro">\n${inner}</section>\n`;
      const id = escapeHtml(section.step.id);
      return `<section class="step" id="step-${id}" data-step="${id}" ${stamped}>\n${inner}</section>\n`;
    })
    .join('');
  return { html: sanitize(html, stamp), blocks, steps, checks, quizzes, references, errors };
}

/** Drops data-* attributes from elements this renderer did not produce (see `stamp`). */
function keepStamped(stamp: string) {
  return (tagName: string, attribs: sanitizeHtml.Attributes) => {
    const { 'data-stamp': given, ...rest } = attribs;
    if (given !== stamp) for (const name of Object.keys(rest)) if (name.startsWith('data-')) delete rest[name];
    return { tagName, attribs: rest };
  };
}

/** Replaces each `berth-ref:<n>` placeholder in `html` by `urls[n]`. */
export function resolveReferences(html: string, urls: readonly string[]): string {
  return html.replace(/(src|href)="berth-ref:(\d+)"/g, (whole, attribute: string, index: string) => {
    const url = urls[Number(index)];
    return url === undefined ? whole : `${attribute}="${escapeHtml(url)}"`;
  });
}

function sanitize(html: string, stamp: string): string {
  const stamped = keepStamped(stamp);
  return sanitizeHtml(html, {
    allowedTags: [
      'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'a', 'ul', 'ol', 'li', 'blockquote', 'pre', 'code', 'em',
      'strong', 'del', 's', 'hr', 'br', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'img', 'div', 'kbd',
      'sup', 'sub', 'details', 'summary', 'input', 'dl', 'dt', 'dd', 'abbr', 'mark', 'section',
    ],
    allowedAttributes: {
      a: ['href', 'title', 'target', 'rel', 'class', 'data-node', 'data-port', 'data-path'],
      img: ['src', 'alt', 'title', 'width', 'height'],
      pre: ['class', 'data-run', 'data-interrupt', 'data-kind'],
      code: ['class'],
      div: ['class', 'role', 'data-check', 'data-hint', 'data-solution', 'data-quiz'],
      section: ['class', 'id', 'data-step'],
      p: ['class'],
      th: ['align'],
      td: ['align'],
      ol: ['start'],
      input: ['type', 'checked', 'disabled'],
      abbr: ['title'],
    },
    allowedClasses: {
      a: ['port-link'],
      pre: ['code'],
      code: ['language-*'],
      div: ['callout', 'callout-note', 'callout-tip', 'callout-warning', 'check-slot', 'hint', 'solution', 'quiz-slot'],
      section: ['step', 'intro'],
      p: ['callout-title'],
    },
    allowedSchemes: ['http', 'https', 'mailto', 'berth-ref'],
    allowedSchemesByTag: { img: ['http', 'https', 'berth-ref'] },
    allowProtocolRelative: false,
    transformTags: {
      pre: stamped,
      div: stamped,
      section: (tagName, attribs) => {
        const result = stamped(tagName, attribs);
        // Ids belong to steps; an id in raw HTML could clash with the page's own.
        if (attribs['data-stamp'] !== stamp) delete result.attribs.id;
        return result;
      },
      a: (tagName, attribs) => {
        const { attribs: rest } = stamped(tagName, attribs);
        // Links out of the lesson open beside it, so the terminal session is not navigated away.
        if (/^https?:/i.test(rest.href ?? '')) return { tagName, attribs: { ...rest, target: '_blank', rel: 'noopener noreferrer' } };
        const { target: _target, rel: _rel, ...local } = rest;
        if (local['data-port'] === undefined && local.class === 'port-link') delete local.class;
        return { tagName, attribs: local };
      },
      input: (tagName, attribs) =>
        attribs.type === 'checkbox' ? { tagName, attribs: { ...attribs, disabled: '' } } : { tagName: 'span', attribs: {} },
    },
  });
}
