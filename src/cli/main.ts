#!/usr/bin/env node
import { Command } from 'commander';
import { isMeridianError } from '../common/errors.js';
import { VERSION } from '../common/version.js';
import { register as registerController } from './commands/controller.js';
import { register as registerDemo } from './commands/demo.js';
import { register as registerFleet } from './commands/fleet.js';
import { register as registerPlan } from './commands/plan.js';
import { register as registerProxy } from './commands/proxy.js';
import { register as registerRoute } from './commands/route.js';
import { register as registerSandbox } from './commands/sandbox.js';

const program = new Command()
  .name('meridian')
  .description('Global L7 load balancer and Kubernetes cluster federation')
  .version(VERSION, '-V, --version', 'print Meridian\'s version')
  .showHelpAfterError();

// Each subcommand lives in its own module under src/cli/commands and registers itself here.
registerSandbox(program);
registerDemo(program);
registerPlan(program);
registerController(program);
registerRoute(program);
registerProxy(program);
registerFleet(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (isMeridianError(err)) {
    process.stderr.write(`meridian: ${err.describe()}\n`);
    process.exit(2);
  }
  // Anything else is unexpected: one line with the reason; the stack only when asked for.
  const e = err as Error & { code?: string };
  process.stderr.write(`meridian: E_UNEXPECTED: ${e?.message ?? String(err)}${e?.code ? ` (${e.code})` : ''}\n  hint: run again with MERIDIAN_DEBUG=1 for the stack, and report it if it is Meridian's fault\n`);
  if (process.env.MERIDIAN_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  process.exit(1);
}
