import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { pipeline } from 'node:stream/promises';
import type { Argv, CommandModule } from 'yargs';
import { asList, parseKeyValues, printJson, printLine, reportError, withClient, withClientOptions, type ClientArgs } from '../../common.ts';

interface UploadArgs extends ClientArgs {
  files: string[];
  group?: string;
  meta?: string[];
  ext?: string;
  appender?: boolean;
}

/**
 * stdin has no size to announce up front (FastDFS sends it before the content), so it is spooled
 * to a temporary file first: streamed, never held in memory.
 */
async function spoolStdin(): Promise<{ file: string; cleanup: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-upload-'));
  const file = path.join(dir, 'stdin');
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    await pipeline(process.stdin, fs.createWriteStream(file));
  } catch (err) {
    cleanup();
    throw err;
  }
  return { file, cleanup };
}

/**
 * yargs drops a lone "-" from variadic positionals (it looks like an option to its parser).
 * Put it back where it stood among the file arguments.
 */
function withStdinMarker(files: string[], raw: readonly string[] = process.argv.slice(2)): string[] {
  if (files.includes('-') || !raw.includes('-')) return files;
  const cut = raw.indexOf('--');
  const upto = raw.indexOf('-');
  if (cut >= 0 && cut < upto) return files;
  let before = 0;
  for (let i = 0; i < upto && before < files.length; i++) if (raw[i] === files[before]) before++;
  return [...files.slice(0, before), '-', ...files.slice(before)];
}

export const uploadCommand: CommandModule<any, UploadArgs> = {
  command: 'upload <files..>',
  describe: 'upload files ("-" reads stdin) and print one file ID per line',
  builder: (y): Argv<any> => withClientOptions(y)
    .positional('files', { type: 'string', array: true, describe: 'local files, or - for stdin' })
    .option('group', { alias: 'g', type: 'string', describe: 'upload into this group (default: the tracker chooses)' })
    .option('meta', { alias: 'm', type: 'string', coerce: asList, describe: 'metadata name=value (repeatable)' })
    .option('ext', { type: 'string', describe: 'file extension for the file ID (default: the file\'s own; none for stdin)' })
    .option('appender', { type: 'boolean', describe: 'upload as an appender file (can be appended to later)' }),
  handler: (argv) => withClient(argv, async (client) => {
    const metadata = argv.meta?.length ? parseKeyValues(argv.meta) : undefined;
    const results: Array<{ source: string; fileId: string }> = [];
    let failed = false;
    for (const source of withStdinMarker(argv.files ?? [])) {
      let spooled: { file: string; cleanup: () => void } | undefined;
      try {
        if (source === '-') spooled = await spoolStdin();
        const fileId = await client.upload(spooled?.file ?? source, {
          group: argv.group, metadata, appender: argv.appender,
          ext: argv.ext ?? (spooled ? '' : undefined),
        });
        results.push({ source, fileId });
        if (!argv.json) printLine(fileId);
      } catch (err) {
        // One line per file that failed; the others are still uploaded.
        reportError(err);
        failed = true;
      } finally {
        spooled?.cleanup();
      }
    }
    if (argv.json) printJson(results);
    if (failed) process.exitCode = 1;
  }),
};
