/**
 * A terminal client for tests: speaks the terminal WebSocket protocol and renders what it receives
 * into a headless xterm, so assertions read the screen a learner would see, not raw escape codes.
 */
import xtermHeadless from '@xterm/headless';
import WebSocket from 'ws';
import { waitFor } from './backend.ts';

const { Terminal } = xtermHeadless as unknown as typeof import('@xterm/headless');

export type Control = { type: string; [key: string]: unknown };

export class TerminalClient {
  readonly controls: Control[] = [];
  closeCode: number | undefined;
  private readonly screen: InstanceType<typeof Terminal>;
  private pendingWrites = 0;
  private disposed = false;

  private constructor(
    readonly ws: WebSocket,
    cols: number,
    rows: number,
  ) {
    this.screen = new Terminal({ cols, rows, scrollback: 5000, allowProposedApi: true });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        this.pendingWrites++;
        this.screen.write(new Uint8Array(data), () => this.pendingWrites--);
      } else this.controls.push(JSON.parse(data.toString()) as Control);
    });
    ws.on('close', (code) => (this.closeCode = code));
  }

  static async open(baseUrl: string, sessionId: string, instance = 'node1', size = { cols: 100, rows: 30 }): Promise<TerminalClient> {
    const url = `${baseUrl.replace(/^http/, 'ws')}/api/sessions/${sessionId}/instances/${instance}/terminal?cols=${size.cols}&rows=${size.rows}`;
    const ws = new WebSocket(url);
    const client = new TerminalClient(ws, size.cols, size.rows);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)));
    });
    return client;
  }

  /** Everything on screen and in scrollback, one string per line, trailing blanks trimmed. */
  text(): string {
    const buffer = this.screen.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n').replace(/\n+$/, '');
  }

  type(text: string): void {
    this.ws.send(Buffer.from(text), { binary: true });
  }

  resize(cols: number, rows: number): void {
    this.screen.resize(cols, rows);
    this.ws.send(JSON.stringify({ type: 'resize', cols, rows }));
  }

  sendControl(raw: string): void {
    this.ws.send(raw);
  }

  async waitForText(pattern: string | RegExp, timeoutMs = 20_000): Promise<string> {
    return waitFor(
      `terminal text ${String(pattern)}`,
      () => {
        const text = this.text();
        if (this.pendingWrites > 0) return undefined;
        return (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text)) ? text : undefined;
      },
      timeoutMs,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n--- screen ---\n${this.text()}\n--------------`);
    });
  }

  async waitForControl(type: string, timeoutMs = 20_000): Promise<Control> {
    return waitFor(`control message ${type}`, () => this.controls.find((c) => c.type === type), timeoutMs);
  }

  async waitForClose(timeoutMs = 20_000): Promise<number> {
    return waitFor('socket close', () => this.closeCode, timeoutMs);
  }

  close(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ws.close();
    this.screen.dispose();
  }
}
