import type { CommandModule } from 'yargs';
import { trackerCommand } from './tracker.ts';
import { storageCommand } from './storage.ts';
import { clientCommands } from './client.ts';
import { devCommand } from './dev.ts';

// Every `fdfs` subcommand, in the order `fdfs --help` lists them.
export const commands: CommandModule<any, any>[] = [
  ...clientCommands,
  trackerCommand,
  storageCommand,
  devCommand,
];
