// Models whose weights live in an external data file next to the .onnx.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, truncateSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadClassifier } from '../../src/model/classifier.ts';
import { buildResNetLike } from '../helpers/synthetic-nets.ts';
import { externalizeInitializers } from '../helpers/head-models.ts';
import { InputError } from '../../src/util/errors.ts';
import { maxAbsDiff, patternInput, writeModel } from './fixtures.ts';

const net = buildResNetLike({ seed: 11 });

async function logitsOf(path: string) {
  const c = await loadClassifier(path);
  const r = await c.run(patternInput(2, c.inputLength), 2);
  await c.close();
  return { c, r };
}

test('all weights in an external file: onnxruntime finds it next to the model, the head is read from it, results equal the inline model', async () => {
  const ext = externalizeInitializers(net.model, 'weights.bin');
  assert.ok(ext.model.length < net.model.length / 2, `${ext.model.length} vs ${net.model.length}`);
  const inline = await logitsOf(writeModel(net.model));
  const external = await logitsOf(writeModel(ext.model, 'model.onnx', { 'weights.bin': ext.data }));
  assert.deepEqual(Array.from(external.c.head.W), Array.from(inline.c.head.W));
  assert.deepEqual(Array.from(external.c.head.b), Array.from(inline.c.head.b));
  assert.equal(maxAbsDiff(external.r.logits, inline.r.logits), 0);
  assert.equal(maxAbsDiff(external.r.features, inline.r.features), 0);
  assert.notEqual(external.c.sha256, inline.c.sha256); // the hash is of the .onnx bytes
});

test('only the head weights external: still read correctly', async () => {
  const ext = externalizeInitializers(net.model, 'fc.bin', ['fc.weight', 'fc.bias']);
  const inline = await logitsOf(writeModel(net.model));
  const external = await logitsOf(writeModel(ext.model, 'm.onnx', { 'fc.bin': ext.data }));
  assert.deepEqual(Array.from(external.c.head.W), Array.from(inline.c.head.W));
});

test('a missing external data file is an InputError naming the tensor and the file', async () => {
  const ext = externalizeInitializers(net.model, 'weights.bin', ['fc.weight']);
  const path = writeModel(ext.model, 'model.onnx', { 'weights.bin': ext.data });
  rmSync(join(dirname(path), 'weights.bin'));
  await assert.rejects(loadClassifier(path), (e: Error) => {
    assert.ok(e instanceof InputError);
    assert.match(e.message, /tensor 'fc\.weight' stores its data in external file 'weights\.bin'/);
    assert.match(e.message, /does not exist/);
    return true;
  });
});

test('a truncated external data file is an InputError giving the bytes needed', async () => {
  const ext = externalizeInitializers(net.model, 'weights.bin');
  const path = writeModel(ext.model, 'model.onnx', { 'weights.bin': ext.data });
  truncateSync(join(dirname(path), 'weights.bin'), 100);
  await assert.rejects(loadClassifier(path), /needs bytes \d+\.\.\d+ of external file 'weights\.bin', which has only 100 bytes/);
});
