// `protolens evaluate` through the real CLI entry point.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { argmaxFirst, resizeCubicCv2 } from '../../src/pictures/resize-cv2.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { makePlantedFixture, tamperedCopy, type PlantedFixture } from '../evaluate/planted-net.ts';

let dir: string;
let fx: PlantedFixture;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'protolens-evaluate-cli-'));
  fx = await makePlantedFixture(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['bin/protolens.js', 'evaluate', ...args]);
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('--help lists the options and the exit codes, exit 0', async () => {
  const r = await cli(['--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: protolens evaluate --net NET_DIR --data DIR/);
  for (const o of ['--metrics', '--json', '--out', '--seed', '--half-size', '--max-images', '--threads', '--substrate', '--pixels-per-step', '--deletion-images', '--format', '--split']) assert.ok(r.stdout.includes(o), o);
  assert.match(r.stdout, /4 a guarantee failed/);
});

test('--json --out: the report on stdout, and files from which the scores can be recomputed', async () => {
  const out = join(dir, 'eval');
  const r = await cli(['--net', fx.markers, '--data', fx.cub.root, '--json', '--out', out, '--seed', '9', '--deletion-images', '2', '--axiom-images', '4']);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.schema, 'protolens.evaluation');
  assert.equal(rep.version, 1);
  assert.equal(rep.seed, 9);
  assert.deepEqual(rep.metricsRun, ['fidelity', 'consistency', 'stability', 'distinctiveness', 'comprehensiveness', 'deletion', 'axioms']);
  assert.equal(rep.preprocess.sharedPass, true, "the planted network's preprocessing is the protocol's");
  assert.equal(rep.checks.passed, true);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'evaluation.json'), 'utf8')), rep);
  assert.match(readFileSync(join(out, 'results.md'), 'utf8'), /## Consistency and stability[\s\S]*\| refined \(the network\) \| 100\.0 \|/);
  for (const png of ['deletion.png', 'consistency.png']) {
    const meta = await sharp(join(out, png)).metadata();
    assert.equal(meta.format, 'png');
    assert.ok(meta.width! > 400 && meta.height! > 200, `${png}: ${meta.width} x ${meta.height}`);
  }

  // Recompute consistency and stability of every set from the hit vectors alone.
  const index = JSON.parse(readFileSync(join(out, 'maps.json'), 'utf8'));
  const { tensors, metadata } = await readSafetensors(join(out, index.file));
  assert.equal(metadata.schema, 'protolens.evaluation-maps');
  const labels = tensors.labels.data as Int32Array;
  const visible = tensors.visible.data as Uint8Array;
  const N = labels.length;
  const { k, numParts: P, partThreshold } = index;
  const C = rep.network.classes;
  assert.equal(N, rep.metrics.parts.images);
  assert.deepEqual(index.images.map((im: { id: string }) => im.id), fx.cub.images.filter((im) => !im.isTrain).map((im) => String(im.id)));
  for (const set of index.sets as string[]) {
    const hits = tensors[`hits_${set}`].data as Uint8Array;
    const noisy = tensors[`noisy_hits_${set}`].data as Uint8Array;
    let consistent = 0;
    let stabilitySum = 0;
    let sameVectorSum = 0;
    assert.equal(index.stabilityRule, 'signed-sum', 'the default variant, EvalProtoPNet');
    for (let c = 0; c < C; c++) {
      const rows = [...labels.keys()].filter((n) => labels[n] === c);
      for (let i = 0; i < k; i++) {
        let ok = false;
        for (let p = 0; p < P; p++) {
          const h = rows.reduce((s, n) => s + hits[(n * k + i) * P + p], 0);
          const v = rows.reduce((s, n) => s + visible[n * P + p], 0);
          if (h / Math.max(1, v) >= partThreshold) ok = true;
        }
        if (ok) consistent++;
        // EvalProtoPNet: (hits - noisy).sum(parts) == 0; ProtoPNeXt: equal vectors.
        const signed = rows.filter((n) => [...Array(P).keys()].reduce((sum, p) => sum + hits[(n * k + i) * P + p] - noisy[(n * k + i) * P + p], 0) === 0).length;
        const same = rows.filter((n) => [...Array(P).keys()].every((p) => hits[(n * k + i) * P + p] === noisy[(n * k + i) * P + p])).length;
        stabilitySum += signed / rows.length;
        sameVectorSum += same / rows.length;
      }
    }
    assert.equal((100 * consistent) / (C * k), rep.metrics.parts.sets[set].consistency.score, `${set} consistency`);
    assert.ok(Math.abs((100 * stabilitySum) / (C * k) - rep.metrics.parts.sets[set].stability.score) < 1e-9, `${set} stability`);
    assert.ok(Math.abs((100 * sameVectorSum) / (C * k) - rep.metrics.parts.sets[set].stability.byRule['same-vector']) < 1e-9, `${set} stability, same-vector rule`);
  }
  // A peak and its hits from the map and the parts: cv2 bicubic upsampling, first maximum, inclusive region.
  const maps = tensors.maps_refined.data as Float32Array;
  const peaks = tensors.peaks_refined.data as Int32Array;
  const parts = tensors.parts.data as Int32Array;
  const hits = tensors.hits_refined.data as Uint8Array;
  const [h, w] = index.mapSize;
  const [H, W] = index.inputSize;
  const half = index.halfSize;
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < k; i++) {
      const up = resizeCubicCv2(maps.subarray((n * k + i) * h * w, (n * k + i + 1) * h * w), h, w, H, W);
      const at = argmaxFirst(up);
      assert.deepEqual([peaks[(n * k + i) * 2], peaks[(n * k + i) * 2 + 1]], [Math.floor(at / W), at % W]);
      const [row, col] = [Math.floor(at / W), at % W];
      for (let p = 0; p < P; p++) {
        const [x, y, vis] = [parts[(n * P + p) * 3], parts[(n * P + p) * 3 + 1], parts[(n * P + p) * 3 + 2]];
        const inside = vis === 1 && y >= Math.max(0, row - half) && y <= Math.min(H, row + half) && x >= Math.max(0, col - half) && x <= Math.min(W, col + half);
        assert.equal(hits[(n * k + i) * P + p], inside ? 1 : 0, `row ${n} prototype ${i} part ${p + 1}`);
      }
    }
  }
});

