import type { CommandModule } from 'yargs';
import { trackerCommand } from './tracker.ts';
import { storageCommand } from './storage.ts';
import { clientCommands } from './client.ts';
import { devCommand } from './dev.ts';
import { monitorCommand } from './monitor.ts';
import { putCommand } from './put.ts';
import { getCommand } from './get.ts';
import { lsCommand } from './ls.ts';
import { exportCommand } from './export.ts';
import { urlCommand } from './url.ts';

// Every `fdfs` subcommand, in the order `fdfs --help` lists them.
export const commands: CommandModule<any, any>[] = [
  ...clientCommands,
  putCommand,
  getCommand,
  lsCommand,
  exportCommand,
  urlCommand,
  monitorCommand,
  trackerCommand,
  storageCommand,
  devCommand,
];
