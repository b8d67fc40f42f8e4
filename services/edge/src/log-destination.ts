import { write, writeSync } from "node:fs";

export interface BatchedDestination {
  /** One log line (pino's destination interface). */
  write(line: string): void;
  /** Writes what is pending now, synchronously (shutdown). */
  flushSync(): void;
}

export interface BatchOptions {
  /** Pending bytes that are written at once (default 32 KiB). */
  batchBytes?: number;
  /** The longest a line waits for its batch (default 200 ms). */
  maxDelayMs?: number;
}

/** How long a full pipe (EAGAIN) is given before the next try. */
const RETRY_MS = 100;

/**
 * A log destination for a line per request: lines are collected and written together, one
 * `write` to the file descriptor per `batchBytes` or `maxDelayMs`, whichever comes first,
 * without blocking on it. pino's own asynchronous destination (sonic-boom) measures its whole
 * pending buffer again for every line it is given — work that grows with the batch — and,
 * with a minimum batch size, holds lines back for as long as traffic is low; here a line costs
 * an array push, and waits `maxDelayMs` at most. A partial write continues where it stopped,
 * a full pipe is retried, any other failure drops the batch rather than take the process down.
 */
export function batchedDestination(fd: number, options: BatchOptions = {}): BatchedDestination {
  const batchBytes = options.batchBytes ?? 32 * 1024;
  const maxDelayMs = options.maxDelayMs ?? 200;
  let pending: string[] = [];
  let pendingBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let writing = false;

  const writeOut = (buffer: Buffer) => {
    writing = true;
    write(fd, buffer, 0, buffer.length, null, (error, written) => {
      if (error?.code === "EAGAIN") {
        setTimeout(() => writeOut(buffer), RETRY_MS).unref();
        return;
      }
      if (!error && written < buffer.length) {
        writeOut(buffer.subarray(written));
        return;
      }
      writing = false;
      if (pendingBytes >= batchBytes) flush();
    });
  };
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    // One write at a time, in order: what comes meanwhile waits for the next batch.
    if (writing) {
      timer = setTimeout(flush, maxDelayMs).unref();
      return;
    }
    const text = pending.join("");
    pending = [];
    pendingBytes = 0;
    writeOut(Buffer.from(text));
  };
  return {
    write(line) {
      pending.push(line);
      pendingBytes += line.length;
      if (pendingBytes >= batchBytes) flush();
      else timer ??= setTimeout(flush, maxDelayMs).unref();
    },
    flushSync() {
      clearTimeout(timer);
      timer = undefined;
      if (pending.length === 0) return;
      writeSync(fd, pending.join(""));
      pending = [];
      pendingBytes = 0;
    },
  };
}
