import type { CommandModule } from 'yargs';
import { uploadCommand } from './client/upload.ts';
import { downloadCommand } from './client/download.ts';
import { deleteCommand } from './client/delete.ts';
import { infoCommand } from './client/info.ts';
import { metaCommand } from './client/meta.ts';
import { listCommand } from './client/list.ts';
import { appendCommand } from './client/append.ts';
import { modifyCommand } from './client/modify.ts';
import { truncateCommand } from './client/truncate.ts';
import { regenerateCommand } from './client/regenerate.ts';

// The client commands of `fdfs`; their shared options and error handling are in cli/common.ts.
export const clientCommands: CommandModule<any, any>[] = [
  uploadCommand,
  downloadCommand,
  deleteCommand,
  infoCommand,
  metaCommand,
  listCommand,
  appendCommand,
  modifyCommand,
  truncateCommand,
  regenerateCommand,
];
