import { setTimeout as sleep } from 'node:timers/promises';
import { ClientConnection } from '../net/client-connection.ts';
import { FdfsError, toFdfsError } from '../protocol/errno.ts';
import { formatAddress } from '../protocol/ip.ts';

// Connections of the client side, kept per ip:port (PROTOCOL.md §1.4 "Connection pool").

export interface PoolOptions {
  /** Seconds allowed for each connect attempt (client.conf connect_timeout). Default 10. */
  connectTimeout?: number;
  /** Seconds without socket progress before an operation fails (network_timeout). Default 30. */
  networkTimeout?: number;
  /**
   * Keep connections open between operations (use_connection_pool). Default true. When false
   * every operation opens its own connections and closes them when it ends, like the C client
   * without a pool.
   */
  enabled?: boolean;
  /** Seconds a pooled connection may stay idle before it is dropped (connection_pool_max_idle_time). Default 3600. */
  maxIdleTime?: number;
  /** Source address for outgoing connections. Default: chosen by the OS. */
  localAddress?: string;
}

export interface Lease {
  conn: ClientConnection;
  /** True when the connection came out of the pool rather than from a fresh connect. */
  reused: boolean;
}

export interface AcquireOptions {
  /**
   * §1.4 point 5: a storage refused with ECONNREFUSED/ETIMEDOUT/EAGAIN/EADDRINUSE is retried up to
   * 3 times after 100, 200 and 400 ms. Trackers are not retried: the next tracker is tried instead.
   */
  retryConnect?: boolean;
  /** Skip the idle list: a retry after a dead pooled socket wants a fresh connection. */
  fresh?: boolean;
}

export interface RunOptions extends AcquireOptions {
  /**
   * The request may be sent twice without harm. Only such requests are retried (once, on a fresh
   * connection) when a pooled socket turns out to be dead: the peer may have closed it while idle,
   * and nothing shows that until a request fails (§1.4: there is no probe).
   */
  idempotent?: boolean;
  /** File ID or address errors should name; defaults to the server address. */
  subject?: string;
  /** What the server is, for connect errors: 'tracker', 'storage'. */
  role?: string;
}

const RETRY_DELAYS_MS = [100, 200, 400];
const RETRYABLE_CONNECT = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EAGAIN', 'EADDRINUSE']);
/** Errors meaning "the socket was dead", as opposed to a status the server sent. */
const DEAD_SOCKET = new Set(['ENOTCONN', 'ECONNRESET', 'EPIPE']);

/** An error about `subject`: keeps the errno, adds the subject if the error had none. */
export function withSubject(err: unknown, subject: string): FdfsError {
  const e = toFdfsError(err, subject);
  if (e.subject) return e;
  const detail = e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : e.message;
  return new FdfsError(e.errno, detail, { subject, cause: e, server: e.server, command: e.command, retryable: e.retryable, fatal: e.fatal });
}

/**
 * A failed connect, worded for one line: "ECONNREFUSED: cannot connect to tracker (127.0.0.1:22122)".
 * The errno stays that of the failure (refused, timed out, unreachable).
 */
export function connectError(err: unknown, address: string, role = 'server'): FdfsError {
  const e = toFdfsError(err, address);
  const cause = (e.cause as { code?: string } | undefined)?.code;
  if (e.code === 'ETIMEDOUT' || cause === 'ENOTFOUND' || cause === 'EAI_AGAIN') return withSubject(e, address);
  return new FdfsError(e.errno, `cannot connect to ${role}`, { subject: address, cause: err });
}

export class ConnectionPool {
  readonly options: Required<Omit<PoolOptions, 'localAddress'>> & { localAddress?: string };
  readonly #idle = new Map<string, ClientConnection[]>();
  readonly #busy = new Set<ClientConnection>();
  readonly #watched = new WeakSet<ClientConnection>();
  #closed = false;
  /** Connections opened over the pool's life; tests use it to see reuse. */
  connectCount = 0;

  constructor(opts: PoolOptions = {}) {
    this.options = {
      connectTimeout: opts.connectTimeout && opts.connectTimeout > 0 ? opts.connectTimeout : 10,
      networkTimeout: opts.networkTimeout && opts.networkTimeout > 0 ? opts.networkTimeout : 30,
      enabled: opts.enabled ?? true,
      maxIdleTime: opts.maxIdleTime && opts.maxIdleTime > 0 ? opts.maxIdleTime : 3600,
      localAddress: opts.localAddress,
    };
  }

