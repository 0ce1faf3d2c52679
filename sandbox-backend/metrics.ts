/**
 * Prometheus metrics in the text exposition format, without a client library: counters,
 * gauges read at scrape time, and histograms. Names and help texts are the documentation.
 */
type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (!entries.length) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

interface Metric {
  render(): string[];
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(key, entry);
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (!this.values.size) lines.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines;
  }
}

export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => Array<[Labels, number]> | number,
  ) {}

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    const value = this.read();
    if (typeof value === 'number') lines.push(`${this.name} ${value}`);
    else for (const [labels, v] of value) lines.push(`${this.name}${labelText(labels)} ${v}`);
    return lines;
  }
}

export class Histogram implements Metric {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: number[],
  ) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    this.buckets.forEach((upper, i) => {
      if (value <= upper) this.counts[i]!++;
    });
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((upper, i) => lines.push(`${this.name}_bucket{le="${upper}"} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
    return lines;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  add<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }

  render(): string {
    return this.metrics.flatMap((m) => m.render()).join('\n') + '\n';
  }
}

/** The backend's own metrics; gauges are wired to live state in app.ts. */
export function backendMetrics() {
  const registry = new Registry();
  return {
    registry,
    sessionStart: registry.add(
      new Histogram('berth_session_start_seconds', 'Time from a session request to its sandboxes being ready.', [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30]),
    ),
    sessionsCreated: registry.add(new Counter('berth_sessions_created_total', 'Sessions created.')),
    sessionsEnded: registry.add(new Counter('berth_sessions_ended_total', 'Sessions that ended, by reason (ended, expired, idle, admin, lost).')),
    errors: registry.add(new Counter('berth_errors_total', 'Requests that failed on our side or the engine\'s, by kind.')),
  };
}

export type BackendMetrics = ReturnType<typeof backendMetrics>;
