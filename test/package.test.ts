// The package as a user installs it: `npm pack` (which builds dist/), installed from the tarball into
// an empty project, then the installed CLI runs every user-facing command from dist/ alone.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { buildResNetLike } from './helpers/synthetic-nets.ts';

const dir = mkdtempSync(join(tmpdir(), 'protolens-package-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Install size limit of the issue that set it (the CPU build of onnxruntime-node alone is ~290 MB). */
const MAX_INSTALL_MB = 350;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function duBytes(p: string): number {
  const st = statSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(p).reduce((s, n) => s + duBytes(join(p, n)), 0);
}

test('npm pack ships dist/, bin/, the docs, README and LICENSE only; installed from the tarball the CLI runs help, inspect, build, explain, view and site', { timeout: 300_000 }, async () => {
  const packDir = join(dir, 'pack');
  mkdirSync(packDir);
  const pack = run(npm, ['pack', '--json', '--pack-destination', packDir], process.cwd());
  assert.equal(pack.status, 0, pack.stderr);
  const info = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  const files = info[0].files.map((f) => f.path);
  assert.ok(files.includes('dist/cli/main.js') && files.includes('dist/index.js') && files.includes('dist/index.d.ts') && files.includes('bin/protolens.js'), 'compiled entry points shipped');
  assert.ok(files.includes('dist/prototypes/class-worker.js'), 'the decomposition worker is shipped');
  assert.ok(files.includes('dist/site/site-app.js') && !files.some((f) => f.startsWith('dist/site/browser/')), 'the site app is shipped bundled, its sources are not');
  const stray = files.filter((f) => !/^(dist\/|bin\/|docs\/[A-Za-z-]+\.md$|README\.md$|LICENSE$|package\.json$)/.test(f) || f.startsWith('dist/demo/') || /\.ts$/.test(f.replace(/\.d\.ts$/, '')));
  assert.deepEqual(stray, [], 'nothing but compiled code, the bin, the docs, the README and the licence');
  assert.ok(files.includes('LICENSE') && files.includes('docs/build.md'), 'the licence and the docs the README links are shipped');

  // An empty project; onnxruntime-node's CUDA download is refused as the README says.
  const project = join(dir, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true, allowScripts: { 'onnxruntime-node': false } }));
  const install = run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', join(packDir, info[0].filename)], project, { ONNXRUNTIME_NODE_INSTALL: 'skip' });
  assert.equal(install.status, 0, install.stderr);
  const installed = join(project, 'node_modules');
  assert.ok(!existsSync(join(installed, '@tensorflow')) && !existsSync(join(installed, 'tsx')) && !existsSync(join(installed, 'typescript')), 'no dev dependency installed');
  assert.ok(!existsSync(join(installed, 'protolens', 'src')) && !existsSync(join(installed, 'protolens', 'test')));
  const mb = duBytes(installed) / 2 ** 20;
  assert.ok(mb < MAX_INSTALL_MB, `installed size ${mb.toFixed(0)} MB`);

  const bin = join(installed, '.bin', 'protolens');
  const cli = (args: string[]) => run(process.execPath, [bin, ...args], project);
  const help = cli(['--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /Usage: protolens <command>/);
  assert.equal(cli(['--version']).stdout.trim(), JSON.parse(readFileSync('package.json', 'utf8')).version);

  // A small classifier and an ImageFolder of two classes.
  const model = join(project, 'model.onnx');
  writeFileSync(model, buildResNetLike({ seed: 3, numClasses: 2, inputSize: 32 }).model);
  const data = join(project, 'data');
  for (const [c, colour] of [['a', [200, 40, 40]], ['b', [40, 40, 200]]] as const) {
    mkdirSync(join(data, c), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const px = Buffer.alloc(40 * 40 * 3);
      for (let p = 0; p < 40 * 40; p++) for (let ch = 0; ch < 3; ch++) px[p * 3 + ch] = (colour[ch] + ((p * 7 + i * 31 + ch * 13) % 50)) & 255;
      await sharp(px, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(join(data, c, `${i}.png`));
    }
  }
  const inspect = cli(['inspect', model, '--json']);
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.equal(JSON.parse(inspect.stdout).head.numClasses, 2);
  const build = cli(['build', '--model', model, '--data', data, '--out', join(project, 'net'), '--k', '2', '--threads', '2']);
  assert.equal(build.status, 0, build.stderr);
  assert.ok(existsSync(join(project, 'net', 'prototypes.safetensors')));
  const explain = cli(['explain', '--net', join(project, 'net'), join(data, 'a', '0.png'), '--json']);
  assert.equal(explain.status, 0, explain.stderr);
  assert.equal(JSON.parse(explain.stdout).images.length, 1);

  // view: serves the gallery and the class list, then stops on SIGTERM.
  const view = spawn(process.execPath, [bin, 'view', '--net', join(project, 'net'), '--port', '0'], { cwd: project });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`view did not start: ${out}`)), 30_000);
      view.stdout.on('data', (d) => {
        out += d;
        const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[0]);
        }
      });
      view.on('exit', (code) => reject(new Error(`view exited ${code}: ${out}`)));
    });
    const classes = (await (await fetch(new URL('api/classes', url))).json()) as { name: string }[];
    assert.deepEqual(classes.map((c) => c.name), ['a', 'b']);
    assert.equal((await fetch(url)).status, 200);
  } finally {
    view.kill('SIGTERM');
  }

  // site: without the optional peer onnxruntime-web a clear error; with it, the site with the prebuilt app.
  const siteOut = join(project, 'site');
  const missing = cli(['site', '--net', join(project, 'net'), '--out', siteOut]);
  assert.equal(missing.status, 3, missing.stderr);
  assert.match(missing.stderr, /needs the package onnxruntime-web .*npm install onnxruntime-web@\^1\.30/);
  assert.ok(!existsSync(siteOut), 'nothing written before the check');
  const ortWeb = JSON.parse(readFileSync('node_modules/onnxruntime-web/package.json', 'utf8')).version as string;
  const addOrt = run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', `onnxruntime-web@${ortWeb}`], project, { ONNXRUNTIME_NODE_INSTALL: 'skip' });
  assert.equal(addOrt.status, 0, addOrt.stderr);
  const site = cli(['site', '--net', join(project, 'net'), '--out', siteOut, '--json']);
  assert.equal(site.status, 0, site.stderr);
  assert.equal(JSON.parse(site.stdout).ort.version, ortWeb);
  const { bundleSiteApp } = await import('../src/site/app-script.ts');
  assert.equal(readFileSync(join(siteOut, 'site-app.js'), 'utf8'), await bundleSiteApp(), 'the shipped app is the bundle of these sources');
});