  /** Idle connections, all addresses together (for tests and the TUI). */
  get idleCount(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  get busyCount(): number { return this.#busy.size; }

  async acquire(host: string, port: number, opts: AcquireOptions = {}): Promise<Lease> {
    if (this.#closed) throw new FdfsError('ENOTCONN', 'client closed', { subject: formatAddress(host, port) });
    if (!opts.fresh) {
      const list = this.#idle.get(formatAddress(host, port));
      const maxIdleMs = this.options.maxIdleTime * 1000;
      while (list && list.length > 0) {
        // Most recently used first: the one least likely to have been closed by the peer.
        const conn = list.pop()!;
        if (!conn.usable || conn.socket.destroyed) continue;
        if (Date.now() - conn.lastUsed > maxIdleMs) { conn.close(); continue; }
        conn.socket.ref();
        this.#busy.add(conn);
        return { conn, reused: true };
      }
    }
    const conn = await this.#connect(host, port, opts.retryConnect ?? false);
    this.#busy.add(conn);
    return { conn, reused: false };
  }

  async #connect(host: string, port: number, retry: boolean): Promise<ClientConnection> {
    const connectOpts = {
      connectTimeout: this.options.connectTimeout,
      networkTimeout: this.options.networkTimeout,
      localAddress: this.options.localAddress,
    };
    for (let attempt = 0; ; attempt++) {
      try {
        const conn = await ClientConnection.connect(host, port, connectOpts);
        this.connectCount++;
        return conn;
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (!retry || attempt >= RETRY_DELAYS_MS.length || !RETRYABLE_CONNECT.has(code) || this.#closed) throw err;
        await sleep(RETRY_DELAYS_MS[attempt]);
      }
    }
  }

  /**
   * Give a connection back. `ok` means the operation ended with status 0 and the stream is at a
   * request boundary; anything else closes the connection (§1.4: after any error it is closed).
   */
  release(conn: ClientConnection, ok: boolean): void {
    this.#busy.delete(conn);
    if (!ok || !conn.usable || conn.socket.destroyed) { conn.destroy(); return; }
    if (!this.options.enabled || this.#closed) { conn.close(); return; }
    conn.idle();
    // An idle pooled socket must not keep the process alive (undici does the same).
    conn.socket.unref();
    const key = conn.address;
    let list = this.#idle.get(key);
    if (!list) { list = []; this.#idle.set(key, list); }
    list.push(conn);
    if (!this.#watched.has(conn)) {
      // Once per connection: a peer closing an idle socket takes it out of the pool at once.
      this.#watched.add(conn);
      conn.socket.once('close', () => {
        const l = this.#idle.get(key);
        const i = l ? l.indexOf(conn) : -1;
        if (i >= 0) l!.splice(i, 1);
      });
    }
  }

  /**
   * One operation on one connection: acquire, run, release. A dead pooled socket is replaced once
   * by a fresh connection when the request is idempotent.
   */
  async run<T>(host: string, port: number, fn: (conn: ClientConnection) => Promise<T>, opts: RunOptions = {}): Promise<T> {
    let lease: Lease;
    try {
      lease = await this.acquire(host, port, opts);
    } catch (err) {
      throw connectError(err, formatAddress(host, port), opts.role);
    }
    return this.use(lease, fn, opts);
  }

  /** Run fn on an acquired connection and release it (see run). */
  async use<T>(lease: Lease, fn: (conn: ClientConnection) => Promise<T>, opts: RunOptions = {}): Promise<T> {
    const { conn } = lease;
    try {
      const out = await fn(conn);
      this.release(conn, true);
      return out;
    } catch (err) {
      this.release(conn, false);
      const code = (err as { code?: string }).code ?? '';
      if (!(lease.reused && opts.idempotent && DEAD_SOCKET.has(code))) throw withSubject(err, opts.subject ?? conn.address);
    }
    return this.run(conn.host, conn.port, fn, { ...opts, fresh: true, idempotent: false });
  }

  /** Close every idle connection and refuse new work; connections in use close when released. */
  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const c of list) c.close();
    this.#idle.clear();
  }

  /** Close everything at once, including connections in use (aborts their operations). */
  destroy(): void {
    this.close();
    for (const c of this.#busy) c.destroy();
    this.#busy.clear();
  }
}
