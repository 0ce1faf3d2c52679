// The bench's summary statistics and the pure helpers its measurements rest on: if one of these
// changed meaning, results from different runs would silently stop being comparable.
import { describe, expect, it } from 'vitest';
import { base64OutputBytes } from '../bench/measure-terminal.ts';
import { dynamicImports, initialScripts, staticImports } from '../bench/measure-ui.ts';
import { meets, median, percentile, ratio, summarize } from '../bench/stats.ts';
import { stripEscapes } from '../bench/tty.ts';

describe('median', () => {
  it('takes the middle of an odd count and the mean of the middle two of an even one', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('does not reorder its input', () => {
    const samples = [3, 1, 2];
    median(samples);
    expect(samples).toEqual([3, 1, 2]);
  });

  it('refuses no samples', () => {
    expect(() => median([])).toThrow(/no samples/);
  });
});

describe('percentile (nearest rank)', () => {
  it('is always an observed sample', () => {
    const samples = [10, 20, 30, 40, 50];
    expect(percentile(samples, 95)).toBe(50);
    expect(percentile(samples, 50)).toBe(30);
    expect(percentile(samples, 20)).toBe(10);
    expect(percentile(samples, 21)).toBe(20);
  });

  it('puts the p95 of 100 samples at the 95th smallest', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(samples, 95)).toBe(95);
    expect(percentile(samples, 100)).toBe(100);
  });

  it('of one sample is that sample', () => {
    expect(percentile([42], 95)).toBe(42);
  });

  it('rejects percentiles outside (0, 100]', () => {
    expect(() => percentile([1], 0)).toThrow();
    expect(() => percentile([1], 101)).toThrow();
  });
});

describe('summarize', () => {
  it('reports n, median, p95, min, max and mean, ignoring non-finite samples', () => {
    expect(summarize([4, 2, Number.NaN, 6, Number.POSITIVE_INFINITY, 8])).toEqual({ n: 4, median: 5, p95: 8, min: 2, max: 8, mean: 5 });
  });

  it('refuses an empty series rather than reporting zeros', () => {
    expect(() => summarize([Number.NaN])).toThrow();
  });
});

describe('targets', () => {
  it('compares medians to the floor', () => {
    expect(ratio(summarize([150, 150]), summarize([100, 100]))).toBe(1.5);
    expect(ratio(summarize([1]), summarize([0]))).toBe(Number.POSITIVE_INFINITY);
  });

  it('treats the limit itself as met', () => {
    expect(meets(1.5, 1.5, 'at-most')).toBe(true);
    expect(meets(1.51, 1.5, 'at-most')).toBe(false);
    expect(meets(30, 30, 'at-least')).toBe(true);
    expect(meets(29.9, 30, 'at-least')).toBe(false);
  });
});

describe('terminal output matching', () => {
  it('removes the escape sequences tmux, dtach and readline emit, keeping the text', () => {
    const raw = '\x1bc\x1b[?2004h\x1b]0;root@node1: ~\x07\x1b[01;32mroot@node1\x1b[00m:\x1b[01;34m~\x1b[00m# \x1b(B\x1b[K';
    expect(stripEscapes(raw)).toBe('root@node1:~# ');
  });

  it('sizes base64 output with its 76-column lines', () => {
    expect(base64OutputBytes(3)).toBe(5);
    expect(base64OutputBytes(57)).toBe(77);
    expect(base64OutputBytes(58)).toBe(82);
    // As `head -c 50000000 /dev/zero | base64 | wc -c` counts it.
    expect(base64OutputBytes(50_000_000)).toBe(67_543_861);
  });
});

describe('initial JavaScript of a vite build', () => {
  it('finds module scripts and modulepreloads in index.html, not styles or remote scripts', () => {
    const html = `<script type="module" crossorigin src="/assets/index-A.js"></script>
      <link rel="modulepreload" crossorigin href="/assets/vendor-B.js">
      <link rel="stylesheet" href="/assets/index-C.css">
      <script src="https://example.com/x.js"></script>`;
    expect(initialScripts(html)).toEqual(['assets/index-A.js', 'assets/vendor-B.js']);
  });

  it('tells static imports from lazy ones in minified chunks', () => {
    const code = 'import{a as b}from"./vendor-B.js";import"./side-C.js";export{x}from"./re-D.js";const p=()=>import("./Lazy-E.js"),q=()=>import(`./Lazy-F.js`);';
    expect(staticImports(code).sort()).toEqual(['./re-D.js', './side-C.js', './vendor-B.js']);
    expect(dynamicImports(code).sort()).toEqual(['./Lazy-E.js', './Lazy-F.js']);
  });
});
