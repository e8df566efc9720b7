import net from "node:net";

/**
 * A TCP port free on 127.0.0.1 right now (the OS picks it; the socket is closed before this
 * resolves). Another process can take it before the caller binds it: callers retry on a failed bind.
 */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no free port"))));
    });
  });
}
