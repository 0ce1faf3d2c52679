import { Marked, type Token, type Tokens } from 'marked';
import sanitizeHtml from 'sanitize-html';
import { MAX_NODES } from './schema.ts';
import type { LessonError, RunnableBlock } from './types.ts';

export interface RenderedMarkdown {
  html: string;
  blocks: RunnableBlock[];
  errors: LessonError[];
}

export interface RenderOptions {
  file: string;
  /** Line of the file on which `markdown` starts (the body follows the front matter). */
  firstLine: number;
  /** Nodes the lesson's session has; runnable blocks aimed past it are errors. */
  nodes: number;
}

/** Languages whose blocks can be typed into a shell; `run` on anything else is an author mistake. */
const SHELL_LANGUAGES = new Set(['', 'sh', 'bash', 'shell', 'console', 'shell-session']);

type FenceInfo =
  | { kind: 'copy'; language: string }
  | { kind: 'run'; language: string; node: number; interrupt: boolean }
  | { kind: 'invalid'; message: string };

/**
 * Reads a fence's info string: the language, then options. `run` makes the block runnable in
 * node1, `run=nodeN` in nodeN, and `interrupt` sends Ctrl-C first.
 */
export function parseFenceInfo(info: string): FenceInfo {
  const words = info.trim().split(/\s+/).filter(Boolean);
  const language = words[0] && !/^(run|interrupt)\b/.test(words[0]) ? words.shift()! : '';
  let node: number | undefined;
  let interrupt = false;
  const unknown: string[] = [];
  for (const word of words) {
    const run = /^run(?:=(.*))?$/.exec(word);
    if (run) {
      const target = run[1];
      if (target === undefined) node = 1;
      else {
        const match = /^node([1-9]\d*)$/.exec(target);
        if (!match) return { kind: 'invalid', message: `"${word}" names no node; write run=node2 (node1 to node${MAX_NODES})` };
        node = Number(match[1]);
        if (node > MAX_NODES) return { kind: 'invalid', message: `"${word}": a session has at most node${MAX_NODES}` };
      }
    } else if (word === 'interrupt') interrupt = true;
    else unknown.push(word);
  }
  if (node === undefined) {
    if (interrupt) return { kind: 'invalid', message: '"interrupt" only works with "run"; write ```sh run interrupt' };
    return { kind: 'copy', language };
  }
  if (!SHELL_LANGUAGES.has(language)) {
    return { kind: 'invalid', message: `a "${language}" block cannot run: runnable blocks are typed into a shell, so mark them sh or bash` };
  }
  if (unknown.length > 0) {
    return { kind: 'invalid', message: `unknown code block option ${unknown.map((w) => `"${w}"`).join(', ')}; the options are run, run=nodeN and interrupt` };
  }
  return { kind: 'run', language, node, interrupt };
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

const CALLOUTS: Record<string, string> = { NOTE: 'Note', TIP: 'Tip', WARNING: 'Warning' };

/** Renders a lesson body to sanitised HTML and collects its runnable blocks. */
export function renderMarkdown(markdown: string, options: RenderOptions): RenderedMarkdown {
  const errors: LessonError[] = [];
  const blocks: RunnableBlock[] = [];
  const fences = findFences(markdown, options.firstLine);
  const runnable = new WeakMap<Tokens.Code, RunnableBlock>();
  // Only blocks this renderer produced may carry data-run; raw HTML in the markdown that imitates
  // one loses it during sanitising, so the page never offers a Run the block list does not know.
  const stamp = Math.random().toString(36).slice(2);

  const marked = new Marked({
    gfm: true,
    renderer: {
      code(token) {
        const block = runnable.get(token);
        const text = escapeHtml(token.text);
        if (!block) {
          const language = parseFenceInfo(token.lang ?? '');
          const lang = language.kind === 'copy' && language.language ? ` class="language-${escapeHtml(language.language)}"` : '';
          return `<pre class="code"><code${lang}>${text}</code></pre>\n`;
        }
        const interrupt = block.interrupt ? ' data-interrupt=""' : '';
        return `<pre class="code" data-run="${block.node}"${interrupt} data-stamp="${stamp}"><code class="language-sh">${text}</code></pre>\n`;
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
    },
  });

  const tokens = marked.lexer(markdown);
  let fenceIndex = 0;
  marked.walkTokens(tokens, (token: Token) => {
    if (token.type !== 'code') return;
    const code = token as Tokens.Code;
    if (code.codeBlockStyle === 'indented') return;
    const info = (code.lang ?? '').trim();
    // Pair with the next scanned fence that has the same info string.
    let line = options.firstLine;
    for (let i = fenceIndex; i < fences.length; i++) {
      if (fences[i]!.info === info) {
        line = fences[i]!.line;
        fenceIndex = i + 1;
        break;
      }
    }
    const parsed = parseFenceInfo(info);
    if (parsed.kind === 'invalid') {
      errors.push({ file: options.file, line, message: `code block: ${parsed.message}` });
      return;
    }
    if (parsed.kind === 'copy') return;
    if (parsed.node > options.nodes) {
      errors.push({
        file: options.file,
        line,
        message: `code block runs on node${parsed.node} but the lesson has ${options.nodes === 1 ? 'only node1' : `nodes node1..node${options.nodes}`}; raise "nodes" in the front matter or change run=node${parsed.node}`,
      });
      return;
    }
    if (code.text.trim() === '') {
      errors.push({ file: options.file, line, message: 'runnable code block is empty; add the command or drop "run"' });
      return;
    }
    const block: RunnableBlock = { node: `node${parsed.node}`, command: code.text, interrupt: parsed.interrupt, line };
    runnable.set(code, block);
    blocks.push(block);
  });

  const html = sanitize(marked.parser(tokens), stamp);
  return { html, blocks, errors };
}

function sanitize(html: string, stamp: string): string {
  return sanitizeHtml(html, {
    allowedTags: [
      'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'a', 'ul', 'ol', 'li', 'blockquote', 'pre', 'code', 'em',
      'strong', 'del', 's', 'hr', 'br', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'img', 'div', 'kbd',
      'sup', 'sub', 'details', 'summary', 'input', 'dl', 'dt', 'dd', 'abbr', 'mark',
    ],
    allowedAttributes: {
      a: ['href', 'title', 'target', 'rel'],
      img: ['src', 'alt', 'title', 'width', 'height'],
      pre: ['class', 'data-run', 'data-interrupt'],
      code: ['class'],
      div: ['class', 'role'],
      p: ['class'],
      th: ['align'],
      td: ['align'],
      ol: ['start'],
      input: ['type', 'checked', 'disabled'],
      abbr: ['title'],
    },
    allowedClasses: {
      pre: ['code'],
      code: ['language-*'],
      div: ['callout', 'callout-note', 'callout-tip', 'callout-warning'],
      p: ['callout-title'],
    },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowedSchemesByTag: { img: ['http', 'https'] },
    allowProtocolRelative: false,
    transformTags: {
      pre: (tagName, attribs) => {
        const { 'data-stamp': given, ...rest } = attribs;
        if (given !== stamp) {
          delete rest['data-run'];
          delete rest['data-interrupt'];
        }
        return { tagName, attribs: rest };
      },
      a: (tagName, attribs) => {
        // Links out of the lesson open beside it, so the terminal session is not navigated away.
        if (/^https?:/i.test(attribs.href ?? '')) return { tagName, attribs: { ...attribs, target: '_blank', rel: 'noopener noreferrer' } };
        const { target: _target, rel: _rel, ...rest } = attribs;
        return { tagName, attribs: rest };
      },
      input: (tagName, attribs) =>
        attribs.type === 'checkbox' ? { tagName, attribs: { ...attribs, disabled: '' } } : { tagName: 'span', attribs: {} },
    },
  });
}
