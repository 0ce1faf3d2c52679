import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configVariables, loadConfig, parseBytes, parseDuration } from '../../sandbox-backend/config.ts';

describe('config', () => {
  it('has working defaults', () => {
    const config = loadConfig({});
    expect(config.http.port).toBe(8080);
    expect(config.session.ttlMs).toBe(4 * 3600_000);
    expect(config.sandbox).toMatchObject({ memoryBytes: 1024 ** 3, cpus: 1, pids: 1000 });
    expect(config.pool.idle).toBe(2);
    expect(config.dbPath).toBe('.berth/berth.sqlite');
  });

  it('parses durations and sizes', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('4h')).toBe(14_400_000);
    expect(parseDuration('1500')).toBe(1500);
    expect(parseBytes('512m')).toBe(512 * 1024 ** 2);
    expect(parseBytes('1g')).toBe(1024 ** 3);
    expect(parseBytes('2GiB')).toBe(2 * 1024 ** 3);
    expect(() => parseDuration('soon')).toThrow(/not a duration/);
  });

  it('names every bad variable and its value', () => {
    expect(() => loadConfig({ PORT: 'eighty', BERTH_SESSION_TTL: 'forever', BERTH_SANDBOX_MEMORY: 'lots' })).toThrow(
      /PORT="eighty"[\s\S]*BERTH_SANDBOX_MEMORY="lots"[\s\S]*BERTH_SESSION_TTL="forever"[\s\S]*docs\/configuration\.md/,
    );
    expect(() => loadConfig({ BERTH_SESSION_TTL: '9h' })).toThrow(/BERTH_SESSION_TTL .* longer than BERTH_SESSION_TTL_MAX/);
    expect(() => loadConfig({ BERTH_POOL_IDLE: '5', BERTH_POOL_MAX: '2' })).toThrow(/BERTH_POOL_IDLE/);
    expect(() => loadConfig({ DOCKER_HOST: 'ssh://box' })).toThrow(/DOCKER_HOST/);
    expect(() => loadConfig({ BERTH_NAMESPACE: 'Has Spaces' })).toThrow(/BERTH_NAMESPACE/);
  });

  it('keeps an explicitly empty registry mirror', () => {
    expect(loadConfig({ BERTH_REGISTRY_MIRROR: '' }).sandbox.registryMirror).toBe('');
  });

  it('documents every variable in docs/configuration.md', () => {
    const doc = fs.readFileSync('docs/configuration.md', 'utf8');
    for (const variable of configVariables) expect(doc, variable).toContain(`\`${variable}\``);
  });
});
