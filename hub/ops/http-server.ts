/**
 * The hub's HTTP endpoint for operators' tools (node:http, no framework): three read-only GET routes, and the web
 * dashboard's (`/`, `/events`, `POST /api/redistill`: hub/ops/dashboard.ts) when one is given:
 *  - `/metrics`: Prometheus exposition format (text 0.0.4) from the hub's prom-client Registry;
 *  - `/healthz`: 200 while the process serves at all (a liveness probe restarts it otherwise), 503 once it stops;
 *  - `/readyz`: 200 once the teacher and the generic student exist and the broker connection is up, 503 before and
 *    whenever the broker connection is down, with the reason as a line of text.
 * It binds to the host the embedded broker listens on unless told otherwise, so a hub reachable only on 127.0.0.1
 * does not expose its metrics further than its broker. Anything else: 404; a method a route does not take: 405.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ErrorCode, SitekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log';

export interface Readiness {
  readonly ready: boolean;
  readonly reason: string;
}

export interface OpsHttpOptions {
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
  readonly metrics: Registry;
  alive(): boolean;
  readiness(): Readiness;
  readonly log: Logger;
  /** Further routes: true when it handled the request. */
  readonly extra?: (req: http.IncomingMessage, res: http.ServerResponse, path: string) => Promise<boolean>;
}

export interface OpsHttpServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export async function startOpsHttp(o: OpsHttpOptions): Promise<OpsHttpServer> {
  const server = http.createServer((req, res) => {
    handle(o, req, res).catch((err: unknown) => {
      o.log.warn('http request failed', { url: req.url, error: err });
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  // A scraper that keeps its connection open must not hold the hub's stop.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new SitekdError(ErrorCode.CONFIG_INVALID, `cannot listen for HTTP on ${o.host}:${o.port}: ${err.code ?? err.message}`, { cause: err })));
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(o: OpsHttpOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] as string;
  if (o.extra !== undefined && (await o.extra(req, res, path))) return;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'method not allowed\n');
  }
  if (path === '/metrics') {
    const body = await o.metrics.metrics();
    return send(res, 200, body, o.metrics.contentType);
  }
  if (path === '/healthz') return o.alive() ? send(res, 200, 'ok\n') : send(res, 503, 'stopping\n');
  if (path === '/readyz') {
    const r = o.readiness();
    return send(res, r.ready ? 200 : 503, `${r.reason}\n`);
  }
  return send(res, 404, 'not found: try /, /metrics, /healthz or /readyz\n');
}

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
