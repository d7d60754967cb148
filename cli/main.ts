#!/usr/bin/env node
import process from 'node:process';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands/index.ts';

// `fdfs`: one command for the daemons, the client operations and the tools.
// Each subcommand lives in cli/commands/; this file only wires them together.

const cli = yargs(hideBin(process.argv))
  .scriptName('fdfs')
  .usage('$0 <command> [options]')
  .strict()
  .demandCommand(1, 'name a command (fdfs --help lists them)')
  .recommendCommands()
  .wrap(Math.min(110, process.stdout.columns || 100))
  .fail((msg, err, y) => {
    if (err) throw err;
    process.stderr.write(`fdfs: ${msg}\n\n`);
    y.showHelp((s: string) => process.stderr.write(`${s}\n`));
    process.exit(2);
  });

for (const c of commands) cli.command(c);

try {
  await cli.parseAsync();
} catch (err) {
  const e = err as { message?: string };
  process.stderr.write(`fdfs: ${e.message ?? String(err)}\n`);
  process.exitCode = process.exitCode || 1;
}
