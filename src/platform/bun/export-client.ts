// The export client on Bun's fetch. Bun pools keep-alive connections itself; what the Node client
// does with its agents is kept where fetch allows it: one immediate resend when a request fails
// with a reset before any answer (a connection that died during a freeze), and after a freeze a
// late timeout gives the answer a grace before the request is cut (cutting it would send it again).

import type { Scheduler, TimerHandle } from '../../model/time.js';
import { requestScheduler } from '../system-time.js';
import {
  type ExportClient,
  type ExportClientOptions,
  type HttpResponse,
  MAX_EXPORT_RESPONSE_BYTES,
  type PostRequest,
  type PostResult,
} from '../port.js';

/** Bun's fetch error codes (and Node's) that mean "the peer had closed this connection". */
const STALE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ConnectionClosed', 'ConnectionReset']);

type Attempt =
  | { kind: 'response'; response: HttpResponse }
  | { kind: 'network-error'; error: Error; code: string }
  | { kind: 'timeout' }
  | { kind: 'aborted' };

export class FetchExportClient implements ExportClient {
  private readonly now: () => number;
  private readonly scheduler: Scheduler;
  private inFlight = new Set<AbortController>();

  constructor(private readonly options: ExportClientOptions) {
    this.now = options.now ?? Date.now;
    this.scheduler = options.scheduler ?? requestScheduler;
  }

  async post(request: PostRequest): Promise<PostResult> {
    const deadline = this.now() + request.timeoutMs;
    const first = await this.attempt(request, request.timeoutMs);
    if (first.kind === 'network-error' && STALE_CODES.has(first.code)) {
      const again = await this.attempt(request, Math.max(1, deadline - this.now()));
      return { ...again, staleRetries: 1 };
    }
    return { ...first, staleRetries: 0 };
  }

  /** fetch offers no handle on idle pooled connections; nothing to close. */
  closeIdleConnections(): void {}

  destroy(): void {
    for (const controller of this.inFlight) controller.abort();
    this.inFlight.clear();
  }

  private async attempt(request: PostRequest, timeoutMs: number): Promise<Attempt> {
    if (request.signal.aborted) return { kind: 'aborted' };
    const controller = new AbortController();
    this.inFlight.add(controller);
    let cause: 'timeout' | 'aborted' | undefined;
    // As in the Node client: a deadline that fires right after a thaw often finds the answer
    // already waiting; one turn of the loop lets it arrive first.
    const cut = (why: 'timeout' | 'aborted'): void => {
      setImmediate(() => {
        cause ??= why;
        controller.abort();
      });
    };
    const onAbort = (): void => cut('aborted');
    request.signal.addEventListener('abort', onAbort, { once: true });
    const dueMs = this.now() + timeoutMs;
    let timer: TimerHandle | undefined;
    let graceGiven = false;
    const onTimeout = (): void => {
      if (!graceGiven && this.now() - dueMs > this.options.thawLateMs) {
        graceGiven = true;
        timer = this.scheduler.setTimeout(onTimeout, this.options.thawGraceMs);
        return;
      }
      cut('timeout');
    };
    timer = this.scheduler.setTimeout(onTimeout, timeoutMs);
    try {
      const res = await fetch(request.url, {
        method: 'POST',
        headers: { ...request.headers, 'user-agent': this.options.userAgent },
        body: request.body as ConstructorParameters<typeof Response>[0],
        signal: controller.signal,
      });
      const body = await readCapped(res);
      const headers: Record<string, string> = {};
      res.headers.forEach((value, key) => {
        headers[key] = value;
      });
      return { kind: 'response', response: { status: res.status, headers, body } };
    } catch (err) {
      if (cause === 'timeout') return { kind: 'timeout' };
      if (cause === 'aborted') return { kind: 'aborted' };
      const error = err instanceof Error ? err : new Error(String(err));
      const code = (error as { code?: string }).code ?? error.name;
      return { kind: 'network-error', error, code };
    } finally {
      timer?.cancel();
      request.signal.removeEventListener('abort', onAbort);
      this.inFlight.delete(controller);
    }
  }
}

async function readCapped(res: Response): Promise<Buffer> {
  if (res.body === null) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size < MAX_EXPORT_RESPONSE_BYTES) {
      parts.push(Buffer.from(value));
      size += value.length;
    }
  }
  return Buffer.concat(parts);
}
