// Entry point of the extension process (started by the layer's launcher from /opt/extensions).

import { runExtension } from './extension.js';
import { log } from './extension-log.js';

// The extension must never take the function down: stray errors are logged, not fatal.
process.on('uncaughtException', (err) => log.error('uncaught exception', err));
process.on('unhandledRejection', (reason) => log.error('unhandled rejection', reason));

await runExtension();
