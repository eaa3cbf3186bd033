/** Test helpers: temporary model files, and an independent GAP + linear reference. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { decodeModel, toNumber } from '../../src/onnx/proto.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary folder, removed when the test file ends. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'protolens-model-'));
  dirs.push(d);
  return d;
}

/** Write model bytes (and optional side files) to a fresh folder; returns the model's path. */
export function writeModel(bytes: Uint8Array, name = 'model.onnx', files: Record<string, Uint8Array> = {}): string {
  const d = tempDir();
  for (const [f, data] of Object.entries(files)) writeFileSync(join(d, f), data);
  const p = join(d, name);
  writeFileSync(p, bytes);
  return p;
}

/** A float32 initializer of a model file, decoded here without the library's tensor reader. */
export function initializer(bytes: Uint8Array, name: string): { dims: number[]; data: Float32Array } {
  const t = decodeModel(bytes).graph!.initializer!.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer ${name}`);
  const raw = t.rawData!;
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  return { dims: t.dims!.map((d) => toNumber(d)), data: new Float32Array(copy.buffer) };
}

/** Mean over positions of n x HW x D features, then W (C x D) and b: float64 reference. */
export function referenceLogits(features: Float32Array, n: number, HW: number, D: number, W: ArrayLike<number>, b: ArrayLike<number>): number[] {
  const C = b.length;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const mean = new Array<number>(D).fill(0);
    for (let p = 0; p < HW; p++) for (let d = 0; d < D; d++) mean[d] += features[(i * HW + p) * D + d] / HW;
    for (let c = 0; c < C; c++) {
      let s = b[c];
      for (let d = 0; d < D; d++) s += W[c * D + d] * mean[d];
      out.push(s);
    }
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assertSameLength(a, b);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function assertSameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
}

/** Seeded-free deterministic input: a fixed smooth pattern, so tests need no RNG of the code under test. */
export function patternInput(n: number, perImage: number): Float32Array {
  const x = new Float32Array(n * perImage);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(0.37 * i + 0.11 * Math.floor(i / perImage)) * 1.5;
  return x;
}
