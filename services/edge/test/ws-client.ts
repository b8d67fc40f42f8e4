import WebSocket from "ws";

// biome-ignore lint/suspicious/noExplicitAny: frames are asserted field by field
export type Frame = any;

/** A real WebSocket client of /v1/ws that keeps every frame and can wait for one. */
export class WsClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly socket: WebSocket;
  private waiters: Array<() => void> = [];

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on("message", (data) => {
      this.frames.push(JSON.parse(data.toString()));
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) =>
      socket.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static async connect(httpUrl: string): Promise<WsClient> {
    const socket = new WebSocket(`${httpUrl.replace(/^http/, "ws")}/v1/ws`);
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    return new WsClient(socket);
  }

  send(frame: Frame | string): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Sends one text message as several fragments (continuation frames). */
  sendFragments(parts: string[]): void {
    parts.forEach((part, i) => {
      this.socket.send(part, { fin: i === parts.length - 1 });
    });
  }

  /** Resolves with the first frame (from the start) matching, or fails after `timeoutMs`. */
  async waitFor(match: (frame: Frame) => boolean, timeoutMs = 15_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(
          `no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5))}`,
        );
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  /** Session events received so far (type "event"), in arrival order. */
  events(sessionId: string): Frame[] {
    return this.frames.filter((f) => f.type === "event" && f.session_id === sessionId).map((f) => f.event);
  }

  async authenticate(token: string): Promise<void> {
    const before = this.frames.filter((f) => f.type === "ready").length;
    this.send({ type: "auth", token });
    await this.waitFor(() => this.frames.filter((f) => f.type === "ready").length > before);
  }

  /** Stops reading from the network, like a client on a stalled link; the server's writes pile up. */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.close();
  }
}
