import { connect, createServer, type Server, type Socket } from "node:net";
import type { Test } from "tap";

/** A TCP hop in front of a real server, which a fault test cuts and restores at will. */
export interface TcpProxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string;
  /**
   * Drops every connection and resets new ones at once: the server looks down. The port stays
   * the proxy's: closed, another process could take it meanwhile (a service binding port 0), and
   * a client's connection would reach that one and hang instead of failing.
   */
  cut(): Promise<void>;
  /** Lets connections through again. */
  restore(): Promise<void>;
  /**
   * Connections stay open but nothing gets through them, either way, until `speak()`: a host gone
   * without a word (no FIN, no RST), as a crashed machine or a partition looks.
   */
  silence(): void;
  speak(): void;
}

/**
 * A loopback TCP proxy to `target` ("host:port") for one test, closed when it ends. Cutting it
 * is a database (or Redis) outage as a service sees one, without stopping the shared server.
 */
export async function startTcpProxy(t: Test, target: string): Promise<TcpProxy> {
  const [host = "127.0.0.1", portText = ""] = target.split(/:(?=\d+$)/);
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  let down = false;
  let silent = false;
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = createServer((client) => {
      if (down) {
        client.resetAndDestroy();
        return;
      }
      const upstream = connect(Number(portText), host);
      track(client);
      track(upstream);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      // What arrives while silent is lost, as on a dead link.
      client.on("data", (chunk: Buffer) => silent || upstream.write(chunk));
      upstream.on("data", (chunk: Buffer) => silent || client.write(chunk));
      client.on("end", () => upstream.end());
      upstream.on("end", () => client.end());
    });
    listening.once("error", reject);
    listening.listen(0, "127.0.0.1", () => resolve(listening));
  });
  const port = (server.address() as { port: number }).port;
  const cut = async () => {
    down = true;
    for (const socket of sockets) socket.destroy();
  };
  t.teardown(async () => {
    await cut();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    port,
    through(url) {
      const parsed = new URL(url);
      parsed.hostname = "127.0.0.1";
      parsed.port = String(port);
      return parsed.toString();
    },
    cut,
    async restore() {
      down = false;
    },
    silence() {
      silent = true;
    },
    speak() {
      silent = false;
    },
  };
}
