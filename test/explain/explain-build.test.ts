// End to end: a network made by the real build (ImageFolder dataset -> features -> NMF -> refined
// prototypes -> exemplars), then explained. The build's prototypes must split the model's head so
// that every explained logit is reproduced, for the predicted class and for a chosen one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildNetwork } from '../../src/builder/build.ts';
import { Explainer, type ImageExplanation } from '../../src/explain/explain.ts';
import { buildResNetLike } from '../helpers/synthetic-nets.ts';
import { CLASS_NAMES, imageBytes } from './explain-fixture.ts';

const root = await mkdtemp(join(tmpdir(), 'protolens-explain-build-'));
after(() => rm(root, { recursive: true, force: true }));

test('a network from protolens build explains images exactly (predicted class and --class), with exemplars', async () => {
  const model = join(root, 'model.onnx');
  await writeFile(model, buildResNetLike({ seed: 5 }).model);
  const data = join(root, 'data');
  for (const [c, name] of CLASS_NAMES.entries()) {
    await mkdir(join(data, name), { recursive: true });
    for (let j = 0; j < 3; j++) await writeFile(join(data, name, `${j}.png`), await imageBytes(1000 + 10 * c + j, 36, 32, 'png'));
  }
  const out = join(root, 'net');
  const built = await buildNetwork({ model, data, out, decompose: { k: 2 }, threads: 1, exemplars: 1, preprocess: { normalize: 'half' } });
  assert.equal(built.manifest.k, 2);
  assert.deepEqual(built.manifest.classNames, CLASS_NAMES);

  const images = [join(data, 'frog', '0.png'), join(data, 'ship', '2.png')];
  for (const className of [undefined, 'deer']) {
    const ex = await Explainer.open(out, className ? { className } : {});
    try {
      assert.equal(ex.preprocess.normalize, 'half', 'the preprocessing recorded by the build is used');
      for await (const res of ex.explainImages(images)) {
        assert.equal(res.status, 'ok');
        const r = res as ImageExplanation;
        const e = r.explained;
        if (className) assert.equal(e.name, className);
        else assert.equal(e.index, r.predicted.index);
        assert.equal(e.prototypes.length, 2);
        const total = e.prototypes.reduce((a, p) => a + p.contribution, 0) + (e.residual?.contribution ?? 0) + e.bias;
        assert.ok(Math.abs(total - r.logits[e.index]) <= 1e-4 * Math.max(1, Math.abs(r.logits[e.index])), `${total} vs ${r.logits[e.index]}`);
        for (const p of e.prototypes) {
          assert.equal(p.exemplars.length, 1);
          assert.match(p.exemplars[0].image, new RegExp(`^${e.name}/[0-2]\\.png$`), 'an exemplar is a training image of the explained class');
        }
      }
    } finally {
      await ex.close();
    }
  }
});
