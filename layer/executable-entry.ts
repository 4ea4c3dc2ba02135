// Entry point of the compiled executable (`bun build --compile`, see layer/build-executable.mjs). The
// same as src/main.ts but without top-level await: a CommonJS entry lets Bun ship the bundle as
// precompiled bytecode, which is most of the executable's start-up gain.

import { runExtension } from '../src/extension.js';
import { log } from '../src/extension-log.js';
import { dirnamePath } from '../src/platform/paths.js';

// The extension must never take the function down: stray errors are logged, not fatal.
process.on('uncaughtException', (err) => log.error('uncaught exception', err));
process.on('unhandledRejection', (reason) => log.error('unhandled rejection', reason));

// The executable sits in <layer>/otel-lambda-extension/bin/; config.yaml one level up. Inside the
// executable import.meta.url names Bun's embedded file system, not the layer.
void runExtension({ layerDir: dirnamePath(dirnamePath(process.execPath)) });
