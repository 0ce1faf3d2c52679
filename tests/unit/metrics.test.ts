import { describe, expect, it } from 'vitest';
import { Counter, Gauge, Histogram, Registry } from '../../sandbox-backend/metrics.ts';

describe('Prometheus metrics', () => {
  it('renders counters, gauges and histograms in the text format', () => {
    const registry = new Registry();
    const ended = registry.add(new Counter('berth_sessions_ended_total', 'Sessions that ended.'));
    ended.inc({ reason: 'expired' });
    ended.inc({ reason: 'expired' });
    ended.inc({ reason: 'say "hi"\n' });
    registry.add(new Gauge('berth_sessions', 'Live sessions.', () => 3));
    const start = registry.add(new Histogram('berth_session_start_seconds', 'Start time.', [0.1, 1]));
    start.observe(0.05);
    start.observe(0.5);
    start.observe(4);
    expect(registry.render()).toBe(
      [
        '# HELP berth_sessions_ended_total Sessions that ended.',
        '# TYPE berth_sessions_ended_total counter',
        'berth_sessions_ended_total{reason="expired"} 2',
        'berth_sessions_ended_total{reason="say \\"hi\\"\\n"} 1',
        '# HELP berth_sessions Live sessions.',
        '# TYPE berth_sessions gauge',
        'berth_sessions 3',
        '# HELP berth_session_start_seconds Start time.',
        '# TYPE berth_session_start_seconds histogram',
        'berth_session_start_seconds_bucket{le="0.1"} 1',
        'berth_session_start_seconds_bucket{le="1"} 2',
        'berth_session_start_seconds_bucket{le="+Inf"} 3',
        'berth_session_start_seconds_sum 4.55',
        'berth_session_start_seconds_count 3',
        '',
      ].join('\n'),
    );
  });

  it('shows a counter that never moved as zero', () => {
    const registry = new Registry();
    registry.add(new Counter('berth_errors_total', 'Errors.'));
    expect(registry.render()).toContain('berth_errors_total 0');
  });
});
