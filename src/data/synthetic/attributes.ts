/**
 * The class attribute table of the synthetic parts dataset. A class is a combination of part
 * attributes (head shape and colour, crest, beak shape, wing colour and pattern, tail shape, leg
 * colour). The table is chosen by a seeded local search so that
 *  - every pair of classes differs in at least `minPartDifference` (default 2) *parts* (so also in
 *    at least that many attributes): hiding any one part never makes two classes look the same;
 *  - no class is identified by a single part: every class shares each part's look with another
 *    class, so a classifier has to combine several parts;
 *  - each attribute's values are used about equally often (counts differ by at most MAX_VALUE_SPREAD).
 */
import { Rng } from '../../util/random.ts';
import { CheckError, InputError } from '../../util/errors.ts';

/** The values each attribute can take, in a fixed order. */
export const ATTRIBUTE_VALUES = {
  headColour: ['red', 'blue', 'yellow', 'black', 'white'],
  headShape: ['round', 'square', 'flat'],
  crest: ['none', 'crested'],
  beakShape: ['cone', 'long', 'hooked'],
  wingColour: ['green', 'blue', 'orange', 'black'],
  wingPattern: ['plain', 'stripes', 'spots'],
  tailShape: ['fan', 'fork', 'pointed', 'long'],
  legColour: ['orange', 'black', 'pink'],
} as const;

export type AttributeName = keyof typeof ATTRIBUTE_VALUES;
export type AttributeValue<A extends AttributeName> = (typeof ATTRIBUTE_VALUES)[A][number];

/** One creature's part attributes. */
export type CreatureAttributes = { [A in AttributeName]: AttributeValue<A> };

export const ATTRIBUTE_NAMES = Object.keys(ATTRIBUTE_VALUES) as AttributeName[];

/** Attributes grouped by the part that shows them (distances between classes count parts). */
export const PART_GROUPS: Record<'head' | 'beak' | 'wing' | 'tail' | 'legs', readonly AttributeName[]> = {
  head: ['headColour', 'headShape', 'crest'],
  beak: ['beakShape'],
  wing: ['wingColour', 'wingPattern'],
  tail: ['tailShape'],
  legs: ['legColour'],
};
export type PartGroup = keyof typeof PART_GROUPS;
export const PART_GROUP_NAMES = Object.keys(PART_GROUPS) as PartGroup[];

/** The drawing colours of the named attribute colours (saturated, unlike body and background). */
export const PALETTE = {
  headColour: { red: '#d32f2f', blue: '#2456c8', yellow: '#f2c919', black: '#1c1c1c', white: '#f4f4f4' },
  wingColour: { green: '#2e9e48', blue: '#2456c8', orange: '#ef7a1a', black: '#1c1c1c' },
  legColour: { orange: '#f08a24', black: '#1c1c1c', pink: '#f09cb8' },
} as const;

/** One class of the dataset. */
export interface ClassSpec {
  /** 1-based class id as in classes.txt. */
  id: number;
  /** Class name (CUB style, words joined by '_'), e.g. `Red_headed_Fantail`. */
  name: string;
  /** Folder name as in classes.txt and images/, e.g. `001.Red_headed_Fantail`. */
  folder: string;
  attributes: CreatureAttributes;
}

/** Options of the attribute-table search. */
export interface ClassTableOptions {
  /** Minimum number of parts (head, beak, wing, tail, legs) in which any two classes differ. Default 2. */
  minPartDifference?: number;
  /** Require every class to share each part's look with at least one other class. Default true. */
  noSinglePartIdentifies?: boolean;
}

export const MIN_CLASSES = 10;
export const MAX_CLASSES = 20;
/** Seed of the attribute table when none is given. */
export const DEFAULT_ATTRIBUTE_SEED = 2024;

/** Number of parts in which two attribute sets differ. */
export function partDifference(a: CreatureAttributes, b: CreatureAttributes): number {
  let n = 0;
  for (const g of PART_GROUP_NAMES) if (PART_GROUPS[g].some((k) => a[k] !== b[k])) n++;
  return n;
}

/** Number of attributes in which two attribute sets differ. */
export function attributeDifference(a: CreatureAttributes, b: CreatureAttributes): number {
  return ATTRIBUTE_NAMES.filter((k) => a[k] !== b[k]).length;
}

