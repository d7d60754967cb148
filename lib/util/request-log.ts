import { errnoName } from '../protocol/errno.ts';
import { httpChannel, requestChannel, subscribe, type HttpEvent, type RequestEvent } from './events.ts';
import type { Logger } from './log.ts';

// The debug access log: one line per protocol or HTTP request, read from the event stream
// (lib/util/events.ts). Off unless log_level = debug, so the request path pays nothing.

export function logRequests(protocolSource: object, httpSource: object | null, log: Logger): () => void {
  const offs = [
    subscribe<RequestEvent>(requestChannel, protocolSource, (e) => {
      log('debug', `${e.peer} ${e.commandName} ${e.status === 0 ? 'OK' : errnoName(e.status)} in=${e.bytesIn} out=${e.bytesOut} ${e.durationMs.toFixed(1)}ms${e.subject ? ` ${e.subject}` : ''}`);
    }),
  ];
  if (httpSource) {
    offs.push(subscribe<HttpEvent>(httpChannel, httpSource, (e) => {
      log('debug', `${e.peer} HTTP ${e.method} ${e.route} ${e.status} out=${e.bytesOut} ${e.durationMs.toFixed(1)}ms${e.subject ? ` ${e.subject}` : ''}${e.via && e.via !== 'local' ? ` via ${e.via}` : ''}`);
    }));
  }
  return () => { for (const f of offs) f(); };
}
