import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as protolens from '../src/index.ts';

test('the library entry exposes every stage of the pipeline', () => {
  for (const name of ['loadClassifier', 'openDataset', 'batches', 'generatePartsDataset', 'nmf', 'decomposeClass', 'saveNetwork', 'loadNetwork', 'FeatureStore', 'buildNetwork', 'Explainer', 'readSafetensors', 'InputError']) {
    assert.equal(typeof (protolens as Record<string, unknown>)[name], 'function', name);
  }
});
