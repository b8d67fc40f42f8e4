import { connect, createServer, type Server, type Socket } from "node:net";
import type { Test } from "tap";

/** A TCP hop in front of a real server, which a fault test cuts and restores at will. */
export interface TcpProxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string;
  /** Drops every connection and refuses new ones (ECONNREFUSED): the server looks down. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
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
  let silent = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  const listen = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const server = createServer((client) => {
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
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve(server));
    });
  let server: Server | undefined = await listen(0);
  const port = (server.address() as { port: number }).port;
  const cut = async () => {
    const closing = server;
    server = undefined;
    if (!closing) return;
    const closed = new Promise((resolve) => closing.close(resolve));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  t.teardown(cut);
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
      server ??= await listen(port);
    },
    silence() {
      silent = true;
    },
    speak() {
      silent = false;
    },
  };
}
