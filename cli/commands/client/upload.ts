import process from 'node:process';
import type { Argv, CommandModule } from 'yargs';
import { UsageError } from '../../../lib/protocol/errno.ts';
import { asList, parseKeyValues, printJson, printLine, reportError, withClient, withClientOptions, type ClientArgs } from '../../common.ts';
import { withSource } from './stdin.ts';

interface UploadArgs extends ClientArgs {
  files: string[];
  group?: string;
  meta?: string[];
  ext?: string;
  appender?: boolean;
  master?: string;
  prefix?: string;
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
    .option('appender', { type: 'boolean', describe: 'upload as an appender file (can be appended to later)' })
    .option('master', { type: 'string', describe: 'upload a slave file of this master file ID (needs --prefix)', group: 'Slave files:' })
    .option('prefix', { type: 'string', describe: 'slave name suffix after the master\'s name, e.g. _150x150', group: 'Slave files:' })
    .implies('master', 'prefix')
    .implies('prefix', 'master')
    .conflicts('master', ['appender', 'group'])
    .example('$0 upload photo.jpg', 'upload a file, print its ID')
    .example('$0 upload thumb.jpg --master group1/M00/00/00/wKgB…042.jpg --prefix _150x150', 'a slave file: group1/M00/00/00/wKgB…_150x150.jpg'),
  handler: (argv) => withClient(argv, async (client) => {
    const metadata = argv.meta?.length ? parseKeyValues(argv.meta) : undefined;
    const results: Array<{ source: string; fileId: string }> = [];
    let failed = false;
    const sources = withStdinMarker(argv.files ?? []);
    // One prefix names one slave: a second file would only collide with the first (EEXIST).
    if (argv.master !== undefined && sources.length !== 1) {
      throw new UsageError('upload one file at a time with --master (the prefix names the slave)', { subject: argv.master });
    }
    for (const source of sources) {
      try {
        const fileId = await withSource(source, (file, fromStdin) => {
          const ext = argv.ext ?? (fromStdin ? '' : undefined);
          return argv.master !== undefined
            ? client.uploadSlave(argv.master, file, { prefix: argv.prefix ?? '', ext, metadata })
            : client.upload(file, { group: argv.group, metadata, appender: argv.appender, ext });
        });
        results.push({ source, fileId });
        if (!argv.json) printLine(fileId);
      } catch (err) {
        // One line per file that failed; the others are still uploaded.
        reportError(err);
        failed = true;
      }
    }
    if (argv.json) printJson(results);
    if (failed) process.exitCode = 1;
  }),
};
