#!/usr/bin/env node
import process from 'node:process';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands/index.ts';
import { errorLine, exitOnClosedStdout, stdinDashMiddleware, usageLine } from './common.ts';
import { exitCodeOf } from '../lib/protocol/errno.ts';

// `fdfs`: one command for the daemons, the client operations and the tools.
// Each subcommand lives in cli/commands/; this file only wires them together.
// Exit codes: 0 done, 1 runtime error, 2 usage or configuration error.

exitOnClosedStdout();

const argv = hideBin(process.argv);
const cli = yargs(argv)
  .scriptName('fdfs')
  .usage('$0 <command> [options]')
  .strict()
  .demandCommand(1, 'name a command')
  .recommendCommands()
  .middleware(stdinDashMiddleware, true)
  .wrap(Math.min(110, process.stdout.columns || 100))
  .fail((msg, err) => {
    if (err) throw err;
    // One line saying what is wrong and which help to read, not the whole help.
    process.stderr.write(`${usageLine(msg, argv, commands.map((c) => String(c.command ?? '').split(' ')[0]!))}\n`);
    process.exit(2);
  });

for (const c of commands) cli.command(c);

try {
  await cli.parseAsync();
} catch (err) {
  process.stderr.write(`${errorLine(err)}\n`);
  process.exitCode = process.exitCode || exitCodeOf(err);
}
