/** @jsxImportSource react */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import process from 'node:process';
import { capturesAvailable, everyStatusSnapshot } from './tui-fixtures.ts';

// Status colours as the terminal receives them: ACTIVE green, WAIT_SYNC/SYNCING yellow, OFFLINE
// red. Colour support is decided when chalk loads, so Ink is imported only after forcing it.

process.env.FORCE_COLOR = '1';

const GREEN = '\u001B[32m';
const YELLOW = '\u001B[33m';
const RED = '\u001B[31m';

test('status names carry their colour', { skip: !capturesAvailable && 'captures not available' }, async () => {
  const { render, cleanup } = await import('ink-testing-library');
  const { App } = await import('../tui/App.tsx');
  const { advance, initialState } = await import('../tui/poller.ts');
  const st = advance(initialState, everyStatusSnapshot());
  const r = render(<App snapshot={st.snapshot} history={st.history} events={st.events} width={120} height={40} intervalSec={2} />);
  const f = r.lastFrame()!;
  const coloured = (color: string, name: string) => new RegExp(`${color.replace('[', '\\[')}(\\u001B\\[1m)?${name}`).test(f);
  assert.ok(coloured(GREEN, 'ACTIVE'), 'ACTIVE green');
  assert.ok(coloured(YELLOW, 'WAIT_SYNC'), 'WAIT_SYNC yellow');
  assert.ok(coloured(YELLOW, 'SYNCING'), 'SYNCING yellow');
  assert.ok(coloured(RED, 'OFFLINE'), 'OFFLINE red');
  assert.ok(f.includes(`${RED}    ↳ offline`), 'the reason in the status colour');
  cleanup();
});