function groupKey(attrs: CreatureAttributes, g: PartGroup): string {
  return PART_GROUPS[g].map((k) => attrs[k]).join('|');
}

/** For each class, the parts whose look no other class shares (empty lists are what we want). */
export function partsIdentifyingClass(table: readonly CreatureAttributes[]): PartGroup[][] {
  return table.map((a, i) =>
    PART_GROUP_NAMES.filter((g) => table.every((b, j) => j === i || groupKey(a, g) !== groupKey(b, g))),
  );
}

/**
 * The attribute table for `numClasses` classes (10-20), chosen by a seeded local search (see the
 * module comment for the rules). Same arguments, same table.
 */
export function classAttributes(numClasses: number, seed: number = DEFAULT_ATTRIBUTE_SEED, options: ClassTableOptions = {}): ClassSpec[] {
  if (!Number.isInteger(numClasses) || numClasses < MIN_CLASSES || numClasses > MAX_CLASSES) {
    throw new InputError(`classes: expected an integer from ${MIN_CLASSES} to ${MAX_CLASSES}, got ${numClasses}`);
  }
  if (!Number.isInteger(seed)) throw new InputError(`seed: expected an integer, got ${seed}`);
  const minParts = options.minPartDifference ?? 2;
  const noSingle = options.noSinglePartIdentifies ?? true;
  if (!Number.isInteger(minParts) || minParts < 1 || minParts > PART_GROUP_NAMES.length) {
    throw new InputError(`minPartDifference: expected an integer from 1 to ${PART_GROUP_NAMES.length}, got ${minParts}`);
  }
  const rng = new Rng(seed).fork(0xa77b);
  const table = searchTable(numClasses, rng, minParts, noSingle);
  const names = classNames(table);
  return table.map((attributes, i) => ({
    id: i + 1,
    name: names[i],
    folder: `${String(i + 1).padStart(3, '0')}.${names[i]}`,
    attributes,
  }));
}

/** Largest allowed spread of an attribute's value counts (most used minus least used) in a table. */
export const MAX_VALUE_SPREAD = 2;

/** Spread of an attribute's value counts in a table (unused values count 0). */
export function valueSpread(table: readonly CreatureAttributes[], k: AttributeName): number {
  const counts = new Map<string, number>(ATTRIBUTE_VALUES[k].map((v) => [v, 0]));
  for (const a of table) counts.set(a[k], (counts.get(a[k]) ?? 0) + 1);
  const c = [...counts.values()];
  return Math.max(...c) - Math.min(...c);
}

/** Attribute index ranges of each part group, for the integer-coded search. */
const GROUP_ATTRS: number[][] = PART_GROUP_NAMES.map((g) => PART_GROUPS[g].map((k) => ATTRIBUTE_NAMES.indexOf(k)));
const CARD = ATTRIBUTE_NAMES.map((k) => ATTRIBUTE_VALUES[k].length);

/**
 * Cost of an integer-coded table (`codes[i * A + k]` = value index of attribute k of class i).
 * Hard violations (weight 1000): pairs closer than `minParts` parts, classes identified by a
 * single part, attribute value counts spread by more than MAX_VALUE_SPREAD. Soft (weight 1):
 * pairs at exactly the minimum distance, and 2 per unit of spread above 1.
 */
function tableCost(codes: Int32Array, n: number, minParts: number, noSingle: boolean): { cost: number; hard: number } {
  const A = CARD.length;
  const G = GROUP_ATTRS.length;
  let hard = 0;
  let soft = 0;
  // shared[i * G + g]: whether some other class has the same look of part g as class i.
  const shared = new Uint8Array(n * G);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let d = 0;
      for (let g = 0; g < G; g++) {
        const same = GROUP_ATTRS[g].every((k) => codes[i * A + k] === codes[j * A + k]);
        if (same) shared[i * G + g] = shared[j * G + g] = 1;
        else d++;
      }
      if (d < minParts) hard += minParts - d;
      else if (d === minParts) soft++;
    }
  }
  if (noSingle) for (let x = 0; x < n * G; x++) if (!shared[x]) hard++;
  for (let k = 0; k < A; k++) {
    const counts = new Array<number>(CARD[k]).fill(0);
    for (let i = 0; i < n; i++) counts[codes[i * A + k]]++;
    const sp = Math.max(...counts) - Math.min(...counts);
    if (sp > MAX_VALUE_SPREAD) hard += sp - MAX_VALUE_SPREAD;
    if (sp > 1) soft += 2 * (sp - 1);
  }
  return { cost: hard * 1000 + soft, hard };
}

