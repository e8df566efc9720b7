import type { AddressInfo } from "node:net";

/** What both local servers (Studio, the MCP HTTP server) get back from @hono/node-server's `serve`. */
interface ListeningServer {
  once(event: "listening", listener: () => void): unknown;
  once(event: "error", listener: (e: Error) => void): unknown;
  address(): AddressInfo | string | null;
}

/** Resolves with the port once the server listens; rejects with its bind error (EADDRINUSE, EACCES…). */
export async function whenListening(server: ListeningServer): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("listening", () => resolve());
    server.once("error", reject);
  });
  return (server.address() as AddressInfo).port;
}
