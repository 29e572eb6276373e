/**
 * The terminal side of a domain's console, as `xl create -c` / `xl console`
 * give it:
 *
 * - attachConsole (stdin and stdout are a terminal): prints the escape hint,
 *   replays what the domain printed so far, puts the terminal in raw mode so
 *   every key — Ctrl-C, Ctrl-Z and Ctrl-\ included — goes to the guest, and
 *   detaches on Ctrl-] (0x1d). The terminal is restored on every way out:
 *   detach, close(), process exit (normal, uncaught exception) — signals are
 *   the caller's, who must call close() before exiting.
 * - pipeConsole (not a terminal): the console stream to stdout, stdin into
 *   the console as-is (bytes, no escape key).
 * - askYesNo: one line of answer on a cooked terminal ("[y/N]": only y/yes is yes;
 *   end of input is no).
 *
 * This file holds no hypervisor logic: it only moves bytes between a
 * DomainHandle's console and the terminal.
 */
import type { DomainHandle } from '../domains/toolstack.ts';

/** Ctrl-], xenconsole's and xl's escape character. */
export const ESCAPE_CHAR = 0x1d;

export interface TerminalIo {
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
}

const defaultIo = (): TerminalIo => ({ input: process.stdin, output: process.stdout });

/** Are both ends of the terminal interactive (what attachConsole needs)? */
export function isInteractive(io: TerminalIo = defaultIo()): boolean {
  return io.input.isTTY === true && io.output.isTTY === true && typeof io.input.setRawMode === 'function';
}

export interface Attachment {
  /** Resolves when the user typed the escape character (the terminal is already restored then). */
  readonly detached: Promise<void>;
  /** Stop forwarding and restore the terminal (idempotent). */
  close(): void;
}

/** The hint `xenjs boot` prints on attach. */
export function escapeHint(name: string): string {
  return `Connected to domain ${name}; escape character is ^]`;
}

export function attachConsole(handle: DomainHandle, io: TerminalIo = defaultIo()): Attachment {
  const { input, output } = io;
  let open = true;
  const wasRaw = input.isRaw === true;
  let onDetach: () => void = () => {};
  const detached = new Promise<void>((resolve) => (onDetach = resolve));

  output.write(escapeHint(handle.name) + '\n');
  // What the domain printed before we attached, then everything as it comes.
  const before = handle.console.bytes();
  if (before.length > 0) output.write(before);
  const unsubscribe = handle.console.onData((b) => {
    if (open) output.write(b);
  });

  const restore = (): void => {
    if (input.isTTY && typeof input.setRawMode === 'function') {
      try {
        input.setRawMode(wasRaw);
      } catch {
        // the terminal went away (hangup): nothing to restore
      }
    }
  };
  const close = (): void => {
    if (!open) return;
    open = false;
    unsubscribe();
    input.off('data', onData);
    input.pause();
    restore();
    process.off('exit', restore);
  };
  const onData = (chunk: Buffer | string): void => {
    if (!open) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    const k = bytes.indexOf(ESCAPE_CHAR);
    if (k < 0) {
      handle.console.write(new Uint8Array(bytes));
      return;
    }
    if (k > 0) handle.console.write(new Uint8Array(bytes.subarray(0, k)));
    close();
    output.write('\n');
    onDetach();
  };

  input.setRawMode(true);
  process.on('exit', restore);
  input.on('data', onData);
  input.resume();
  return { detached, close };
}

/** Console to `output`, `input` (when given) into the console; returns a function that stops both. */
export function pipeConsole(handle: DomainHandle, io: { input?: NodeJS.ReadableStream; output: NodeJS.WritableStream }): () => void {
  const before = handle.console.bytes();
  if (before.length > 0) io.output.write(before);
  const unsubscribe = handle.console.onData((b) => void io.output.write(b));
  const input = io.input;
  const onData = (chunk: Buffer | string): void => {
    handle.console.write(typeof chunk === 'string' ? chunk : new Uint8Array(chunk));
  };
  if (input) {
    input.on('data', onData);
    input.resume();
  }
  return () => {
    unsubscribe();
    if (input) {
      input.off('data', onData);
      input.pause();
    }
  };
}

/**
 * Ask on the terminal and read one line; true only for y/yes. End of input
 * (or `abort`) answers no. The terminal must be in cooked mode.
 */
export function askYesNo(question: string, io: TerminalIo = defaultIo(), abort?: Promise<unknown>): Promise<boolean> {
  const { input, output } = io;
  output.write(question);
  return new Promise((resolve) => {
    let line = '';
    let done = false;
    const finish = (yes: boolean): void => {
      if (done) return;
      done = true;
      input.off('data', onData);
      input.off('end', onEnd);
      input.pause();
      resolve(yes);
    };
    const onData = (chunk: Buffer | string): void => {
      line += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      const nl = line.search(/[\r\n]/);
      if (nl >= 0) finish(/^\s*y(es)?\s*$/i.test(line.slice(0, nl)));
    };
    const onEnd = (): void => finish(false);
    input.on('data', onData);
    input.once('end', onEnd);
    input.resume();
    void abort?.then(() => finish(false));
  });
}
