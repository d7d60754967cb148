// lib/batch: the batch tools of `fdfs put`, `fdfs get`, `fdfs ls` and `fdfs export` as functions
// with progress events, for the CLI, a TUI view or a program.
export { putFiles, EXPORT_MANIFEST_NAME, type PutOptions, type PutClient } from './put.ts';
export { getFiles, transferItems, type GetOptions, type GetItem, type GetClient, type TransferOptions } from './get.ts';
export { exportGroup, type ExportOptions } from './export.ts';
export { listGroupFiles, pickStorage, parseSince, type GroupFile, type ListGroupOptions } from './list-files.ts';
export {
  readManifest, loadResumeIndex, ManifestWriter, formatManifestLine, parseManifestLine,
  type ManifestRecord, type ResumeEntry,
} from './manifest.ts';
export {
  BatchStats, createReporter, formatSummary, formatBytes,
  type BatchEvent, type BatchSummary, type BatchOp, type Reporter, type ReporterMode,
} from './progress.ts';
export { defaultConcurrency } from './scheduler.ts';
