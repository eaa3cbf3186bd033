/**
 * From the demo's results (network manifest, exemplar index, dataset class table, test pass,
 * evaluation report) to the page's per-class data. Pure: no file access.
 */
import type { PreprocessConfig } from '../data/preprocess-config.ts';
import { PALETTE, type ClassSpec, type CreatureAttributes } from '../data/synthetic/attributes.ts';
import type { EvaluationReport } from '../evaluate/output/report.ts';
import type { NetworkExemplars } from '../network/exemplar-index.ts';
import type { ClassSummary } from '../network/artifact.ts';
import type { PageAttribute, PageClass, PagePartHit } from './page-data.ts';

/** A class's look by body part, with swatch colours for the coloured attributes. */
export function attributeView(a: CreatureAttributes): PageAttribute[] {
  return [
    { part: 'head', text: `${a.headColour}, ${a.headShape}${a.crest === 'crested' ? ', crest' : ''}`, colour: PALETTE.headColour[a.headColour] },
    { part: 'beak', text: a.beakShape, colour: null },
    { part: 'wing', text: `${a.wingColour}, ${a.wingPattern}`, colour: PALETTE.wingColour[a.wingColour] },
    { part: 'tail', text: a.tailShape, colour: null },
    { part: 'legs', text: a.legColour, colour: PALETTE.legColour[a.legColour] },
  ];
}

/** One line saying how images become the model's input. */
export function describePreprocess(cfg: PreprocessConfig): string {
  const [h, w] = cfg.size;
  const resize = cfg.resize === 'stretch' ? `stretched to ${w} \u00d7 ${h}` : `shorter side to ${cfg.resizeShorter}, centre crop ${w} \u00d7 ${h}`;
  const norm = cfg.normalize === 'none' ? 'x / 255' : `(x / 255 \u2212 ${cfg.mean.join(', ')}) / ${cfg.std.join(', ')}`;
  return `${cfg.cropToBox ? 'cropped to the bounding box, ' : ''}${resize} (${cfg.interpolation}), normalised ${cfg.normalize} = ${norm}, ${cfg.layout}`;
}

const numberOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const numbers = (v: unknown): (number | null)[] => (Array.isArray(v) ? v.map(numberOrNull) : []);

export interface PageClassInputs {
  classNames: readonly string[];
  k: number;
  /** The manifest's per-class summaries (diagnostics as written by the build). */
  manifestClasses: readonly ClassSummary[];
  exemplars: NetworkExemplars | null;
  /** The network folder relative to the page (exemplar paths are relative to the network). */
  networkPrefix: string;
  /** The dataset's class table (attributes), by class index; null when unknown. */
  classTable: readonly ClassSpec[] | null;
  perClassTest: readonly { images: number; correct: number }[];
  report: EvaluationReport | null;
}

/** Every class as the gallery and diagnostics show it. */
export function pageClasses(inp: PageClassInputs): PageClass[] {
  const refined = inp.report?.metrics.parts?.sets.refined;
  const partNames = inp.report?.metrics.parts?.partNames ?? null;
  const hit = (c: number, i: number): PagePartHit | null => {
    const q = refined?.consistency.perPrototype.find((x) => x.class === c && x.prototype === i);
    if (!q) return null;
    return { name: partNames?.[q.bestPart - 1] ?? `part ${q.bestPart}`, rate: q.bestRate, consistent: q.consistent };
  };
  const purity = (c: number, i: number) => {
    const q = inp.report?.metrics.purity?.sets.refined?.perPrototype.find((x) => x.class === c && x.prototype === i);
    return q ? { value: q.purity, part: q.part } : null;
  };
  const stability = (c: number, i: number) => refined?.stability?.perPrototype.find((x) => x.class === c && x.prototype === i)?.stability ?? null;
  return inp.classNames.map((name, c) => {
    const summary = inp.manifestClasses[c];
    const d = (summary?.diagnostics ?? {}) as Record<string, unknown>;
    const fidelity = numbers(d.partFidelity);
    const uniform = numbers(d.partFidelityUniform).filter((v): v is number => v !== null);
    const alpha = numbers(d.alpha);
    const low = new Set(((d.lowFidelity as { prototypes?: number[] } | undefined)?.prototypes ?? []).filter((i) => Number.isInteger(i)));
    const test = inp.perClassTest[c] ?? { images: 0, correct: 0 };
    return {
      index: c,
      name,
      attributes: inp.classTable?.[c] ? attributeView(inp.classTable[c].attributes) : [],
      testImages: test.images,
      testCorrect: test.correct,
      trainImages: summary?.images ?? 0,
      distinctiveness: refined?.distinctiveness?.perClass[c]?.score ?? null,
      comprehensiveness: refined?.comprehensiveness?.perClass[c]?.score ?? null,
      diagnostics: {
        nmfRelError: numberOrNull(d.nmfRelError),
        residualRatio: numberOrNull(d.residualRatio),
        objectiveRatio: numberOrNull(d.objectiveRatio),
        meanPartFidelity: numberOrNull(d.meanPartFidelity),
        partFidelityUniformMean: uniform.length > 0 ? uniform.reduce((a, b) => a + b, 0) / uniform.length : null,
      },
      // k 'auto': each class shows its own prototypes (the manifest's per-class count).
      prototypes: Array.from({ length: Number.isInteger(d.prototypes) ? (d.prototypes as number) : inp.k }, (_, i) => ({
        index: i,
        partFidelity: fidelity[i] ?? null,
        lowFidelity: low.has(i),
        alpha: alpha[i] ?? null,
        exemplars: (inp.exemplars?.byClass[c]?.[i] ?? []).map((e) => ({
          crop: `${inp.networkPrefix}/${e.crop}`,
          context: `${inp.networkPrefix}/${e.context}`,
          image: e.image,
          score: e.score,
        })),
        dominantPart: hit(c, i),
        stability: stability(c, i),
        purity: purity(c, i),
      })),
    };
  });
}