function searchTable(n: number, rng: Rng, minParts: number, noSingle: boolean): CreatureAttributes[] {
  const A = CARD.length;
  for (let restart = 0; restart < 20; restart++) {
    // Start from balanced columns (each value used floor(n/k) or ceil(n/k) times), shuffled.
    const codes = new Int32Array(n * A);
    for (let k = 0; k < A; k++) {
      const values = rng.shuffle(Array.from({ length: CARD[k] }, (_, v) => v));
      const col = rng.shuffle(Array.from({ length: n }, (_, i) => values[i % CARD[k]]));
      for (let i = 0; i < n; i++) codes[i * A + k] = col[i];
    }
    let current = tableCost(codes, n, minParts, noSingle);
    for (let step = 0; step < 6000 && current.cost > 0; step++) {
      // Move: swap one attribute between two classes, or give one class another value.
      const k = rng.int(A);
      const i = rng.int(n);
      const old = codes[i * A + k];
      let j = -1;
      if (rng.next() < 0.5) {
        j = rng.int(n);
        if (j === i || codes[j * A + k] === old) continue;
        codes[i * A + k] = codes[j * A + k];
        codes[j * A + k] = old;
      } else {
        codes[i * A + k] = rng.int(CARD[k]);
        if (codes[i * A + k] === old) continue;
      }
      const next = tableCost(codes, n, minParts, noSingle);
      if (next.cost <= current.cost) current = next;
      else {
        if (j >= 0) codes[j * A + k] = codes[i * A + k];
        codes[i * A + k] = old;
      }
    }
    if (current.hard === 0) {
      return Array.from(
        { length: n },
        (_, i) => Object.fromEntries(ATTRIBUTE_NAMES.map((name, k) => [name, ATTRIBUTE_VALUES[name][codes[i * A + k]]])) as CreatureAttributes,
      );
    }
  }
  throw new CheckError(`class attribute table: no table of ${n} classes found with every pair differing in ${minParts} parts`);
}

const TAIL_NOUN: Record<AttributeValue<'tailShape'>, string> = { fan: 'Fantail', fork: 'Forktail', pointed: 'Pintail', long: 'Longtail' };
const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

/** Name qualifiers in the order they are added until every class name is unique. */
const QUALIFIERS: Array<(a: CreatureAttributes) => string> = [
  (a) => (a.wingPattern === 'plain' ? `${cap(a.wingColour)}_winged` : `${cap(a.wingColour)}_${a.wingPattern === 'stripes' ? 'barred' : 'spotted'}`),
  (a) => (a.crest === 'crested' ? 'Crested' : 'Smooth'),
  (a) => ({ cone: 'Conebill', long: 'Longbill', hooked: 'Hookbill' })[a.beakShape],
  (a) => `${cap(a.legColour)}_legged`,
  (a) => `${cap(a.headShape)}_headed`,
];

/** Readable unique CUB-style names, e.g. `Red_headed_Green_barred_Fantail`. */
function classNames(table: CreatureAttributes[]): string[] {
  const level = table.map(() => 0);
  const nameOf = (a: CreatureAttributes, l: number) => {
    const quals = QUALIFIERS.slice(0, l).map((q) => q(a));
    return [`${cap(a.headColour)}_headed`, ...quals, TAIL_NOUN[a.tailShape]].join('_');
  };
  for (;;) {
    const names = table.map((a, i) => nameOf(a, level[i]));
    const groups = new Map<string, number[]>();
    names.forEach((nm, i) => groups.set(nm, [...(groups.get(nm) ?? []), i]));
    let changed = false;
    for (const idx of groups.values()) {
      if (idx.length < 2) continue;
      for (const i of idx) {
        if (level[i] < QUALIFIERS.length) {
          level[i]++;
          changed = true;
        }
      }
    }
    if (!changed) return names;
  }
}
