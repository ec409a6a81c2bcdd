/**
 * The web dashboard's routes on the hub's HTTP server (hub/ops/http-server.ts):
 *  - `GET /`: one self-contained page (hub/ops/dashboard-page.ts, no build step, nothing loaded from elsewhere);
 *  - `GET /events`: Server-Sent Events. `status` carries the same figures as the `status` and `sites` command
 *    replies (`{hub, sites}`), sent on connect, every `intervalMs` and after each job event; `job` carries each
 *    JobEvent exactly as published on `sitekd/v1/hub/jobs` (docs/protocol.md);
 *  - `GET /api/history?site=S[&since=MS]`: the site's history (hub/ops/site-history.ts; the query checked by zod: 400
 *    SITEKD_ERR_HTTP_BAD_REQUEST, 404 for a site the hub does not know). Read-only like `/events`, so no login;
 *  - `POST /api/redistill?site=S`: queues a round exactly as the MQTT `redistill` command does and answers with its
 *    reply (`{jobId, state, coalesced}`). With authentication on it needs an operator's HTTP Basic credentials
 *    (hub/ops/http-auth.ts). It also needs the header `X-Sitekd-Request: 1`: a browser sends a custom header
 *    cross-origin only after a CORS preflight this server never grants, so another site's page cannot make a
 *    logged-in browser press the button (credentials a browser remembers would otherwise go along).
 */
import type * as http from 'node:http';
import { z } from 'zod';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import type { JobEvent } from '../../shared/protocol/messages';
import { isValidSiteId } from '../../shared/protocol/topics';
import { DASHBOARD_PAGE } from './dashboard-page';
import type { OperatorAuth } from './http-auth';

export interface DashboardDeps {
  /** `{hub, sites}`: the `status` reply and the `sites` reply's list. */
  snapshot(): Record<string, unknown>;
  /** The site's history for `GET /api/history` (points from `since` on); throws SITE_UNKNOWN. */
  history(site: string, since?: number): Record<string, unknown>;
  /** Counts a refused query (its error code). */
  onBadRequest(code: string): void;
  /** The `redistill` command; throws SITE_UNKNOWN or JOB_REJECTED. */
  redistill(site: string): { readonly jobId: string; readonly state: string; readonly coalesced: boolean };
  readonly auth: OperatorAuth;
  readonly log: Logger;
  /** Period of the `status` event (2 s by default). */
  readonly intervalMs?: number;
}

/** More open event streams than an operator's tabs would need are refused (each costs a snapshot per period). */
const MAX_STREAMS = 64;

const HistoryQuery = z.strictObject({
  site: z.string().refine(isValidSiteId, 'must be a site id'),
  /** Only points from this time (ms) on: the page asks for what it lacks, not 24 h of points every few seconds. */
  since: z.string().regex(/^\d{1,16}$/, 'must be a time in ms').transform(Number).optional(),
});

export class Dashboard {
  private readonly streams = new Set<http.ServerResponse>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly d: DashboardDeps) {}

  /** Handles the dashboard's routes; false for any other path. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<boolean> {
    if (path === '/' || path === '/index.html') {
      if (!allow(req, res, 'GET')) return true;
      send(res, 200, DASHBOARD_PAGE, 'text/html; charset=utf-8');
      return true;
    }
    if (path === '/events') {
      if (allow(req, res, 'GET')) this.openStream(res);
      return true;
    }
    if (path === '/api/history') {
      if (allow(req, res, 'GET')) this.sendHistory(req, res);
      return true;
    }
    if (path === '/api/redistill') {
      if (allow(req, res, 'POST')) await this.redistill(req, res);
      return true;
    }
    return false;
  }

  /** A job changed: every stream gets the event, then fresh figures (not on mere progress: they did not change). */
  jobEvent(e: JobEvent): void {
    if (this.streams.size === 0) return;
    this.broadcast('job', e);
    if (e.state !== 'running') this.broadcast('status', this.d.snapshot());
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const res of this.streams) res.end();
    this.streams.clear();
  }

  private openStream(res: http.ServerResponse): void {
    if (this.streams.size >= MAX_STREAMS) return send(res, 503, 'too many event streams\n');
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    this.streams.add(res);
    res.on('close', () => {
      this.streams.delete(res);
      if (this.streams.size === 0 && this.timer !== undefined) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    });
    write(res, 'hello', { auth: this.d.auth.required ? 'operator' : 'none' });
    write(res, 'status', this.d.snapshot());
    // Figures are computed only while someone watches.
    this.timer ??= setInterval(() => this.broadcast('status', this.d.snapshot()), this.d.intervalMs ?? 2000);
    this.timer.unref();
  }

  private broadcast(event: string, data: unknown): void {
    for (const res of this.streams) write(res, event, data);
  }

  private sendHistory(req: http.IncomingMessage, res: http.ServerResponse): void {
    const q = HistoryQuery.safeParse(Object.fromEntries(new URL(req.url ?? '/', 'http://hub').searchParams));
    if (!q.success) {
      const issue = q.error.issues[0];
      const message = `bad query: ${issue?.path.join('.') || 'query'}: ${issue?.message ?? 'invalid'}; try /api/history?site=S`;
      this.d.onBadRequest(ErrorCode.HTTP_BAD_REQUEST);
      return sendJson(res, 400, { error: { code: ErrorCode.HTTP_BAD_REQUEST, message } });
    }
    try {
      sendJson(res, 200, this.d.history(q.data.site, q.data.since));
    } catch (err) {
      if (!isSitekdError(err, ErrorCode.SITE_UNKNOWN)) throw err;
      sendJson(res, 404, { error: { code: err.code, message: err.message } });
    }
  }

  private async redistill(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.resume(); // the body is not used; drain it so the connection can be reused
    if (req.headers['x-sitekd-request'] !== '1') return sendJson(res, 403, { error: { code: ErrorCode.HTTP_REFUSED, message: 'missing header X-Sitekd-Request: 1' } });
    const verdict = await this.d.auth.check(req.headers.authorization);
    if (!verdict.ok) {
      // No `WWW-Authenticate: Basic`: the page asks for the login itself, and the browser's own prompt would cache
      // the credentials for every later request of the tab.
      return sendJson(res, verdict.status, { error: { code: ErrorCode.HTTP_REFUSED, message: verdict.reason } });
    }
    const site = new URL(req.url ?? '/', 'http://hub').searchParams.get('site') ?? '';
    try {
      const r = this.d.redistill(site);
      this.d.log.info('redistill requested over HTTP', { site, user: verdict.user ?? null, job: r.jobId, coalesced: r.coalesced });
      sendJson(res, 202, { ...r });
    } catch (err) {
      if (!isSitekdError(err)) throw err;
      sendJson(res, err.code === ErrorCode.SITE_UNKNOWN ? 404 : 409, { error: { code: err.code, message: err.message } });
    }
  }
}

function allow(req: http.IncomingMessage, res: http.ServerResponse, method: 'GET' | 'POST'): boolean {
  if (req.method === method || (method === 'GET' && req.method === 'HEAD')) return true;
  res.setHeader('Allow', method === 'GET' ? 'GET, HEAD' : 'POST');
  send(res, 405, 'method not allowed\n');
  return false;
}

function write(res: http.ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  send(res, status, `${JSON.stringify(body)}\n`, 'application/json');
}

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
