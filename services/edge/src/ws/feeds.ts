import { type DescMessage, type FileRegistry, fromBinary, toJson } from "@bufbuild/protobuf";
import { type ClientReadableStream, status } from "@grpc/grpc-js";
import { newId } from "@parley/kit/ids";
import type { Logger } from "@parley/kit/log";
import { encodeJson } from "../http/transcode";
import { upstreamMetadata } from "../metadata";
import type { Upstreams } from "../upstreams";

const WATCH_PATH = "/parley.session.v1.SessionService/WatchSession";
/**
 * A feed's stream failing with these is opened again: UNAVAILABLE, the session instance serving
 * it stopped or died; CANCELLED, one that stopped past its grace (its server's forceShutdown),
 * or a proxy that reset the stream. The edge's own cancels are told apart by its state.
 */
const REOPENED_CODES = new Set<number>([status.CANCELLED, status.UNAVAILABLE]);
/**
 * Reopening a lost feed: attempts in a row without an answer, the pause before each growing by
 * REOPEN_DELAY_MS up to 2 s (about 15 s in all: longer than the channel's reconnect backoff, so an
 * instance that is restarting is reached too).
 */
const REOPEN_ATTEMPTS = 10;
const REOPEN_DELAY_MS = 250;
const reopenDelay = (attempt: number) => Math.min(REOPEN_DELAY_MS * attempt, 2_000);
/** A reopened stream whose server has not answered (sent its headers) by then is opened again. */
const REOPEN_ANSWER_MS = 2_000;
/**
 * Sockets a feed writes a frame to in one turn of the event loop. Between two batches the edge
 * takes in HTTP requests and upstream answers (the next message on its way to session), rather
 * than holding them behind a thousand socket writes.
 */
const WRITE_BATCH = 100;

/** One socket's subscription to one session, as the feeds see it. */
export interface FeedMember {
  readonly sessionId: string;
  /** The highest stored seq this socket has been sent (or said it had). */
  lastSeq: number;
  /** Set while the socket replays what it missed from its own stream, before joining the feed. */
  catchUp?: ClientReadableStream<Buffer>;
  /** Whether it receives the shared feed's frames. */
  live: boolean;
  /** The person's current access token and address (their own catch-up stream, or a new feed). */
  credentials(): { token: string; clientIp: string };
  /** Queues a text frame; the socket closes itself when it falls too far behind. */
  send(frame: Buffer): void;
  /** The session's stream failed (error) or ended: the subscription is over. */
  ended(error?: unknown): void;
}

interface Frame {
  seq: number;
  frame: Buffer;
}

/** One upstream WatchSession shared by every local socket watching the session. */
interface Feed {
  sessionId: string;
  stream: ClientReadableStream<Buffer>;
  members: Set<FeedMember>;
  /** Recent stored events as frames, in seq order: every stored event in (base, head]. */
  ring: Frame[];
  base: number;
  head: number;
  /** Frames not yet written to every live member, in order; the first is being written. */
  outbox: Frame[];
  /** The members the first frame goes to (live when it started), and how many have had it. */
  audience: FeedMember[];
  written: number;
}

export interface FeedsOptions {
  registry: FileRegistry;
  upstreams: Upstreams;
  log: Logger;
  /** Stored events each feed keeps as frames, for sockets that join a little behind. */
  ringSize: number;
}

/**
 * Session fan-out: one upstream WatchSession per (session, edge instance), whatever the
 * number of local sockets watching it. Each event is decoded and serialised to its JSON frame
 * once, and that one buffer is written to every socket. The feed keeps its recent stored
 * events, so a socket that joins at or after the point the feed started is served from
 * memory: what it missed, then the live frames. A socket further behind (a client resuming
 * from an old seq) first replays from Postgres through its own WatchSession, as that person,
 * and moves onto the feed once it has reached the feed's range: every stored seq exactly
 * once, in order, across the switch. Ephemeral events (seq 0) go to the sockets on the feed.
 */
