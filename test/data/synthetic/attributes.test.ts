import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ATTRIBUTE_NAMES, ATTRIBUTE_VALUES, MAX_VALUE_SPREAD, PART_GROUPS, classAttributes, type CreatureAttributes } from '../../../src/data/synthetic/attributes.ts';
import { InputError } from '../../../src/util/errors.ts';

// Independent re-statements of the rules (not the module's own helpers).
const groups = Object.entries(PART_GROUPS) as Array<[string, readonly (keyof CreatureAttributes)[]]>;
const look = (a: CreatureAttributes, attrs: readonly (keyof CreatureAttributes)[]) => attrs.map((k) => a[k]).join('/');

test('every pair of classes differs in at least 2 parts and at least 2 attributes, for 10 to 20 classes', () => {
  for (let n = 10; n <= 20; n++) {
    const table = classAttributes(n).map((c) => c.attributes);
    assert.equal(table.length, n);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const attrDiff = ATTRIBUTE_NAMES.filter((k) => table[i][k] !== table[j][k]).length;
        const partDiff = groups.filter(([, attrs]) => look(table[i], attrs) !== look(table[j], attrs)).length;
        assert.ok(attrDiff >= 2, `n=${n}: classes ${i + 1} and ${j + 1} differ in ${attrDiff} attributes`);
        assert.ok(partDiff >= 2, `n=${n}: classes ${i + 1} and ${j + 1} differ in ${partDiff} parts`);
      }
    }
  }
});

test('no single part tells all classes apart, and no class is identified by one part alone', () => {
  for (const n of [10, 15, 20]) {
    const table = classAttributes(n).map((c) => c.attributes);
    for (const [g, attrs] of groups) {
      const looks = table.map((a) => look(a, attrs));
      assert.ok(new Set(looks).size < n, `n=${n}: part ${g} alone separates every class`);
      looks.forEach((l, i) => {
        assert.ok(looks.filter((x) => x === l).length >= 2, `n=${n}: class ${i + 1} is the only one with ${g} = ${l}`);
      });
    }
    // Every single attribute too (a weaker statement, checked for completeness).
    for (const k of ATTRIBUTE_NAMES) assert.ok(new Set(table.map((a) => a[k])).size < n);
  }
});

test('attribute values are used about equally often and every value is legal', () => {
  for (const n of [10, 15, 20]) {
    const table = classAttributes(n).map((c) => c.attributes);
    for (const k of ATTRIBUTE_NAMES) {
      const counts = (ATTRIBUTE_VALUES[k] as readonly string[]).map((v) => table.filter((a) => a[k] === v).length);
      assert.equal(counts.reduce((s, c) => s + c, 0), n, `${k}: a value outside ATTRIBUTE_VALUES`);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= MAX_VALUE_SPREAD, `n=${n} ${k}: counts ${counts}`);
    }
  }
});

test('class names are unique CUB-style names and folders are NNN.Name with ids 1..n', () => {
  const table = classAttributes(15);
  assert.equal(new Set(table.map((c) => c.name)).size, 15);
  table.forEach((c, i) => {
    assert.equal(c.id, i + 1);
    assert.match(c.name, /^[A-Z][A-Za-z]*(_[A-Za-z]+)*$/);
    assert.equal(c.folder, `${String(i + 1).padStart(3, '0')}.${c.name}`);
    // The name starts with the head colour and ends with the tail kind.
    assert.ok(c.name.toLowerCase().startsWith(`${c.attributes.headColour}_headed`), c.name);
    const tail = { fan: 'Fantail', fork: 'Forktail', pointed: 'Pintail', long: 'Longtail' }[c.attributes.tailShape];
    assert.ok(c.name.endsWith(tail), c.name);
  });
});

test('the table is a function of (classes, seed): same seed same table, other seed other table', () => {
  assert.deepEqual(classAttributes(15, 11), classAttributes(15, 11));
  assert.notDeepEqual(
    classAttributes(15, 11).map((c) => c.attributes),
    classAttributes(15, 12).map((c) => c.attributes),
  );
});

test('a class count outside 10-20 is an InputError naming the option', () => {
  for (const n of [9, 21, 12.5]) {
    assert.throws(() => classAttributes(n), (e: unknown) => e instanceof InputError && /classes: expected an integer from 10 to 20/.test(e.message));
  }
});
