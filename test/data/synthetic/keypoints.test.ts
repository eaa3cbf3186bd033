import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../src/util/random.ts';
import { ATTRIBUTE_VALUES, type CreatureAttributes } from '../../../src/data/synthetic/attributes.ts';
import { PART_NAMES, anchorClearance, type CanonicalPart, type PartName } from '../../../src/data/synthetic/creature.ts';
import { renderCreature } from '../../../src/data/synthetic/scene.ts';
import { DEFAULT_SCENE, planScene, rasterise, sceneSvg } from '../../../src/data/synthetic/scene.ts';

const MAGENTA = '#ff00ff';
const isMagenta = (rgb: Buffer, width: number, x: number, y: number) => {
  const i = (Math.floor(y) * width + Math.floor(x)) * 3;
  return Math.abs(rgb[i] - 255) <= 3 && rgb[i + 1] <= 3 && Math.abs(rgb[i + 2] - 255) <= 3;
};

function randomAttributes(rng: Rng): CreatureAttributes {
  const pick = <T>(xs: readonly T[]) => xs[rng.int(xs.length)];
  return Object.fromEntries(Object.entries(ATTRIBUTE_VALUES).map(([k, vs]) => [k, pick(vs as readonly string[])])) as CreatureAttributes;
}

/** The drawn (canonical) part behind each anatomical name. Facing right, a creature shows its right side. */
function drawnAs(part: PartName, flipped: boolean): CanonicalPart | null {
  const sides: Record<string, [CanonicalPart | null, CanonicalPart | null]> = {
    // [not flipped, flipped]
    'right eye': ['near eye', null],
    'left eye': [null, 'near eye'],
    'right wing': ['near wing', 'far wing'],
    'left wing': ['far wing', 'near wing'],
    'right leg': ['near leg', 'far leg'],
    'left leg': ['far leg', 'near leg'],
  };
  if (part in sides) return sides[part][flipped ? 1 : 0];
  return part as CanonicalPart;
}

test('every anchor lies inside its own part and is not covered by a later shape, for every shape combination', () => {
  let worst = Infinity;
  for (const headShape of ATTRIBUTE_VALUES.headShape)
    for (const crest of ATTRIBUTE_VALUES.crest)
      for (const beakShape of ATTRIBUTE_VALUES.beakShape)
        for (const wingPattern of ATTRIBUTE_VALUES.wingPattern)
          for (const tailShape of ATTRIBUTE_VALUES.tailShape) {
            const a: CreatureAttributes = { headColour: 'red', headShape, crest, beakShape, wingColour: 'green', wingPattern, tailShape, legColour: 'pink' };
            const c = anchorClearance(a);
            assert.equal(Object.keys(c).length, 14, 'fourteen drawn parts (the far eye is hidden)');
            for (const [part, v] of Object.entries(c)) {
              assert.ok(v! >= 1.4, `${part} anchor only ${v!.toFixed(2)} units inside its visible area (${JSON.stringify(a)})`);
              worst = Math.min(worst, v!);
            }
          }
  assert.ok(worst < 3, 'the clearance check measures something (some anchor is near an edge)');
});

test('keypoint truth: with one part drawn in magenta, the pixel at its keypoint is magenta (all parts, flips, rotations)', async () => {
  const rng = new Rng(99);
  for (let trial = 0; trial < 5; trial++) {
    const attrs = randomAttributes(rng);
    for (const flipped of [false, true]) {
      for (const rotationDeg of [-25, 0, 25]) {
        const plain = await renderCreature(attrs, { size: 256, flipped, rotationDeg, background: '#ffffff' });
        for (const part of PART_NAMES) {
          const drawn = drawnAs(part, flipped);
          const kp = plain.keypoints.find((k) => k.part === part)!;
          if (drawn === null) {
            assert.equal(kp.visible, false, `${part} should be hidden when flipped=${flipped}`);
            assert.deepEqual([kp.x, kp.y], [0, 0]);
            continue;
          }
          assert.ok(kp.visible, `${part} visible`);
          const r = await renderCreature(attrs, { size: 256, flipped, rotationDeg, background: '#ffffff', highlight: { part: drawn, colour: MAGENTA } });
          assert.deepEqual(r.keypoints, plain.keypoints, 'highlighting changes no geometry');
          assert.ok(isMagenta(r.rgb, r.width, kp.x, kp.y), `${part} (${drawn}) keypoint (${kp.x.toFixed(1)}, ${kp.y.toFixed(1)}) not on the part; flipped=${flipped} rot=${rotationDeg} ${JSON.stringify(attrs)}`);
          assert.ok(!isMagenta(plain.rgb, plain.width, kp.x, kp.y));
        }
      }
    }
  }
});

test('the creature faces right unflipped and left flipped, with the beak ahead of the tail', async () => {
  const attrs = randomAttributes(new Rng(3));
  const get = (kps: { part: string; x: number }[], p: string) => kps.find((k) => k.part === p)!.x;
  const right = await renderCreature(attrs, { size: 128 });
  const left = await renderCreature(attrs, { size: 128, flipped: true });
  assert.ok(get(right.keypoints, 'beak') > get(right.keypoints, 'tail'));
  assert.ok(get(left.keypoints, 'beak') < get(left.keypoints, 'tail'));
});

