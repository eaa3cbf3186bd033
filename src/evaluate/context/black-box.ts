/**
 * The black box: the model file run as it is, in its own onnxruntime session (no graph surgery, no
 * extra outputs), returning its own logits tensor. Fidelity compares the prototype network against
 * this session, and deletion/insertion read class probabilities from it (it is also the cheaper of
 * the two sessions: no feature output).
 *
 * When the model's logits are not a graph output (e.g. only Softmax of them is), the plain model
 * cannot return them; `open` then returns null and callers use the classifier adapter's logits
 * (reported as `blackBox: 'adapter'`).
 */
import * as ort from 'onnxruntime-node';
import { dirname } from 'node:path';
import type { Classifier } from '../../model/classifier.ts';
import { InputError } from '../../util/errors.ts';

export class BlackBox {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly clf: Pick<Classifier, 'input' | 'inputLength' | 'maxBatch' | 'logitsOutput' | 'head' | 'path'>,
  ) {}

  /** A plain session for the classifier's model file, or null when its logits are not a graph output. */
  static async open(clf: Classifier, threads?: number): Promise<BlackBox | null> {
    if (!clf.logitsIsGraphOutput) return null;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(clf.path, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        logSeverityLevel: 4,
        ...(threads !== undefined ? { intraOpNumThreads: threads } : {}),
        // No busy-waiting between parallel sections: measured on 2 shared cores, spinning threads lost up
        // to half the throughput under load and gained nothing when the machine was free (docs/evaluation.md).
        extra: { session: { model_external_initializers_file_folder_path: dirname(clf.path), intra_op: { allow_spinning: '0' } } },
      });
    } catch (e) {
      throw new InputError(`onnxruntime could not load model '${clf.path}' as a plain session: ${(e as Error).message.split('\n')[0]}`);
    }
    return new BlackBox(session, clf);
  }

  /** The model's own logits for n images (n x C), in chunks of its fixed batch size when it has one. */
  async logits(input: Float32Array, n: number): Promise<Float32Array> {
    const { input: inp, inputLength: per, maxBatch, logitsOutput, head, path } = this.clf;
    const C = head.numClasses;
    if (!Number.isInteger(n) || n < 1 || input.length !== n * per) throw new InputError(`black box: input has ${input.length} values, ${n} image(s) of ${per} expected`);
    const dims = (k: number) => (inp.layout === 'NCHW' ? [k, inp.channels, inp.height, inp.width] : [k, inp.height, inp.width, inp.channels]);
    const out = new Float32Array(n * C);
    const step = maxBatch ?? n;
    for (let i = 0; i < n; i += step) {
      const m = Math.min(step, n - i);
      let chunk = input.subarray(i * per, (i + m) * per);
      if (m < step) {
        const padded = new Float32Array(step * per);
        padded.set(chunk);
        chunk = padded;
      }
      const r = await this.session.run({ [inp.name]: new ort.Tensor('float32', chunk, dims(step)) }, [logitsOutput]);
      const l = r[logitsOutput];
      if (l.type !== 'float32' || l.data.length !== step * C) throw new InputError(`model '${path}': logits '${logitsOutput}' came back as ${l.type} [${l.dims.join(', ')}], expected float32 ${step} x ${C}`);
      out.set((l.data as Float32Array).subarray(0, m * C), i * C);
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
