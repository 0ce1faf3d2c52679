/** What tests (and curious people in the devtools) can read from each terminal, by node name. */
export interface TerminalProbe {
  /** The whole buffer (scrollback included), one line per row, trailing spaces trimmed. */
  text(): string;
  readonly cols: number;
  readonly rows: number;
}

declare global {
  interface Window {
    __berthTerminals?: Record<string, TerminalProbe>;
  }
}
