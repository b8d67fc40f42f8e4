// The load generator of `pnpm bench:edge`, run as its own process so its CPU never counts
// against (or competes inside) the processes measured. One scheduler and one clock for every
// path: HTTP (through the edge, or the bare Fastify process) and gRPC (straight to the
// service). A job comes as JSON in argv[2]; progress and the result are JSON lines on stdout.
import { Agent, request } from "node:http";
import * as grpc from "@grpc/grpc-js";
import { percentile } from "@parley/testing/bench";
import WebSocket from "ws";

interface Target {
  /** HTTP: the full URL; gRPC: host:port. */
  url: string;
  protocol: "http" | "grpc";
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** gRPC: "/parley.billing.v1.BillingService/GetWallet" and the request, base64. */
  path?: string;
  requestBase64?: string;
}

type Job =
  | {
      kind: "requests";
      target: Target;
      /** closed: `concurrency` callers back to back; fixed: `rate` per second, whatever the answers. */
      mode: "closed" | "fixed";
      concurrency: number;
      rate?: number;
      seconds: number;
      warmupSeconds: number;
    }
  | {
      kind: "fanout";
      wsUrl: string;
      watchers: number;
      /** Tokens to authenticate the watchers with (round robin); none for the bare server. */
      tokens: string[];
      sessionId: string;
      /** The session's last stored seq: watchers start after it (no replay of earlier runs). */
      afterSeq: string;
      messages: number;
      /** Messages sent first, the same way, and not measured (cold code and connections). */
      warmupMessages: number;
      intervalMs: number;
      /** How a message is sent: POST through the edge, or a frame to the bare server. */
      send: { via: "http"; url: string; token: string } | { via: "ws" };
    }
  | { kind: "idle"; wsUrl: string; sockets: number; tokens: string[]; holdSeconds: number }
  | {
      /**
       * Requests over consecutive windows of one clock shared with other load processes (the
       * epoch), so two jobs can alternate conditions window by window: a summary per window.
       */
      kind: "windows";
      target: Target;
      /** fixed: `rate` per second throughout, from start (warm-up) to the last window's end; closed: `concurrency` callers back to back in the active windows only. */
      mode: "closed" | "fixed";
      concurrency: number;
      rate?: number;
      /** Epoch milliseconds at which window 0 starts. */
      startAt: number;
      windowMs: number;
      windows: number;
      /** Leading milliseconds of each window not summarised: the switch of conditions settles. */
      settleMs: number;
      /** closed: the windows the callers run in (the others they wait out); every window when absent. */
      active?: "even" | "odd";
      /** Also report each window's summarised latencies (ms, ascending), to pool windows. */
      latencies?: boolean;
    };

const out = (line: unknown) => process.stdout.write(`${JSON.stringify(line)}\n`);
const job = JSON.parse(process.argv[2]!) as Job;

const summary = (latencies: number[], seconds: number, errors: number) => {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    rps: latencies.length / seconds,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? 0,
  };
};

/** One request to the target; resolves with whether it succeeded (2xx / OK). */
function caller(target: Target): () => Promise<boolean> {
  if (target.protocol === "http") {
    const url = new URL(target.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
    const body = target.body ? Buffer.from(target.body) : undefined;
    const headers = {
      ...target.headers,
      ...(body ? { "content-type": "application/json", "content-length": String(body.length) } : {}),
    };
    return () =>
      new Promise((resolve) => {
        const req = request(
          {
            agent,
            host: url.hostname,
            port: url.port,
            path: url.pathname + url.search,
            method: target.method ?? "GET",
            headers,
          },
          (res) => {
            res.on("data", () => {});
            res.on("end", () => resolve((res.statusCode ?? 500) < 300));
          },
        );
        req.on("error", () => resolve(false));
        req.end(body);
      });
  }
  const client = new grpc.Client(target.url, grpc.credentials.createInsecure());
  const bytes = Buffer.from(target.requestBase64 ?? "", "base64");
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(target.headers ?? {})) metadata.set(key, value);
  const identity = (b: Buffer) => b;
  return () =>
    new Promise((resolve) => {
      client.makeUnaryRequest(target.path!, identity, identity, bytes, metadata, {}, (error) =>
        resolve(!error),
      );
    });
}

/**
 * Open loop: call i is due at `started + i / rate` by `clock` until `end`, whatever the answers
 * do, and `answered(due, ok)` hears of each; a latency counts from when its call was due (a slow
 * answer delays nothing and hides nothing: no coordinated omission).
 */
async function openLoop(
  call: () => Promise<boolean>,
  rate: number,
  clock: () => number,
  started: number,
  end: number,
  answered: (due: number, ok: boolean) => void,
) {
  const interval = 1000 / rate;
  const pending = new Set<Promise<void>>();
  let issued = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = clock();
      while (started + issued * interval <= Math.min(now, end)) {
        const due = started + issued * interval;
        issued += 1;
        const p = call().then((ok) => {
          answered(due, ok);
          pending.delete(p);
        });
        pending.add(p);
      }
      if (now >= end) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(pending);
}

