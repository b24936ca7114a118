#!/usr/bin/env node
import { Command } from 'commander';
import { isMeridianError } from '../common/errors.js';
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
  throw err;
}
