/**
 * The engine's own record of what the backend asked of it, and when: its event stream, filtered
 * to one namespace. This splits the backend's time to prompt into the steps it takes inside
 * (exec create, exec start) without touching the backend, and shows what else was going on (a
 * pool refill booting a sandbox in the middle of a learner's start).
 */
import type Docker from 'dockerode';

export interface EngineEvent {
  /** performance.now() time scale of this process. */
  at: number;
  type: string;
  action: string;
  /** Container id, network id or volume name. */
  id: string;
}

export class EngineTimeline {
  readonly events: EngineEvent[] = [];
  private constructor(private readonly stream: NodeJS.ReadableStream & { destroy(): void }) {}

  /**
   * Records the events of the backend's sandboxes in `namespace`: their containers, and also
   * their networks and volumes, whose creation is where a pool refill starts loading the engine.
   * Those carry no labels in their events, so they are picked by name (`<namespace>-sbx-...`).
   */
  static async start(engine: Docker, namespace: string): Promise<EngineTimeline> {
    const stream = (await engine.getEvents({ filters: { type: ['container', 'network', 'volume'] } })) as unknown as NodeJS.ReadableStream & {
      destroy(): void;
    };
    const ours = (name: string) => name.startsWith(`${namespace}-sbx-`);
    const timeline = new EngineTimeline(stream);
    // Engine times are wall-clock nanoseconds; this process's clock is performance.now().
    const toLocal = (timeNano: number) => timeNano / 1e6 - performance.timeOrigin;
    let pending = '';
    stream.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          const event = JSON.parse(line) as { timeNano: number; Type: string; Action: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
          const id = event.Actor?.ID ?? '';
          if (!ours(event.Actor?.Attributes?.name ?? id)) continue;
          timeline.events.push({ at: toLocal(event.timeNano), type: event.Type, action: event.Action, id });
        } catch {
          // A malformed line (or another tool's huge one) costs one event, never the run.
        }
      }
    });
    stream.on('error', () => {});
    return timeline;
  }

  /** Events in [from, to], of one container (or network, or volume) or all. */
  between(from: number, to: number, id?: string): EngineEvent[] {
    return this.events.filter((e) => e.at >= from && e.at <= to && (!id || e.id === id));
  }

  stop(): void {
    this.stream.destroy();
  }
}