async function requests(spec: Extract<Job, { kind: "requests" }>) {
  const call = caller(spec.target);
  const run = async (seconds: number) => {
    const latencies: number[] = [];
    let errors = 0;
    const started = performance.now();
    const end = started + seconds * 1000;
    if (spec.mode === "closed") {
      await Promise.all(
        Array.from({ length: spec.concurrency }, async () => {
          while (performance.now() < end) {
            const t0 = performance.now();
            if (await call()) latencies.push(performance.now() - t0);
            else errors += 1;
          }
        }),
      );
    } else {
      await openLoop(
        call,
        spec.rate!,
        () => performance.now(),
        started,
        end,
        (due, ok) => {
          if (ok) latencies.push(performance.now() - due);
          else errors += 1;
        },
      );
    }
    return summary(latencies, (performance.now() - started) / 1000, errors);
  };
  if (spec.warmupSeconds > 0) await run(spec.warmupSeconds);
  out({ event: "measuring" });
  out({ event: "result", ...(await run(spec.seconds)) });
}

const epochNow = () => performance.timeOrigin + performance.now();

async function windows(spec: Extract<Job, { kind: "windows" }>) {
  const call = caller(spec.target);
  const endAt = spec.startAt + spec.windows * spec.windowMs;
  const perWindow = Array.from({ length: spec.windows }, () => ({
    calls: 0,
    errors: 0,
    latencies: [] as number[],
  }));
  /** Counts a call begun (or due) at `at` epoch ms in its window; summarised past the settling. */
  const record = (at: number, ok: boolean, latency: number) => {
    const index = Math.floor((at - spec.startAt) / spec.windowMs);
    const window = perWindow[index];
    if (!window) return;
    window.calls += 1;
    if (!ok) window.errors += 1;
    else if (at - spec.startAt - index * spec.windowMs >= spec.settleMs) window.latencies.push(latency);
  };
  const isActive = (index: number) =>
    !spec.active || (spec.active === "even" ? index % 2 === 0 : index % 2 === 1);
  out({ event: "measuring" });
  if (spec.mode === "fixed") {
    // From now (the warm-up) to the end.
    await openLoop(call, spec.rate!, epochNow, epochNow(), endAt, (due, ok) =>
      record(due, ok, epochNow() - due),
    );
  } else {
    await Promise.all(
      Array.from({ length: spec.concurrency }, async () => {
        for (let now = epochNow(); now < endAt; now = epochNow()) {
          const index = Math.floor((now - spec.startAt) / spec.windowMs);
          if (index < 0 || !isActive(index)) {
            // Wait for the next window this job runs in.
            let next = Math.max(index + 1, 0);
            while (!isActive(next)) next += 1;
            await sleep(spec.startAt + next * spec.windowMs - now);
            continue;
          }
          const ok = await call();
          const answered = epochNow();
          record(now, ok, answered - now);
        }
      }),
    );
  }
  out({
    event: "result",
    windows: perWindow.map(({ calls, errors, latencies }) => {
      const sorted = [...latencies].sort((a, b) => a - b);
      return {
        calls,
        errors,
        requests: sorted.length,
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        max: sorted[sorted.length - 1] ?? 0,
        ...(spec.latencies ? { latencies: sorted.map((ms) => Math.round(ms * 1000) / 1000) } : {}),
      };
    }),
  });
}

async function connect(url: string, token: string | undefined): Promise<WebSocket> {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  if (!token) return socket;
  await new Promise<void>((resolve, reject) => {
    socket.once("message", (data) => {
      const frame = JSON.parse(data.toString()) as { type: string };
      if (frame.type === "ready") resolve();
      else reject(new Error(`auth answered ${data.toString()}`));
    });
    socket.send(JSON.stringify({ type: "auth", token }));
  });
  return socket;
}

/** Opens sockets in batches (a thousand handshakes at once would measure the handshakes). */
async function openMany(
  url: string,
  count: number,
  tokens: string[],
  each: (socket: WebSocket, i: number) => Promise<void> | void,
) {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, async (_, j) => {
        const socket = await connect(url, tokens.length > 0 ? tokens[(i + j) % tokens.length] : undefined);
        await each(socket, i + j);
        return socket;
      }),
    );
    sockets.push(...batch);
  }
  return sockets;
}

/**
 * The n of a frame whose text is "bench-<n>", read from its bytes; -1 for any other frame. No
 * string and no regular expression per frame: a thousand watchers share this process, and their
 * own parsing (and the garbage it makes) would be measured as delivery time.
 */
