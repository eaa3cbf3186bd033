/**
 * The two large products of the residual split, run in onnxruntime: heatmaps of candidate
 * prototypes, M = F Q^T, and the pull-back of a heatmap gradient to channel space, dQ = dM^T F.
 * F (N x D, N = n·HW) is fed as an input, not baked into the graph, so one pair of sessions per
 * thread serves every class; onnxruntime reads the input buffers in place.
 *
 * Sessions run on one intra-op thread: classes are parallelised across worker threads instead,
 * and a fixed thread count keeps every product bit-identical whatever the parallelism.
 */
import * as ort from 'onnxruntime-node';
import { buildModel, node, valueInfo } from '../onnx/builder.ts';

interface Sessions {
  /** M (N x k) = F (N x D) · Q (k x D)^T */
  maps: ort.InferenceSession;
  /** dQ^T (D x k) = F^T (D x N) · dM (N x k), with F^T precomputed */
  pullbackT: ort.InferenceSession;
  /** dQ (k x D) = dM (N x k)^T · F (N x D), for F too large to keep a transposed copy */
  pullback: ort.InferenceSession;
  /** F^T (D x N) */
  transpose: ort.InferenceSession;
}

let sessions: Promise<Sessions> | null = null;

const sessionOptions: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};

async function createSessions(): Promise<Sessions> {
  const make = (nodes: ReturnType<typeof node>[], inputs: ReturnType<typeof valueInfo>[], outputs: ReturnType<typeof valueInfo>[]) =>
    ort.InferenceSession.create(buildModel({ name: 'feature_products', nodes, inputs, outputs }), sessionOptions);
  const [maps, pullbackT, pullback, transpose] = await Promise.all([
    make([node('Gemm', ['F', 'Q'], ['M'], { transB: 1 })], [valueInfo('F', ['N', 'D']), valueInfo('Q', ['k', 'D'])], [valueInfo('M', ['N', 'k'])]),
    make([node('MatMul', ['FT', 'dM'], ['dQT'])], [valueInfo('FT', ['D', 'N']), valueInfo('dM', ['N', 'k'])], [valueInfo('dQT', ['D', 'k'])]),
    make([node('Gemm', ['dM', 'F'], ['dQ'], { transA: 1 })], [valueInfo('dM', ['N', 'k']), valueInfo('F', ['N', 'D'])], [valueInfo('dQ', ['k', 'D'])]),
    make([node('Transpose', ['F'], ['FT'], { perm: [1, 0] })], [valueInfo('F', ['N', 'D'])], [valueInfo('FT', ['D', 'N'])]),
  ]);
  return { maps, pullbackT, pullback, transpose };
}

function getSessions(): Promise<Sessions> {
  if (!sessions) sessions = createSessions();
  return sessions;
}

/**
 * Release the cached sessions (a worker thread calls this before it exits: terminating a thread
 * that still holds onnxruntime sessions can abort the process during teardown).
 */
export async function releaseFeatureProductSessions(): Promise<void> {
  const s = sessions;
  sessions = null;
  if (!s) return;
  const all = await s;
  await Promise.all([all.maps, all.pullbackT, all.pullback, all.transpose].map((x) => x.release()));
}

/** Above this many elements of F, the pull-back reads F directly instead of a transposed copy. */
const TRANSPOSED_COPY_LIMIT = 16 * 1024 * 1024;

/** Products with one class's stacked features F (N x D, row-major float32). */
export class FeatureProducts {
  private constructor(
    private readonly s: Sessions,
    private readonly F: ort.Tensor,
    private readonly FT: ort.Tensor | null,
    /** Rows of F (n·HW). */
    readonly N: number,
    /** Channels. */
    readonly D: number,
  ) {}

  /** Bind F (N x D). Keeps a transposed copy when F is at most 16M elements (faster pull-back). */
  static async create(F: Float32Array, N: number, D: number): Promise<FeatureProducts> {
    if (F.length !== N * D) throw new Error(`FeatureProducts: F has ${F.length} values, expected ${N} x ${D}`);
    const s = await getSessions();
    const Ft = new ort.Tensor('float32', F, [N, D]);
    let FT: ort.Tensor | null = null;
    if (N * D <= TRANSPOSED_COPY_LIMIT) FT = (await s.transpose.run({ F: Ft })).FT as ort.Tensor;
    return new FeatureProducts(s, Ft, FT, N, D);
  }

  /** Heatmaps of k candidate prototypes: Q (k x D) -> M (N x k), M[r, i] = F[r] · Q[i]. */
  async maps(Q: Float32Array, k: number): Promise<Float32Array> {
    const out = await this.s.maps.run({ F: this.F, Q: new ort.Tensor('float32', Q, [k, this.D]) });
    return out.M.data as Float32Array;
  }

  /** Pull a heatmap gradient back to channels: dM (N x k) -> dQ (k x D), dQ[i] = sum_r dM[r, i] F[r]. */
  async pullback(dM: Float32Array, k: number): Promise<Float32Array> {
    const dMt = new ort.Tensor('float32', dM, [this.N, k]);
    if (!this.FT) return (await this.s.pullback.run({ dM: dMt, F: this.F })).dQ.data as Float32Array;
    const dQT = (await this.s.pullbackT.run({ FT: this.FT, dM: dMt })).dQT.data as Float32Array;
    const D = this.D;
    const dQ = new Float32Array(k * D);
    for (let c = 0; c < D; c++) for (let i = 0; i < k; i++) dQ[i * D + c] = dQT[c * k + i];
    return dQ;
  }
}
