import type { Logger } from '../util/log.ts';
import { sweepTempFilesIn, UPLOAD_TEMP } from '../util/temp-sweep.ts';
import type { StorePaths } from './store-paths.ts';

// Uploads land in `data/HH/HH/.<hex>.tmp` and are renamed when complete (new-file.ts); a kill -9
// mid-upload leaves the temp file, which no request can name (names starting with a dot are
// refused). Start-up removes them in the background: reading 65,536 directories must not delay
// the ready line, and files written since `startedMs` belong to uploads of this process.

function* subdirs(paths: StorePaths): Generator<string> {
  for (let i = 0; i < paths.count; i++) {
    for (let h = 0; h < paths.subdirCount; h++) {
      for (let l = 0; l < paths.subdirCount; l++) yield paths.subdir(i, h, l);
    }
  }
}

export async function sweepUploadTemps(paths: StorePaths, startedMs: number, log: Logger): Promise<number> {
  try {
    const n = await sweepTempFilesIn(subdirs(paths), { match: UPLOAD_TEMP, olderThanMs: startedMs }, 4);
    if (n > 0) log('info', `removed ${n} partial upload(s) left by a crash`);
    return n;
  } catch (err) {
    log('warn', `cannot sweep upload temp files: ${(err as Error).message}`);
    return 0;
  }
}