const MARKER = Buffer.from('"text":"bench-');
function benchIndex(data: Buffer): number {
  const at = data.indexOf(MARKER);
  if (at < 0) return -1;
  let n = 0;
  for (let i = at + MARKER.length; i < data.length; i++) {
    const digit = data[i]! - 48;
    if (digit < 0 || digit > 9) return n;
    n = n * 10 + digit;
  }
  return -1;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function fanout(spec: Extract<Job, { kind: "fanout" }>) {
  const total = spec.warmupMessages + spec.messages;
  const sentAt = new Array<number>(total).fill(0);
  const delivered = new Array<number>(total).fill(0);
  const lastAt = new Array<number>(total).fill(0);
  const sockets = await openMany(spec.wsUrl, spec.watchers, spec.tokens, async (socket) => {
    if (spec.tokens.length > 0) {
      await new Promise<void>((resolve, reject) => {
        const onFrame = (data: Buffer) => {
          const frame = JSON.parse(data.toString()) as { type: string };
          if (frame.type === "subscribed") {
            socket.off("message", onFrame);
            resolve();
          } else if (frame.type === "error") reject(new Error(data.toString()));
        };
        socket.on("message", onFrame);
        socket.send(
          JSON.stringify({ type: "subscribe", session_id: spec.sessionId, after_seq: spec.afterSeq }),
        );
      });
    }
    socket.on("message", (data: Buffer) => {
      const now = performance.now();
      const i = benchIndex(data);
      if (i < 0 || i >= total) return;
      delivered[i]! += 1;
      lastAt[i] = now;
    });
  });
  const sender = spec.send.via === "ws" ? await connect(spec.wsUrl, undefined) : undefined;
  const agent = new Agent({ keepAlive: true });
  const answeredAt = new Array<number>(total).fill(0);
  const send = async (i: number) => {
    const text = `bench-${i}`;
    sentAt[i] = performance.now();
    if (sender) {
      sender.send(JSON.stringify({ type: "broadcast", text }));
      return;
    }
    const via = spec.send as { url: string; token: string };
    const body = JSON.stringify({
      kind: "MESSAGE_KIND_TEXT",
      text,
      client_msg_id: `bench-${process.pid}-${i}`,
    });
    await new Promise<void>((resolve, reject) => {
      const url = new URL(via.url);
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${via.token}` },
        },
        (res) => {
          res.resume();
          res.on("end", () => {
            answeredAt[i] = performance.now();
            if ((res.statusCode ?? 500) < 300) resolve();
            else reject(new Error(`send ${res.statusCode}`));
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  };
  const deliveredIn = (from: number, to: number) => delivered.slice(from, to).reduce((a, b) => a + b, 0);
  /** Sends messages from..to-1, `intervalMs` apart, then waits (up to 15 s) for every delivery. */
  const run = async (from: number, to: number) => {
    const started = performance.now();
    for (let i = from; i < to; i++) {
      const wait = started + (i - from) * spec.intervalMs - performance.now();
      if (wait > 0) await sleep(wait);
      void send(i).catch((error: Error) => out({ event: "send-failed", i, error: error.message }));
    }
    const deadline = performance.now() + 15_000;
    while (deliveredIn(from, to) < (to - from) * spec.watchers && performance.now() < deadline)
      await sleep(100);
  };
  // Setting the watchers up (handshakes, authentication, subscriptions) is not measured, nor
  // are the first `warmupMessages`, sent the same way: they run through cold code on every
  // side (the bare server's too) and through connections not yet opened.
  await run(0, spec.warmupMessages);
  out({ event: "measuring", sockets: sockets.length });
  await run(spec.warmupMessages, total);
  const measured = Array.from({ length: spec.messages }, (_, k) => spec.warmupMessages + k);
  const complete = measured.filter((i) => delivered[i] === spec.watchers);
  const toMs = (values: number[]) => values.map((ms) => Math.round(ms * 1000) / 1000);
  // Per measured message, in ms, for the caller to pool over runs.
  out({
    event: "result",
    watchers: spec.watchers,
    messages: spec.messages,
    // Every message counts here, the warm-up's too.
    deliveries: deliveredIn(0, total),
    lost: total * spec.watchers - deliveredIn(0, total),
    // From sending to the last watcher's delivery (messages every watcher had).
    last: toMs(complete.map((i) => lastAt[i]! - sentAt[i]!)),
    // How long the sending request itself took (through the edge to the session service).
    answered: toMs(measured.filter((i) => answeredAt[i]! > 0).map((i) => answeredAt[i]! - sentAt[i]!)),
    // The last delivery counted from when the sender had its answer (the message stored):
    // the fan-out alone, without the write path (negative when delivered first).
    afterAnswer: toMs(complete.map((i) => lastAt[i]! - (answeredAt[i] || sentAt[i]!))),
  });
  for (const socket of sockets) socket.terminate();
  sender?.terminate();
}

async function idle(spec: Extract<Job, { kind: "idle" }>) {
  const sockets = await openMany(spec.wsUrl, spec.sockets, spec.tokens, () => {});
  out({ event: "holding", sockets: sockets.length });
  await new Promise((resolve) => setTimeout(resolve, spec.holdSeconds * 1000));
  for (const socket of sockets) socket.terminate();
  out({ event: "result", sockets: sockets.length });
}

const run =
  job.kind === "requests"
    ? requests(job)
    : job.kind === "windows"
      ? windows(job)
      : job.kind === "fanout"
        ? fanout(job)
        : idle(job);
run.then(
  () => process.exit(0),
  (error: unknown) => {
    out({ event: "failed", error: String(error) });
    process.exit(1);
  },
);
