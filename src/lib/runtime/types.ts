/**
 * What the lesson page needs from whatever runs the learner's machines. The sandbox runtime
 * (Docker-in-Docker on the server) implements it today; in-browser runtimes (v86, WebContainers)
 * can implement the same contract later, and the terminal and lesson page will not change.
 */

export interface RuntimeSession {
  id: string;
  lesson?: string;
  createdAt: string;
  /** ISO time after which the session and its machines are gone. */
  expiresAt: string;
  /** Machine names, `node1`..`node5`. */
  instances: string[];
}

export interface ExecResult {
  exitCode: number;
  output: string;
}

/** Why a call failed, with a message a person can act on (the server's, when it sent one). */
export class RuntimeError extends Error {
  override name = 'RuntimeError';
  constructor(
    /** The API's stable error code (`session_not_found`, `unavailable`, ...), or `network`. */
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }

  get notFound(): boolean {
    return this.code === 'session_not_found' || this.code === 'instance_not_found';
  }
}

export type ChannelStatus =
  /** First connection attempt in progress. */
  | 'connecting'
  | 'open'
  /** The connection dropped; retrying with backoff. */
  | 'reconnecting'
  /** The session is gone (ended, expired or unknown); no more retries. */
  | 'gone'
  /** Closed by our side. */
  | 'closed';

export type ControlMessage =
  | { type: 'session'; expiresAt: string }
  | { type: 'expiring'; at: string }
  | { type: 'expired' }
  /** Ended because nobody used it for the server's idle timeout. */
  | { type: 'idle' }
  /** Ended because the machine was lost (its container died, or went with the server's Docker engine); the message says so. */
  | { type: 'lost'; message: string }
  /** The TCP ports something listens on in this machine (for links to published ports). */
  | { type: 'ports'; ports: number[] }
  | { type: 'error'; message: string };

/** Where a learner stands while every machine is taken. */
export interface QueuePlace {
  position: number;
  estimatedWaitSeconds: number;
}

export interface ChannelEvents {
  data: (bytes: Uint8Array) => void;
  status: (status: ChannelStatus) => void;
  control: (message: ControlMessage) => void;
}

/** A terminal attached to one machine. It survives network drops by itself. */
export interface TerminalChannel {
  readonly instance: string;
  readonly status: ChannelStatus;
  /** Keystrokes or pasted text; queued while reconnecting. */
  send(data: string | Uint8Array): void;
  /** The size is remembered and sent again after every reconnect. */
  resize(cols: number, rows: number): void;
  /**
   * Flow control: the screen is this many bytes behind what it was given. Above a high mark the
   * machine's output is paused at the source; below a low mark it resumes.
   */
  backlog(bytes: number): void;
  on<E extends keyof ChannelEvents>(event: E, listener: ChannelEvents[E]): () => void;
  close(): void;
}

export interface Runtime {
  /**
   * Creates the machines for a lesson. When every machine is taken the learner waits in line:
   * `onQueued` hears their place until the session starts.
   */
  startSession(lesson: string, onQueued?: (place: QueuePlace) => void, signal?: AbortSignal): Promise<RuntimeSession>;
  /** Adds the next machine (node2..node5) to a session; resolves to its name. */
  addInstance(sessionId: string): Promise<string>;
  removeInstance(sessionId: string, instance: string): Promise<void>;
  /** Where the browser reaches a port published in a machine. */
  portUrl(sessionId: string, instance: string, port: number): string;
  /** Gives the session new port links; links handed out before stop working. */
  renewPortLinks(sessionId: string): Promise<void>;
  /** The session if it still exists, undefined if it ended or expired. */
  getSession(id: string): Promise<RuntimeSession | undefined>;
  openTerminal(sessionId: string, instance: string): TerminalChannel;
  exec(sessionId: string, instance: string, cmd: string[]): Promise<ExecResult>;
  endSession(id: string): Promise<void>;
}
