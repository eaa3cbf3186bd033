/**
 * The command registry: each command module exports a spec (parsed + help) and a run function. The
 * modules are loaded only when their command runs, so `protolens --help` and `--version` start without
 * loading onnxruntime or sharp; each entry's summary is the one of its spec (checked by a test).
 */
import type { CommandSpec } from './args.ts';

export interface Command {
  spec: CommandSpec;
  run(argv: string[]): Promise<number>;
}

export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

export const commands: readonly CommandEntry[] = [
  {
    name: 'inspect',
    summary: 'Find the GAP + linear head of an ONNX classifier, show it and check it reproduces the logits.',
    load: async () => (await import('./inspect.ts')).inspectCommand,
  },
  {
    name: 'build',
    summary: 'Build a part-prototype network from an ONNX classifier and its training images.',
    load: async () => (await import('./build.ts')).buildCommand,
  },
  {
    name: 'status',
    summary: "Show a build cache's progress: classes with features and results, and every shard's state.",
    load: async () => (await import('./status.ts')).statusCommand,
  },
  {
    name: 'explain',
    summary: "Explain a model's predictions on images: each logit split into per-prototype contributions plus bias.",
    load: async () => (await import('./explain.ts')).explainCommand,
  },
  {
    name: 'evaluate',
    summary: 'Evaluate a prototype network on a test set: fidelity, consistency, stability, distinctiveness, comprehensiveness, purity, deletion/insertion, axioms.',
    load: async () => (await import('./evaluate.ts')).evaluateCommand,
  },
  {
    name: 'sanity',
    summary: "Check that explanations depend on the model: rebuild on a model with its top layers randomised, compare the scores.",
    load: async () => (await import('./sanity.ts')).sanityCommand,
  },
  {
    name: 'export',
    summary: 'Write one ONNX model that outputs the logits, every prototype contribution, the bias and the heatmaps.',
    load: async () => (await import('./export.ts')).exportCommand,
  },
  {
    name: 'view',
    summary: 'Serve a local web page over a network: every class with its prototypes and exemplars, and image upload to explain.',
    load: async () => (await import('./view.ts')).viewCommand,
  },
  {
    name: 'site',
    summary: 'Write a static web site that explains images in the browser (onnxruntime-web): a link to share, no install.',
    load: async () => (await import('./site.ts')).siteCommand,
  },
];
