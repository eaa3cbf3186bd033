/**
 * Pieces of the network manifest that build assembles: paths recorded relative to the network
 * folder, per-class diagnostics as plain JSON.
 */
import { isAbsolute, parse, relative, sep } from 'node:path';
import type { ClassDecomposition } from '../prototypes/decompose.ts';

/**
 * `target` as recorded in a manifest: relative to the network folder `dir` (POSIX separators), so a
 * network moved together with its model and data keeps working; absolute when no relative path
 * exists (another drive on Windows). Readers resolve it against the network folder.
 */
export function pathFromNetwork(dir: string, target: string): string {
  if (parse(dir).root !== parse(target).root) return target;
  const rel = relative(dir, target);
  if (isAbsolute(rel)) return target;
  return (rel === '' ? '.' : rel).split(sep).join('/');
}

/** A number for JSON: non-finite values become null (JSON has no Infinity or NaN). */
const num = (v: number): number | null => (Number.isFinite(v) ? v : null);

/**
 * One class's diagnostics as JSON (deterministic: timings are left out). Arrays are per prototype.
 */
export function diagnosticsJson(r: ClassDecomposition): Record<string, unknown> {
  const d = r.diagnostics;
  return {
    nmfRelError: num(d.nmfRelError),
    nmfIterations: d.nmfIterations,
    nmfConverged: d.nmfConverged,
    nmfSolver: d.nmfSolver,
    nmfShifted: d.nmfShift !== null,
    alpha: Array.from(r.alpha),
    residualRatio: num(d.residualRatio),
    objectiveUniform: num(d.objectiveUniform),
    objectiveChosen: num(d.objectiveChosen),
    objectiveRatio: num(d.objectiveRatio),
    partFidelity: Array.from(d.partFidelity, num),
    meanPartFidelity: num(d.meanPartFidelity),
    partFidelityUniform: Array.from(d.partFidelityUniform, num),
    peakAgreement: Array.from(d.peakAgreement, num),
    peakAgreementUniform: Array.from(d.peakAgreementUniform, num),
    exactness: d.exactness,
    allocatorEvaluations: d.allocatorEvaluations,
    allocatorIterations: d.allocatorIterations,
    allocatorStop: d.allocatorStop,
    imagesUsed: d.imagesUsed,
    lowFidelity: { ...d.lowFidelity, partFidelity: d.lowFidelity.partFidelity.map(num) },
    prototypes: r.k,
    kSelection: d.kSelection ? { ...d.kSelection, relErrors: d.kSelection.relErrors.map(num), gains: d.kSelection.gains.map(num), floor: num(d.kSelection.floor) } : null,
    warnings: d.warnings,
  };
}