test('a tampered network: report printed and written, check failures on stderr, exit 4', async () => {
  const bad = await tamperedCopy(fx.markers, join(dir, 'net-tampered'));
  const out = join(dir, 'eval-tampered');
  const r = await cli(['--net', bad, '--data', fx.cub.root, '--metrics', 'fidelity,axioms', '--out', out]);
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stdout, /## Fidelity[\s\S]*\*\*FAIL\*\*/);
  assert.match(r.stdout, /\| completeness \| \*\*FAIL\*\* \|/);
  assert.match(r.stderr, /check failed: axioms: completeness fails/);
  assert.ok(existsSync(join(out, 'evaluation.json')) && existsSync(join(out, 'results.md')));
  assert.ok(!existsSync(join(out, 'maps.safetensors')), 'no parts metric, no maps');
});

test('usage errors exit 2, unusable input exits 3', async () => {
  const noData = await cli(['--net', fx.markers]);
  assert.equal(noData.status, 2);
  assert.match(noData.stderr, /--data DIR is required/);
  const badMetric = await cli(['--net', fx.markers, '--data', fx.cub.root, '--metrics', 'fidelity,speed']);
  assert.equal(badMetric.status, 2);
  assert.match(badMetric.stderr, /--metrics: unknown 'speed'; expected fidelity, consistency, stability, distinctiveness, comprehensiveness, purity, deletion, axioms/);
  const noNet = await cli(['--net', join(dir, 'nowhere'), '--data', fx.cub.root]);
  assert.equal(noNet.status, 3);
  assert.match(noNet.stderr, /not a protolens network folder/);
});
