// Imports point one way: src/ is the product and imports nothing from bench/ (the tools), fixtures/ or test/
// (the suite); bench/ imports src/ but not the suite.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

/** The top-level folder of every relative module a file imports (static `from '…'` and dynamic `import('…')`). */
function importedFolders(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.[^'"]+)['"]/g)].map((m) => m[1] as string);
  return specs.map((s) => relative(ROOT, resolve(dirname(file), s)).split(/[\\/]/)[0] as string);
}

for (const [folder, forbidden] of [['src', ['bench', 'fixtures', 'test']], ['bench', ['fixtures', 'test']]] as const) {
  t.test(`${folder}/ imports nothing from ${forbidden.join(', ')}`, async (t) => {
    const files = tsFiles(join(ROOT, folder));
    t.ok(files.length > 5, `${files.length} files in ${folder}/`);
    for (const file of files) {
      const bad = importedFolders(file).filter((f) => (forbidden as readonly string[]).includes(f));
      t.same(bad, [], relative(ROOT, file));
    }
  });
}

t.test('the check sees an import that leaves the folder', async (t) => {
  t.same(importedFolders(join(ROOT, 'fixtures', 'server-process.ts')).includes('bench'), true);
});
