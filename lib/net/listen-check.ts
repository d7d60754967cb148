import net from 'node:net';
import { formatAddress } from '../protocol/ip.ts';
import { FdfsError, type ErrnoName } from '../protocol/errno.ts';

// A daemon checks that it can listen before it does anything slow (a storage creates 65,536
// sub-directories on its first start): a port in use or an address not on this host is one
// line at once, not a stack trace minutes later.

const REASONS: Record<string, [ErrnoName, string]> = {
  EADDRINUSE: ['EBUSY', 'the port is already in use'],
  EADDRNOTAVAIL: ['EINVAL', 'the address is not one of this host'],
  ENOTFOUND: ['EINVAL', 'not an IP address or a known host name'],
  EAI_AGAIN: ['EAGAIN', 'the host name cannot be resolved now'],
  EACCES: ['EACCES', 'permission denied (ports below 1024 need privileges)'],
  EAFNOSUPPORT: ['EINVAL', 'address family not supported on this host'],
};

/** A listen error as one FdfsError naming the address. */
export function listenError(err: unknown, host: string | undefined, port: number): FdfsError {
  if (err instanceof FdfsError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const [errno, why] = REASONS[code] ?? ['EIO', (err as Error).message];
  return new FdfsError(errno, `cannot listen on ${formatAddress(host || '0.0.0.0', port)}: ${why}`, { cause: err });
}

/** Bind (host, port) for a moment; rejects with listenError() when the daemon could not. */
export function checkListenAddress(host: string | undefined, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', (err) => reject(listenError(err, host, port)));
    s.listen({ port, host: host || undefined, exclusive: true }, () => s.close(() => resolve()));
  });
}

/**
 * Start a daemon's listener (TCP or HTTP): rejects with the listen error itself, resolves with the
 * bound address. Later 'error' events are the caller's to handle.
 */
export function listenOn(server: net.Server, port: number, host: string | undefined): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen({ port, host: host || undefined, backlog: 1024 }, () => {
      server.off('error', onError);
      resolve(server.address() as net.AddressInfo);
    });
  });
}