export function createSessionFeeds(options: FeedsOptions) {
  const { registry, upstreams, log } = options;
  const eventDesc = registry.getMessage("parley.session.v1.SessionEvent") as DescMessage;
  const watchInput = registry.getMessage("parley.session.v1.WatchSessionRequest") as DescMessage;
  const feeds = new Map<string, Feed>();

  /** Bytes of one SessionEvent → its seq and its `event` frame. */
  const toFrame = (sessionId: string, bytes: Buffer): Frame => {
    const event = fromBinary(eventDesc, bytes);
    const json = toJson(eventDesc, event, { registry, useProtoFieldName: true, alwaysEmitImplicit: true });
    const text = `{"type":"event","session_id":${JSON.stringify(sessionId)},"event":${JSON.stringify(json)}}`;
    return { seq: Number((event as unknown as { seq: bigint }).seq), frame: Buffer.from(text) };
  };

  const watch = (sessionId: string, afterSeq: number, member: FeedMember) => {
    const { token, clientIp } = member.credentials();
    return upstreams.serverStream(
      "session",
      WATCH_PATH,
      encodeJson(watchInput, { session_id: sessionId, after_seq: String(afterSeq) }, registry),
      upstreamMetadata({ requestId: newId(), bearerToken: token, clientIp }),
    );
  };

  /** Sends a member what it has not had yet (stored) or what is live (ephemeral). */
  const deliver = (member: FeedMember, frame: Frame) => {
    if (frame.seq === 0) member.send(frame.frame);
    else if (frame.seq > member.lastSeq) {
      member.send(frame.frame);
      member.lastSeq = frame.seq;
    }
  };

  /**
   * Writes the feed's first queued frame to the next WRITE_BATCH members of its audience, and
   * yields before the rest (or the next frame): every member gets the frames in order. A member
   * that left meanwhile is skipped; one that joined has had the frame from the ring already.
   */
  const write = (feed: Feed) => {
    const frame = feed.outbox[0];
    if (!frame) return;
    if (feeds.get(feed.sessionId) !== feed) {
      feed.outbox = [];
      return;
    }
    if (feed.written === 0) feed.audience = [...feed.members];
    const end = Math.min(feed.written + WRITE_BATCH, feed.audience.length);
    for (let i = feed.written; i < end; i++) {
      const member = feed.audience[i]!;
      if (member.live) deliver(member, frame);
    }
    if (end < feed.audience.length) feed.written = end;
    else {
      feed.outbox.shift();
      feed.audience = [];
      feed.written = 0;
    }
    if (feed.outbox.length > 0) setImmediate(write, feed);
  };

  const broadcast = (feed: Feed, frame: Frame) => {
    feed.outbox.push(frame);
    if (feed.outbox.length === 1) write(feed);
  };

  /** Ends a member's catch-up stream; cleared first, so its handlers know it was ended here. */
  const stopCatchUp = (member: FeedMember) => {
    const stream = member.catchUp;
    member.catchUp = undefined;
    stream?.cancel();
  };

  const goLive = (feed: Feed, member: FeedMember) => {
    stopCatchUp(member);
    member.live = true;
    for (const frame of feed.ring) if (frame.seq > member.lastSeq) deliver(member, frame);
  };

  const close = (feed: Feed, error?: unknown) => {
    if (feeds.get(feed.sessionId) !== feed) return;
    feeds.delete(feed.sessionId);
    for (const member of feed.members) {
      stopCatchUp(member);
      member.ended(error);
    }
    feed.members.clear();
  };

  /** Removes a member; the feed's upstream stream ends with its last socket. */
  const drop = (feed: Feed, member: FeedMember) => {
    if (!feed.members.delete(member) || feed.members.size > 0) return;
    if (feeds.get(feed.sessionId) === feed) feeds.delete(feed.sessionId);
    feed.stream.cancel();
  };

  /**
   * Follows a feed's upstream stream. One that fails UNAVAILABLE or CANCELLED (REOPENED_CODES) is
   * opened again after the last stored event it had, on whichever instance answers, up to
   * REOPEN_ATTEMPTS times in a row: the sockets notice nothing, and miss nothing. Only when none
   * answers does the subscription end with the error (the client resubscribes).
   */
  const follow = (feed: Feed, stream: ClientReadableStream<Buffer>, attempt: number) => {
    const { sessionId } = feed;
    let received = false;
    stream.on("data", (bytes: Buffer) => {
      received = true;
      let frame: Frame;
      try {
        frame = toFrame(sessionId, bytes);
      } catch (error) {
        log.error({ err: error, sessionId }, "undecodable session event");
        return;
      }
      if (frame.seq > 0) {
        if (frame.seq <= feed.head) return;
        feed.head = frame.seq;
        feed.ring.push(frame);
        if (feed.ring.length > options.ringSize) feed.base = feed.ring.shift()!.seq;
      }
      broadcast(feed, frame);
    });
    let failed = false;
    stream.on("error", (error: { code?: number }) => {
      failed = true;
      // Cancelled here: the feed's last socket left, the edge is stopping, or a reopen replaced it.
      if (feed.stream !== stream || feeds.get(sessionId) !== feed) return;
      const tries = received ? 1 : attempt + 1;
      const member = [...feed.members][0];
      if (!REOPENED_CODES.has(error.code ?? -1) || tries > REOPEN_ATTEMPTS || !member)
        return close(feed, error);
      log.info({ sessionId, afterSeq: feed.head, attempt: tries }, "session stream lost; reopening");
      setTimeout(() => reopen(feed, tries), reopenDelay(tries)).unref();
    });
    // grpc-js may end a stream after its error: the error decided already (reopen or close).
    stream.on("end", () => {
      if (feed.stream === stream && !failed) close(feed);
    });
  };

  /** A new upstream stream for the feed, after the last event it had; one not answered in time is tried again. */
  const reopen = (feed: Feed, attempt: number) => {
    if (feeds.get(feed.sessionId) !== feed || feed.members.size === 0) return;
    let stream: ReturnType<typeof watch>;
    try {
      stream = watch(feed.sessionId, feed.head, [...feed.members][0]!);
    } catch (error) {
      // Run from a timer: a call that cannot even start closes the feed, never the process.
      return close(feed, error);
    }
    feed.stream = stream;
    follow(feed, stream, attempt);
    const unanswered = setTimeout(() => {
      if (feed.stream !== stream) return;
      if (attempt >= REOPEN_ATTEMPTS) close(feed, new Error("no session instance answered"));
      else {
        log.info(
          { sessionId: feed.sessionId, attempt: attempt + 1 },
          "session stream not answered; reopening",
        );
        reopen(feed, attempt + 1);
      }
      // Replaced or closed by now: its cancel is the edge's own.
      stream.cancel();
    }, REOPEN_ANSWER_MS);
    unanswered.unref();
    // Failed before it answered: follow()'s reopen takes over, not this timer as well.
    stream.once("status", () => clearTimeout(unanswered));
    stream.once("metadata", () => {
      clearTimeout(unanswered);
      log.info({ sessionId: feed.sessionId, attempt }, "session stream reopened");
    });
  };

  const open = (sessionId: string, afterSeq: number, opener: FeedMember): Feed => {
    const feed: Feed = {
      sessionId,
      stream: watch(sessionId, afterSeq, opener),
      members: new Set(),
      ring: [],
      base: afterSeq,
      head: afterSeq,
      outbox: [],
      audience: [],
      written: 0,
    };
    feeds.set(sessionId, feed);
    follow(feed, feed.stream, 0);
    return feed;
  };

  return {
    /**
     * Adds an authorised subscription that has seen every stored event up to `afterSeq`:
     * onto the session's feed (opened now if this is the first socket), or first through
     * its own catch-up stream when the feed's memory does not reach back that far.
     */
    join(member: FeedMember, afterSeq: number) {
      member.lastSeq = afterSeq;
      let feed = feeds.get(member.sessionId);
      if (!feed) {
        feed = open(member.sessionId, afterSeq, member);
        feed.members.add(member);
        member.live = true;
        return;
      }
      feed.members.add(member);
      if (afterSeq >= feed.base) return goLive(feed, member);
      const current = feed;
      const stream = watch(member.sessionId, afterSeq, member);
      member.catchUp = stream;
      stream.on("data", (bytes: Buffer) => {
        if (member.catchUp !== stream) return;
        let frame: Frame;
        try {
          frame = toFrame(member.sessionId, bytes);
        } catch (error) {
          log.error({ err: error, sessionId: member.sessionId }, "undecodable session event");
          return;
        }
        deliver(member, frame);
        if (member.lastSeq >= current.base) goLive(current, member);
      });
      // Ended by the session instance (the edge's own cancels clear `catchUp` first).
      const over = (error?: unknown) => {
        if (member.catchUp !== stream) return;
        member.catchUp = undefined;
        drop(current, member);
        member.ended(error);
      };
      stream.on("error", (error: unknown) => over(error));
      stream.on("end", () => over());
    },
    /** Removes a subscription; the feed's upstream stream ends with its last socket. */
    leave(member: FeedMember) {
      stopCatchUp(member);
      member.live = false;
      const feed = feeds.get(member.sessionId);
      if (feed) drop(feed, member);
    },
    /** Upstream streams open now (one per watched session). */
    size: () => feeds.size,
    closeAll() {
      for (const feed of [...feeds.values()]) {
        feeds.delete(feed.sessionId);
        feed.stream.cancel();
        for (const member of feed.members) stopCatchUp(member);
        feed.members.clear();
      }
    },
  };
}

export type SessionFeeds = ReturnType<typeof createSessionFeeds>;
