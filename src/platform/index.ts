// The platform the extension runs on, chosen once at start-up: Bun's own APIs under Bun, Node's
// otherwise. LAMBDA_OTEL_PLATFORM=node forces the Node implementation (Bun implements its APIs too).

import { bunApi } from './bun/bun-api.js';
import { bunPlatform } from './bun/index.js';
import { nodePlatform } from './node/index.js';
import type { Platform } from './port.js';

export type { Platform } from './port.js';

let chosen: Platform | undefined;

export function platform(): Platform {
  if (chosen) return chosen;
  const bun = bunApi();
  chosen =
    bun !== undefined && process.env['LAMBDA_OTEL_PLATFORM'] !== 'node' ? bunPlatform(bun) : nodePlatform();
  return chosen;
}
