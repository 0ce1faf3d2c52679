// Entry point for Node code (the Vite plugin, the backend, lint tools). The browser app must not
// import this: it pulls in the markdown renderer and sanitiser. It gets lessons from virtual:lessons.
export * from './types.ts';
export * from './schema.ts';
export { parseLesson, splitFrontMatter, type ParsedLesson, type ParseResult } from './parse.ts';
export { renderMarkdown, parseFenceInfo, parsePortLink, isRelativeUrl, resolveReferences, stepSlug, type Reference, type FenceInfo } from './markdown.ts';
export * from './catalogue.ts';
