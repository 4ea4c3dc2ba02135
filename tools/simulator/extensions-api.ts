// The Extensions API (/2020-01-01/extension): registration rules, the blocking /event/next, and
// the init/exit error reports.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { nowMs } from './clock.js';
import { header, parseJson, readBody, reply, replyError, type Route } from './http.js';
import type { Timeline } from './timeline.js';
import type { SimulatorMode } from './types.js';

export type ExtensionEventName = 'INVOKE' | 'SHUTDOWN';

export type ExtensionEvent =
  | {
      eventType: 'INVOKE';
      deadlineMs: number;
      requestId: string;
      invokedFunctionArn: string;
      tracing: { type: string; value: string };
    }
  | { eventType: 'SHUTDOWN'; shutdownReason: string; deadlineMs: number };

export interface ExtensionRegistration {
  name: string;
  identifier: string;
  events: ExtensionEventName[];
  registeredAtMs: number;
  /** The parked /event/next, when there is one. */
  pending: ServerResponse | null;
  /** Events not yet handed out. */
  queue: ExtensionEvent[];
  nextCount: number;
  firstNextAtMs?: number;
  lastNextAtMs?: number;
  receivedShutdown: boolean;
  /** Set by /init/error or /exit/error. */
  reportedError?: { which: 'init' | 'exit'; errorType: string };
}

export interface RegisterInfo {
  functionName: string;
  functionVersion: string;
  handler: string;
  accountId: string;
}

export interface ExtensionsApiContext {
  mode: SimulatorMode;
  timeline: Timeline;
  registerInfo: RegisterInfo;
  initOver(): boolean;
  /** True when `name` is an extension executable started in this environment. */
  isLaunched(name: string): boolean;
  /** Any change to registrations or parked state: the simulator re-checks what it waits for. */
  onChange(): void;
  onError(registration: ExtensionRegistration, which: 'init' | 'exit', errorType: string): void;
  /** The extension's first /event/next: its init is done. */
  onFirstNext(registration: ExtensionRegistration): void;
}

const EVENT_NAMES: readonly ExtensionEventName[] = ['INVOKE', 'SHUTDOWN'];

export class ExtensionsApi implements Route {
  readonly prefix = '/2020-01-01/extension';
  private readonly byName = new Map<string, ExtensionRegistration>();
  private readonly byIdentifier = new Map<string, ExtensionRegistration>();

  constructor(private readonly ctx: ExtensionsApiContext) {}

  registrations(): ExtensionRegistration[] {
    return [...this.byName.values()];
  }

  get(name: string): ExtensionRegistration | undefined {
    return this.byName.get(name);
  }

  nameOf(identifier: string | undefined): string | undefined {
    return identifier === undefined ? undefined : this.byIdentifier.get(identifier)?.name;
  }

  /** Parked: waiting on /event/next with nothing left to hand out. */
  isParked(reg: ExtensionRegistration): boolean {
    return reg.pending !== null && reg.queue.length === 0;
  }

  /** Queues an event for the extension, handing it out at once if it is parked. */
  dispatch(reg: ExtensionRegistration, event: ExtensionEvent): void {
    if (event.eventType === 'SHUTDOWN') reg.receivedShutdown = true;
    reg.queue.push(event);
    this.handOut(reg);
  }

  /** Forgets every registration (the environment is gone); parked requests are dropped. */
  reset(): void {
    for (const reg of this.byName.values()) reg.pending?.destroy();
    this.byName.clear();
    this.byIdentifier.clear();
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/register' && req.method === 'POST') return this.register(req, res);
    if (path === '/event/next' && req.method === 'GET') return this.next(req, res);
    if (path === '/init/error' && req.method === 'POST') return this.reportError(req, res, 'init');
    if (path === '/exit/error' && req.method === 'POST') return this.reportError(req, res, 'exit');
    replyError(res, 404, 'InvalidRequest', `no Extensions API at ${req.method} ${path}`);
  }

