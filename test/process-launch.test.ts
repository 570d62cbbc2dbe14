// npm start runs the server the way src/process/launch.ts says, which is also how the soak and bench tools start it.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { startCommand } from '../src/process/launch.js';

t.test('package.json start script is the launch command', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  t.equal(pkg.scripts.start, startCommand());
  t.match(startCommand(), /^MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=1 dist\/api\/server\.js$/);
});
