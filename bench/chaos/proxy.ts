import net from 'node:net';
import { normalizeIp } from '../../lib/protocol/ip.ts';

// A TCP proxy in front of one storage. Peers reach that storage through it (its storage_ids.conf
// entry lists the proxy as second address), and it forwards each connection from the caller's own
// IP, so the storage sees who is talking. Faults apply to one caller IP only — the link between
// two storages: 'drop' cuts its connections and refuses new ones at once; 'stall' keeps them open
// and forwards nothing until healed.

export type ProxyMode = 'pass' | 'drop' | 'stall';

interface Link { from: string; client: net.Socket; upstream: net.Socket }

export class FaultProxy {
  private server: net.Server | null = null;
  private readonly links = new Set<Link>();
  mode: ProxyMode = 'pass';
  /** The caller whose link the faults hit. */
  faultyFrom = '';
  connections = 0;

  constructor(readonly listen: { host: string; port: number }, readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listen.port, this.listen.host, () => resolve());
    });
    this.server = server;
  }

  private hit(from: string): boolean {
    return from === this.faultyFrom && this.mode !== 'pass';
  }

  private accept(client: net.Socket): void {
    this.connections++;
    const from = normalizeIp(client.remoteAddress);
    client.on('error', () => {});
    if (this.hit(from) && this.mode === 'drop') {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: this.target.host, port: this.target.port, localAddress: from });
    upstream.on('error', () => {});
    const link: Link = { from, client, upstream };
    this.links.add(link);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.links.delete(link);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
    if (this.hit(from)) this.stall(link);
  }

  private stall(l: Link): void {
    l.client.unpipe(l.upstream);
    l.upstream.unpipe(l.client);
    l.client.pause();
    l.upstream.pause();
  }

  private unstall(l: Link): void {
    l.client.pipe(l.upstream);
    l.upstream.pipe(l.client);
    l.client.resume();
    l.upstream.resume();
  }

  /** Start a fault on the link from `from`. */
  inject(mode: 'drop' | 'stall', from: string): void {
    this.faultyFrom = from;
    this.mode = mode;
    for (const l of this.links) {
      if (l.from !== from) continue;
      if (mode === 'drop') {
        l.client.destroy();
        l.upstream.destroy();
      } else {
        this.stall(l);
      }
    }
  }

  heal(): void {
    const was = this.mode;
    this.mode = 'pass';
    if (was === 'stall') for (const l of this.links) if (l.from === this.faultyFrom) this.unstall(l);
  }

  async stop(): Promise<void> {
    for (const l of this.links) { l.client.destroy(); l.upstream.destroy(); }
    this.links.clear();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
