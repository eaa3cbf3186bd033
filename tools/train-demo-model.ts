/**
 * Retrain the demo model from scratch: generate the synthetic parts dataset if needed, train, evaluate,
 * export to ONNX, check parity, write models/demo-cnn.onnx and models/demo-cnn.json.
 *
 *   node --import tsx tools/train-demo-model.ts [--data-dir DIR] [--out PREFIX] [--seed S] [--epochs N]
 */
import { helpText, intOption, parseCommand, type CommandSpec } from '../src/cli/args.ts';
import { ProtolensError } from '../src/util/errors.ts';
import { DEMO_MODEL_SEED, trainDemoModel } from './demo-model/demo-model.ts';
import { DEMO_TRAIN_CONFIG } from './demo-model/train.ts';

const spec: CommandSpec = {
  name: 'train-demo-model',
  summary: 'Train the demo CNN on the synthetic parts dataset (tfjs, wasm backend) and export it to ONNX.',
  usage: 'node --import tsx tools/train-demo-model.ts [options]',
  options: {
    'data-dir': { type: 'string', value: 'DIR', description: 'dataset directory (generated there when absent)', default: '.cache/parts-dataset' },
    out: { type: 'string', value: 'PREFIX', description: 'output path without extension: PREFIX.onnx and PREFIX.json', default: 'models/demo-cnn' },
    seed: { type: 'string', value: 'S', description: 'master seed of weights, shuffling and augmentation', default: String(DEMO_MODEL_SEED) },
    'dataset-seed': { type: 'string', value: 'S', description: "seed of the dataset's images (default: the generator's)" },
    epochs: { type: 'string', value: 'N', description: 'training epochs', default: String(DEMO_TRAIN_CONFIG.epochs) },
  },
  details: 'Exit codes: 0 ok, 2 usage, 3 bad input, 4 a check failed (ONNX parity).',
};

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommand(spec, argv);
  if (values.help) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  const seed = intOption(values, 'seed', 0)!;
  const epochs = intOption(values, 'epochs', 1)!;
  const datasetSeed = intOption(values, 'dataset-seed', 0);
  const t0 = performance.now();
  const record = await trainDemoModel({
    dataDir: values['data-dir'] as string,
    out: values.out as string,
    seed,
    datasetSeed,
    train: { epochs },
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(
    `done in ${((performance.now() - t0) / 1000).toFixed(0)} s: test accuracy ${(100 * record.evaluation.testAccuracy).toFixed(2)}%, ` +
      `parity ${record.parity.maxAbsDiff.toExponential(2)}, training ${record.training.seconds} s\n`,
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof ProtolensError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exit(e.exitCode);
    }
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
