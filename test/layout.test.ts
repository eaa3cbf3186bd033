// The dependency rule of src/ (docs/architecture.md), on the real sources and on planted violations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { folderGraph, layoutViolations, scanImports, type Import } from './helpers/layout.ts';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
const runtime = Object.keys(pkg.dependencies);

test('src/ follows the dependency rule: no import runs up or sideways, no folder cycle, runtime packages only', () => {
  const imports = scanImports('src');
  assert.ok(imports.length > 300, `only ${imports.length} imports found: the scanner is broken`);
  const problems = layoutViolations(imports, runtime);
  assert.deepEqual(problems, [], `\n${problems.join('\n')}\n\nfolder graph:\n${folderGraph(imports).join('\n')}`);
});

test('the rule catches an upward import, a sideways import, a sub-folder cycle, a dev dependency and a file outside src/', () => {
  const imp = (from: string, to: string, external = false): Import => ({ from, to, external });
  const ok = [imp('prototypes/refine.ts', 'linalg/optim/lbfgs.ts'), imp('cli/main.ts', 'util/errors.ts'), imp('util/random.ts', 'node:crypto', true), imp('site/app-script.ts', 'esbuild', true)];
  assert.deepEqual(layoutViolations(ok, runtime), []);
  const planted = [
    imp('prototypes/exemplars.ts', 'explain/report.ts'),
    imp('explain/card.ts', 'export/onnx-export.ts'),
    imp('site/write-site.ts', 'esbuild', true),
    imp('evaluate/metrics/a.ts', 'evaluate/context/b.ts'),
    imp('evaluate/context/b.ts', 'evaluate/metrics/a.ts'),
    imp('export/tfjs.ts', '@tensorflow/tfjs', true),
    imp('data/x.ts', '../test/helpers/cub-fixture.ts'),
    imp('newfolder/x.ts', 'util/errors.ts'),
    imp('model/x.ts', 'index.ts'),
  ];
  const problems = layoutViolations(planted, runtime);
  const expect = [/prototypes\/ may not import from explain\/, which is above it/, /explain\/ and export\/ are on the same layer/, /site\/write-site.ts imports 'esbuild', which is not a runtime dependency/, /folder cycle: evaluate\/context -> evaluate\/metrics -> evaluate\/context/, /'@tensorflow\/tfjs', which is not a runtime dependency/, /outside src\//, /src\/newfolder\/ has no layer/, /the library entry/];
  for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `expected ${re} among:\n${problems.join('\n')}`);
  assert.equal(problems.length, expect.length, problems.join('\n'));
});

test('the scanner sees static, dynamic, side-effect and worker imports and skips comments', async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'layout-'));
  try {
    mkdirSync(join(dir, 'a'));
    writeFileSync(
      join(dir, 'a', 'x.ts'),
      [
        "import { y } from '../b/y.ts';",
        "export * from './z.ts';",
        "import type { T } from 'sharp';",
        "const m = await import('../c/w.ts');",
        "import './side.ts';",
        "startModuleWorker('./worker.ts', import.meta.url);",
        "// import { no } from '../d/comment.ts';",
        "/* import { no } from '../d/block.ts'; */",
      ].join('\n'),
    );
    const found = scanImports(dir).map((i) => i.to).sort();
    assert.deepEqual(found, ['a/side.ts', 'a/worker.ts', 'a/z.ts', 'b/y.ts', 'c/w.ts', 'sharp']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
