/** Unwraps a parse result in tests, failing with the parser's own messages when it is the wrong kind. */
import { formatLessonError, type ParseResult } from '../../src/lib/lesson-format/index.ts';

export function ok(result: ParseResult) {
  if (!result.ok) throw new Error(`expected a valid lesson, got:\n${result.errors.map(formatLessonError).join('\n')}`);
  return result.lesson;
}

export function errors(result: ParseResult) {
  if (result.ok) throw new Error('expected errors, the lesson parsed');
  return result.errors;
}