test('keypoint truth in dataset scenes (clutter, random pose) at 3x size, and the box is inside the image', async () => {
  const rng = new Rng(5);
  const options = { ...DEFAULT_SCENE, size: 288, occlusionRate: 0 };
  for (let s = 0; s < 4; s++) {
    const attrs = randomAttributes(rng);
    const seed = 1000 + s;
    const base = planScene(attrs, options, new Rng(seed));
    const b = base.bbox;
    assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= 288 && b.y + b.height <= 288);
    for (const kp of base.keypoints) {
      const drawn = drawnAs(kp.part, base.placement.flipped);
      if (!drawn) continue;
      const plan = planScene(attrs, options, new Rng(seed), { part: drawn, colour: MAGENTA });
      assert.deepEqual(plan.keypoints, base.keypoints);
      assert.equal(plan.backgroundSvg, base.backgroundSvg);
      const { data, width } = await rasterise(sceneSvg(plan));
      assert.ok(isMagenta(data, width, kp.x, kp.y), `scene ${s}: ${kp.part} keypoint not on the part`);
    }
  }
});

test('the bounding box is the tight box of the drawn creature (tail, legs, crest included)', async () => {
  const rng = new Rng(8);
  for (let t = 0; t < 6; t++) {
    const attrs = randomAttributes(rng);
    const r = await renderCreature(attrs, { size: 200, flipped: t % 2 === 1, rotationDeg: -25 + 10 * t, background: '#ffffff' });
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (let y = 0; y < r.height; y++) {
      for (let x = 0; x < r.width; x++) {
        const i = (y * r.width + x) * 3;
        // Pixels at least half covered by the creature differ clearly from white.
        if (r.rgb[i] + r.rgb[i + 1] + r.rgb[i + 2] < 3 * 255 - 40) {
          minX = Math.min(minX, x);
          maxX = Math.max(maxX, x);
          minY = Math.min(minY, y);
          maxY = Math.max(maxY, y);
        }
      }
    }
    const b = r.bbox;
    assert.ok(Math.abs(minX - b.x) <= 1.5 && Math.abs(maxX + 1 - (b.x + b.width)) <= 1.5, `x: pixels ${minX}..${maxX}, box ${b.x}+${b.width}`);
    assert.ok(Math.abs(minY - b.y) <= 1.5 && Math.abs(maxY + 1 - (b.y + b.height)) <= 1.5, `y: pixels ${minY}..${maxY}, box ${b.y}+${b.height}`);
  }
});

test('occluder: a hidden keypoint is under the blob and shows the blob colour; visible ones are outside it; rate ~12%', async () => {
  const rng = new Rng(21);
  for (let s = 0; s < 6; s++) {
    const plan = planScene(randomAttributes(rng), { ...DEFAULT_SCENE, occlusionRate: 1, noiseSigma: 0 }, new Rng(50 + s));
    const occ = plan.occluder!;
    assert.ok(occ, 'occlusionRate 1 always occludes');
    const inside = (x: number, y: number) => occ.circles.some(([cx, cy, r]) => Math.hypot(x - cx, y - cy) <= r);
    const target = plan.keypoints.find((k) => k.part === occ.target)!;
    assert.equal(target.visible, false);
    for (const k of plan.keypoints) {
      if (k.part === 'left eye' || k.part === 'right eye') {
        if (!k.visible && k.x === 0 && k.y === 0) continue; // the hidden far eye
      }
      assert.equal(k.visible, !inside(k.x, k.y), `${k.part}`);
    }
    const { data, width } = await rasterise(sceneSvg(plan));
    const i = (Math.floor(target.y) * width + Math.floor(target.x)) * 3;
    const c = [1, 3, 5].map((o) => parseInt(occ.colour.slice(o, o + 2), 16));
    assert.ok(c.every((v, j) => Math.abs(v - data[i + j]) <= 2), `pixel at occluded ${occ.target} is ${[...data.subarray(i, i + 3)]}, blob ${c}`);
  }
  const r2 = new Rng(4);
  const attrs = randomAttributes(r2);
  let n = 0;
  const N = 1500;
  for (let s = 0; s < N; s++) if (planScene(attrs, DEFAULT_SCENE, new Rng(7000 + s)).occluder) n++;
  assert.ok(n / N > 0.09 && n / N < 0.15, `occlusion rate ${n / N}`);
});

test('scale: the box\'s longer side is 50-85% of the image side and the box stays inside the image', () => {
  const attrs = randomAttributes(new Rng(12));
  for (let s = 0; s < 300; s++) {
    const { bbox: b, size } = planScene(attrs, DEFAULT_SCENE, new Rng(s));
    const f = Math.max(b.width, b.height) / size;
    assert.ok(f >= 0.5 - 1e-9 && f <= 0.85 + 1e-9, `fraction ${f}`);
    assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= size && b.y + b.height <= size);
  }
});
