import type { ChannelOptions } from "@grpc/grpc-js";

/** 4 MiB: plenty for any Parley message; larger requests are refused, not buffered. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * Keepalive settings shared by servers and clients. They must agree: a client that pings
 * more often than the server permits gets GOAWAY "too_many_pings".
 */
export const KEEPALIVE_TIME_MS = 30_000;
export const KEEPALIVE_TIMEOUT_MS = 10_000;

export function serverChannelOptions(maxMessageBytes: number): ChannelOptions {
  return {
    "grpc.max_receive_message_length": maxMessageBytes,
    "grpc.max_send_message_length": maxMessageBytes,
    "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
    "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": KEEPALIVE_TIME_MS / 2,
  };
}

export function clientChannelOptions(maxMessageBytes: number): ChannelOptions {
  return {
    "grpc.max_receive_message_length": maxMessageBytes,
    "grpc.max_send_message_length": maxMessageBytes,
    "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
    "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.enable_retries": 1,
    // An instance that comes back on the same address (a restart, a rescheduled pod keeping its IP)
    // is tried again within seconds, not after grpc-js's default backoff of up to two minutes; a
    // call that finds no instance ready waits for one meanwhile.
    "grpc.initial_reconnect_backoff_ms": 500,
    "grpc.max_reconnect_backoff_ms": 5_000,
  };
}