  private async register(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { ctx } = this;
    const body = parseJson(await readBody(req, 1 << 16));
    const name = header(req, 'Lambda-Extension-Name') ?? '';
    const acceptFeature = header(req, 'Lambda-Extension-Accept-Feature');
    const refuse = (status: number, errorType: string, errorMessage: string) => {
      ctx.timeline.record({
        kind: 'register',
        name,
        status,
        acceptFeature,
        error: `${errorType}: ${errorMessage}`,
      });
      replyError(res, status, errorType, errorMessage);
    };

    if (ctx.initOver()) {
      refuse(403, 'Extension.RegisterAfterInit', 'extensions register during init only');
      return;
    }
    if (!name || !ctx.isLaunched(name)) {
      refuse(
        403,
        'Extension.UnknownExtension',
        `Lambda-Extension-Name ${JSON.stringify(name)} is not an executable in /opt/extensions`,
      );
      return;
    }
    if (this.byName.has(name)) {
      refuse(403, 'Extension.AlreadyRegistered', `extension ${name} is already registered`);
      return;
    }
    const events = (body as { events?: unknown } | undefined)?.events;
    if (!Array.isArray(events) || events.some((e) => !(EVENT_NAMES as readonly unknown[]).includes(e))) {
      refuse(
        400,
        'InvalidEventType',
        `events must be a list of INVOKE and SHUTDOWN; got ${JSON.stringify(events)}`,
      );
      return;
    }
    if (ctx.mode === 'managed-instances' && events.includes('INVOKE')) {
      refuse(403, 'Extension.InvokeNotSupported', 'Lambda Managed Instances deliver SHUTDOWN only');
      return;
    }

    const reg: ExtensionRegistration = {
      name,
      identifier: randomUUID(),
      events: [...new Set(events as ExtensionEventName[])],
      registeredAtMs: nowMs(),
      pending: null,
      queue: [],
      nextCount: 0,
      receivedShutdown: false,
    };
    this.byName.set(name, reg);
    this.byIdentifier.set(reg.identifier, reg);
    ctx.timeline.record({
      kind: 'register',
      name,
      status: 200,
      events: reg.events,
      identifier: reg.identifier,
      acceptFeature,
      atMs: reg.registeredAtMs,
    });
    const info = ctx.registerInfo;
    const wantsAccountId = (acceptFeature ?? '')
      .split(',')
      .map((f) => f.trim())
      .includes('accountId');
    reply(
      res,
      200,
      {
        functionName: info.functionName,
        functionVersion: info.functionVersion,
        handler: info.handler,
        ...(wantsAccountId ? { accountId: info.accountId } : {}),
      },
      { 'Lambda-Extension-Identifier': reg.identifier },
    );
    ctx.onChange();
  }

  private next(req: IncomingMessage, res: ServerResponse): void {
    const reg = this.byIdentifier.get(header(req, 'Lambda-Extension-Identifier') ?? '');
    if (!reg) {
      replyError(
        res,
        403,
        'Extension.UnknownExtensionIdentifier',
        'missing or unknown Lambda-Extension-Identifier',
      );
      return;
    }
    const atMs = nowMs();
    reg.nextCount += 1;
    reg.firstNextAtMs ??= atMs;
    reg.lastNextAtMs = atMs;
    this.ctx.timeline.record({ kind: 'extension-next', name: reg.name, status: 200, atMs });
    if (reg.nextCount === 1) this.ctx.onFirstNext(reg);
    // A second /event/next replaces an abandoned one.
    if (reg.pending && reg.pending !== res) reg.pending.destroy();
    reg.pending = res;
    res.on('close', () => {
      if (reg.pending === res) {
        reg.pending = null;
        this.ctx.onChange();
      }
    });
    this.handOut(reg);
    this.ctx.onChange();
  }

  private handOut(reg: ExtensionRegistration): void {
    const res = reg.pending;
    const event = reg.queue[0];
    if (!res || !event) return;
    reg.queue.shift();
    reg.pending = null;
    this.ctx.timeline.record({ kind: 'extension-event', name: reg.name, event: { ...event } });
    reply(res, 200, event, { 'Lambda-Extension-Event-Identifier': randomUUID() });
  }

  private async reportError(
    req: IncomingMessage,
    res: ServerResponse,
    which: 'init' | 'exit',
  ): Promise<void> {
    const body = parseJson(await readBody(req, 1 << 20));
    const reg = this.byIdentifier.get(header(req, 'Lambda-Extension-Identifier') ?? '');
    const errorType = header(req, 'Lambda-Extension-Function-Error-Type');
    const record = (status: number) =>
      this.ctx.timeline.record({ kind: 'extension-error', which, name: reg?.name, status, errorType, body });
    if (!reg) {
      record(403);
      replyError(
        res,
        403,
        'Extension.UnknownExtensionIdentifier',
        'missing or unknown Lambda-Extension-Identifier',
      );
      return;
    }
    if (!errorType) {
      record(400);
      replyError(res, 400, 'InvalidRequest', 'Lambda-Extension-Function-Error-Type is required');
      return;
    }
    if (which === 'init' && this.ctx.initOver()) {
      record(403);
      replyError(res, 403, 'Extension.InitOver', 'init/error is accepted during init only');
      return;
    }
    record(202);
    reg.reportedError = { which, errorType };
    reply(res, 202, { status: 'OK' });
    this.ctx.onError(reg, which, errorType);
  }
}
