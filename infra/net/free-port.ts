/** Free TCP ports on the loopback interface. */
import { createServer } from 'node:net';

/**
 * Asks the OS for a free TCP port by binding port 0 on `host` and releasing it. Another process may take it before
 * the caller binds it; callers that start servers check again (see devstack/ports.ts).
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** True when nothing accepts a bind on `host:port` right now. */
export async function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
