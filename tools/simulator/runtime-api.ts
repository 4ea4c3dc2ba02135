// The Runtime API (/2018-06-01/runtime) the function process polls: invocations are queued and
// handed to parked /invocation/next requests (several at once on Managed Instances).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { nowMs } from './clock.js';
import { BodyTooLargeError, header, parseJson, readBody, reply, replyError, type Route } from './http.js';
import type { Timeline } from './timeline.js';

/** Lambda's synchronous response limit. */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

export interface RuntimeInvocation {
  requestId: string;
  payload: Buffer;
  deadlineMs: number;
  invokedFunctionArn: string;
  traceHeader: string;
  deliveredAtMs?: number;
}

export interface RuntimeOutcome {
  kind: 'response' | 'error';
  body: Buffer;
  errorType?: string;
  /** The runtime started posting (request headers in). */
  startMs: number;
  /** The body was complete. */
  endMs: number;
}

export interface RuntimeApiContext {
  timeline: Timeline;
  initOver(): boolean;
  onOutcome(invocation: RuntimeInvocation, outcome: RuntimeOutcome): void;
  onInitError(errorType: string, body: unknown): void;
  /** A /next parked or went away. */
  onChange(): void;
}

const INVOCATION_PATH = /^\/invocation\/([^/]+)\/(response|error)$/;

export class RuntimeApi implements Route {
  readonly prefix = '/2018-06-01/runtime';
  private parked: ServerResponse[] = [];
  private readonly queue: RuntimeInvocation[] = [];
  private readonly inFlight = new Map<string, RuntimeInvocation>();
  /** Times the function called /invocation/next. */
  nextCount = 0;
  lastNextAtMs?: number;

  constructor(private readonly ctx: RuntimeApiContext) {}

  /** Parked /next requests with no invocation waiting for them. */
  get parkedCount(): number {
    return this.parked.length;
  }

  enqueue(invocation: RuntimeInvocation): void {
    this.queue.push(invocation);
    this.handOut();
  }

  /** The invocation is over from Lambda's side (timed out): a late answer is refused. */
  abandon(requestId: string): void {
    this.inFlight.delete(requestId);
    const queued = this.queue.findIndex((i) => i.requestId === requestId);
    if (queued >= 0) this.queue.splice(queued, 1);
  }

  reset(): void {
    for (const res of this.parked) res.destroy();
    this.parked = [];
    this.queue.length = 0;
    this.inFlight.clear();
    this.nextCount = 0;
    this.lastNextAtMs = undefined;
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/invocation/next' && req.method === 'GET') return this.next(res);
    if (path === '/init/error' && req.method === 'POST') return this.initError(req, res);
    const match = INVOCATION_PATH.exec(path);
    if (match && req.method === 'POST')
      return this.outcome(req, res, match[1]!, match[2] as 'response' | 'error');
    replyError(res, 404, 'InvalidRequest', `no Runtime API at ${req.method} ${path}`);
  }

  private next(res: ServerResponse): void {
    this.nextCount += 1;
    this.lastNextAtMs = nowMs();
    this.ctx.timeline.record({ kind: 'runtime-next', atMs: this.lastNextAtMs });
    this.parked.push(res);
    res.on('close', () => {
      const at = this.parked.indexOf(res);
      if (at >= 0) {
        this.parked.splice(at, 1);
        this.ctx.onChange();
      }
    });
    this.handOut();
    this.ctx.onChange();
  }

  private handOut(): void {
    while (this.parked.length > 0 && this.queue.length > 0) {
      const res = this.parked.shift()!;
      const invocation = this.queue.shift()!;
      invocation.deliveredAtMs = nowMs();
      this.inFlight.set(invocation.requestId, invocation);
      this.ctx.timeline.record({ kind: 'runtime-invocation', requestId: invocation.requestId });
      reply(res, 200, invocation.payload, {
        'Lambda-Runtime-Aws-Request-Id': invocation.requestId,
        'Lambda-Runtime-Deadline-Ms': String(Math.round(invocation.deadlineMs)),
        'Lambda-Runtime-Invoked-Function-Arn': invocation.invokedFunctionArn,
        'Lambda-Runtime-Trace-Id': invocation.traceHeader,
      });
    }
  }

  private async outcome(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    kind: 'response' | 'error',
  ): Promise<void> {
    const startMs = nowMs();
    const invocation = this.inFlight.get(requestId);
    if (!invocation) {
      replyError(res, 400, 'InvalidRequestID', `no invocation ${requestId} is waiting for an answer`);
      req.resume();
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req, MAX_RESPONSE_BYTES);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      this.inFlight.delete(requestId);
      replyError(res, 413, 'RequestEntityTooLarge', `response over ${MAX_RESPONSE_BYTES} bytes`);
      const errorType = 'Function.ResponseSizeTooLarge';
      this.ctx.timeline.record({ kind: 'runtime-error', requestId, errorType });
      this.ctx.onOutcome(invocation, {
        kind: 'error',
        body: Buffer.alloc(0),
        errorType,
        startMs,
        endMs: nowMs(),
      });
      return;
    }
    const endMs = nowMs();
    if (!this.inFlight.delete(requestId)) {
      replyError(res, 400, 'InvalidRequestID', `invocation ${requestId} is over`);
      return;
    }
    if (kind === 'response') {
      this.ctx.timeline.record({ kind: 'runtime-response', requestId, bytes: body.length, atMs: endMs });
      reply(res, 202, { status: 'OK' });
      this.ctx.onOutcome(invocation, { kind, body, startMs, endMs });
      return;
    }
    const parsed = parseJson(body) as { errorType?: unknown } | undefined;
    const errorType =
      header(req, 'Lambda-Runtime-Function-Error-Type') ??
      (typeof parsed?.errorType === 'string' ? parsed.errorType : 'Runtime.Unknown');
    this.ctx.timeline.record({ kind: 'runtime-error', requestId, errorType, body: parsed, atMs: endMs });
    reply(res, 202, { status: 'OK' });
    this.ctx.onOutcome(invocation, { kind, body, errorType, startMs, endMs });
  }

  private async initError(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parseJson(await readBody(req, 1 << 20));
    if (this.ctx.initOver()) {
      replyError(res, 403, 'InvalidStateTransition', 'init/error is accepted during init only');
      return;
    }
    const errorType = header(req, 'Lambda-Runtime-Function-Error-Type') ?? 'Runtime.Unknown';
    this.ctx.timeline.record({ kind: 'runtime-init-error', errorType, body });
    reply(res, 202, { status: 'OK' });
    this.ctx.onInitError(errorType, body);
  }
}
