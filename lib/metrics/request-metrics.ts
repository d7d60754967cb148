import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { errnoName } from '../protocol/errno.ts';
import {
  connectionChannel, httpChannel, requestChannel, subscribe, syncChannel,
  type ConnectionEvent, type HttpEvent, type RequestEvent, type SyncEvent,
} from '../util/events.ts';

// Prometheus metrics of one daemon's request events (lib/util/events.ts): requests and latency
// by command and status, bytes in and out, open connections, the same for HTTP, and outgoing
// replication per peer (records pushed, bytes, push latency).

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class RequestMetrics {
  readonly registry = new Registry();
  private readonly unsubscribe: Array<() => void> = [];

  /** `protocolSource`: the PacketServer; `httpSource`: the HttpServer (either may come later via watch*). */
  constructor(readonly role: 'tracker' | 'storage') {
    this.registry.setDefaultLabels({ role });
  }

  watchProtocol(source: object): void {
    const r = [this.registry];
    const requests = new Counter({ name: 'fdfs_requests_total', help: 'Protocol requests by command and status (errno name, OK = 0)', labelNames: ['command', 'status'], registers: r });
    const latency = new Histogram({ name: 'fdfs_request_duration_seconds', help: 'Protocol request latency by command and status', labelNames: ['command', 'status'], buckets: LATENCY_BUCKETS, registers: r });
    const bytesIn = new Counter({ name: 'fdfs_bytes_in_total', help: 'Protocol bytes received (headers included) by command', labelNames: ['command'], registers: r });
    const bytesOut = new Counter({ name: 'fdfs_bytes_out_total', help: 'Protocol bytes sent (headers included) by command', labelNames: ['command'], registers: r });
    const open = new Gauge({ name: 'fdfs_open_connections', help: 'Protocol connections open now', registers: r });
    const accepted = new Counter({ name: 'fdfs_connections_total', help: 'Protocol connections accepted', registers: r });
    this.unsubscribe.push(subscribe<RequestEvent>(requestChannel, source, (e) => {
      const labels = { command: e.commandName, status: e.status === 0 ? 'OK' : errnoName(e.status) };
      requests.inc(labels);
      latency.observe(labels, e.durationMs / 1000);
      bytesIn.inc({ command: e.commandName }, e.bytesIn);
      bytesOut.inc({ command: e.commandName }, e.bytesOut);
    }));
    this.unsubscribe.push(subscribe<ConnectionEvent>(connectionChannel, source, (e) => {
      open.set(e.open);
      if (e.kind === 'open') accepted.inc();
    }));
  }

  watchHttp(source: object): void {
    const r = [this.registry];
    const requests = new Counter({ name: 'fdfs_http_requests_total', help: 'HTTP requests by method, route and status', labelNames: ['method', 'route', 'status'], registers: r });
    const latency = new Histogram({ name: 'fdfs_http_request_duration_seconds', help: 'HTTP request latency by route', labelNames: ['route'], buckets: LATENCY_BUCKETS, registers: r });
    const bytesOut = new Counter({ name: 'fdfs_http_bytes_out_total', help: 'HTTP bytes sent (headers included) by route', labelNames: ['route'], registers: r });
    const via = new Counter({ name: 'fdfs_http_not_local_total', help: 'HTTP file requests for files not stored here yet, by how they were answered', labelNames: ['via'], registers: r });
    this.unsubscribe.push(subscribe<HttpEvent>(httpChannel, source, (e) => {
      requests.inc({ method: e.method, route: e.route, status: String(e.status) });
      latency.observe({ route: e.route }, e.durationMs / 1000);
      bytesOut.inc({ route: e.route }, e.bytesOut);
      if (e.via === 'redirect' || e.via === 'proxy') via.inc({ via: e.via });
    }));
  }

  /** Outgoing replication events of a storage (`source`: its StorageContext, lib/storage/sync/peer-sync.ts). */
  watchSync(source: object): void {
    const r = [this.registry];
    const records = new Counter({ name: 'fdfs_sync_pushed_records_total', help: 'Binlog records pushed to a peer, by op and status (errno name, OK = 0)', labelNames: ['peer', 'op', 'status'], registers: r });
    const sent = new Counter({ name: 'fdfs_sync_sent_bytes_total', help: 'File content bytes sent to a peer (total_sync_out_bytes)', labelNames: ['peer'], registers: r });
    const taken = new Counter({ name: 'fdfs_sync_pushed_bytes_total', help: 'File content bytes a peer confirmed (success_sync_out_bytes)', labelNames: ['peer'], registers: r });
    const latency = new Histogram({ name: 'fdfs_sync_push_duration_seconds', help: 'Time from reading a binlog record to the peer\'s answer', labelNames: ['peer'], buckets: LATENCY_BUCKETS, registers: r });
    const errors = new Counter({ name: 'fdfs_sync_errors_total', help: 'Sync sessions to a peer that failed or could not start, by errno name', labelNames: ['peer', 'status'], registers: r });
    const caughtUp = new Gauge({ name: 'fdfs_sync_caught_up', help: 'Whether a peer has every record of our binlog (1) or records wait for it (0), as of the last change', labelNames: ['peer'], registers: r });
    this.unsubscribe.push(subscribe<SyncEvent>(syncChannel, source, (e) => {
      if (e.kind === 'state' && e.caughtUp !== undefined) {
        caughtUp.set({ peer: e.peer }, e.caughtUp ? 1 : 0);
      } else if (e.kind === 'error') {
        errors.inc({ peer: e.peer, status: errnoName(e.status ?? 0) });
      } else if (e.kind === 'sent') {
        if (e.bytes) sent.inc({ peer: e.peer }, e.bytes);
      } else if (e.kind === 'pushed') {
        const status = e.status ?? 0;
        records.inc({ peer: e.peer, op: e.op ?? '', status: status === 0 ? 'OK' : errnoName(status) }, e.records ?? 1);
        if (status === 0 && e.bytes) taken.inc({ peer: e.peer }, e.bytes);
        if (e.durationMs !== undefined) latency.observe({ peer: e.peer }, e.durationMs / 1000);
      }
    }));
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }
}
