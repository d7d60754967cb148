import process from 'node:process';
import type { Socket } from 'node:net';

/**
 * TCP_QUICKACK after a read of a server connection that left a request incomplete; FastDFS sets
 * it after every recv (libfastcommon's TCP_SET_QUICK_ACK, `tcp_quick_ack = true` by default).
 *
 * Why: a FastDFS sender (sync, and its client tools) writes a request's header and its content
 * with two calls on a socket without TCP_NODELAY, so the content waits (Nagle) until the header is
 * acknowledged. Linux delays that acknowledgement by up to 40 ms on a connection that answers
 * requests ("pingpong" mode), so every such request took ~42 ms to an fdfs storage and 0.9 ms to a
 * C one. TCP_QUICKACK is not sticky (the kernel drops it again), hence once per read.
 *
 * Node has no socket option call for it, so this goes through `koffi` (an optional dependency, a
 * maintained FFI with prebuilt binaries) to libc's setsockopt. Where it cannot load (not Linux, no
 * koffi, Deno without FFI) every function here is a no-op: only the latency above remains.
 */

const IPPROTO_TCP = 6;
const TCP_QUICKACK = 12;

type SetSockOpt = (fd: number, level: number, name: number, value: number[], len: number) => number;

let setsockopt: SetSockOpt | null = null;
let loading: Promise<boolean> | null = null;

/** Loads the setsockopt binding once; true when quick ACKs work here. */
export function loadQuickAck(): Promise<boolean> {
  loading ??= (async () => {
    if (process.platform !== 'linux' || 'Deno' in globalThis) return false;
    // FDFS_QUICKACK=0 turns it off (to measure what it saves).
    if (process.env.FDFS_QUICKACK === '0') return false;
    try {
      // A variable specifier: the type checker and bundlers must not require the optional package.
      const name = 'koffi';
      const mod = await import(name) as { default?: unknown };
      const koffi = (mod.default ?? mod) as { load(lib: string): { func(sig: string): SetSockOpt } };
      const fn = koffi.load('libc.so.6').func('int setsockopt(int, int, int, _In_ int *, uint32_t)');
      setsockopt = fn;
      return true;
    } catch {
      return false;
    }
  })();
  return loading;
}

function fdOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

/**
 * Acknowledge reads on this socket at once. Call loadQuickAck() first (at server start, not
 * awaited: loading the binding must not delay listening); a socket enabled before it finished
 * gets it then. Returns whether it is in effect now.
 */
export function enableQuickAck(socket: Socket, awaitingBytes: () => boolean): boolean {
  const fn = setsockopt;
  if (!fn) {
    // Still loading (start-up): apply it when ready, so a long-lived sync connection accepted
    // early is not left without it for its whole life.
    void loading?.then((ok) => { if (ok && !socket.destroyed) enableQuickAck(socket, awaitingBytes); });
    return false;
  }
  const fd = fdOf(socket);
  if (fd < 0) return false;
  const one = [1];
  const set = () => {
    if (socket.destroyed) return;
    try { fn(fd, IPPROTO_TCP, TCP_QUICKACK, one, 4); } catch { /* the socket is going away */ }
  };
  set();
  // Only after a read that left a package incomplete (`awaitingBytes`): one that arrived whole
  // gets its ACK with the answer, and the call is a system call per request saved.
  socket.on('data', () => { if (awaitingBytes()) set(); });
  return true;
}
