/** `protolens view --net NET_DIR`: a local web viewer over a network folder (library: src/viewer/server.ts). */
import { intOption, numberOption, parseCommand, type CommandSpec } from './args.ts';
import type { Command } from './commands.ts';
import { DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_VIEWER_HOST, DEFAULT_VIEWER_PORT, startViewer } from '../viewer/server.ts';
import { ExitCode, UsageError } from '../util/errors.ts';

const spec: CommandSpec = {
  name: 'view',
  summary: 'Serve a local web page over a network: every class with its prototypes and exemplars, and image upload to explain.',
  usage: 'protolens view --net NET_DIR [--port P] [--host H] [--data DIR] [--results DIR]',
  options: {
    net: { type: 'string', value: 'DIR', description: "network folder made by 'protolens build' (required)" },
    port: { type: 'string', value: 'P', description: 'TCP port (0: any free port; the URL printed says which)', default: String(DEFAULT_VIEWER_PORT) },
    host: { type: 'string', value: 'H', description: 'interface to bind (the default serves this machine only)', default: DEFAULT_VIEWER_HOST },
    data: { type: 'string', value: 'DIR', description: 'dataset folder served read-only under /data/ (exemplar source images are relative to it)' },
    evaluation: { type: 'string', value: 'DIR', description: "an evaluation of this network ('protolens evaluate --out DIR'): the gallery shows each prototype's part and stability and each class's distinctiveness and comprehensiveness" },
    sanity: { type: 'string', value: 'DIR', description: "a model-randomisation sanity check of this network ('protolens sanity --out DIR'): the page shows its scores" },
    results: { type: 'string', value: 'DIR', description: 'keep uploads and explanation pictures here (default: a temporary folder removed on exit)' },
    model: { type: 'string', value: 'PATH', description: 'model file instead of the one recorded in the network (it must have the recorded SHA-256)' },
    threads: { type: 'string', value: 'N', description: 'onnxruntime intra-op threads (default: one per physical core)' },
    top: { type: 'string', value: 'T', description: 'classes reported per explained image', default: '5' },
    'max-upload': { type: 'string', value: 'MB', description: 'largest accepted upload in MiB', default: String(DEFAULT_MAX_UPLOAD_BYTES / (1024 * 1024)) },
  },
  details: [
    'API: GET /api/manifest, GET /api/classes, POST /api/explain (body: image bytes, header X-File-Name);',
    'see docs/viewer.md. Stop with Ctrl-C.',
    '',
    'Exit codes: 0 stopped by SIGINT/SIGTERM, 2 usage error, 3 unusable network, model or port.',
  ].join('\n'),
};

/** Resolves when the process receives SIGINT or SIGTERM. */
function interrupted(): Promise<string> {
  return new Promise((ok) => {
    const on = (sig: string) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      ok(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(spec, argv);
  if (typeof values.net !== 'string') throw new UsageError("--net NET_DIR is required\nRun 'protolens view --help' for usage.");
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'\nRun 'protolens view --help' for usage.`);
  const port = intOption(values, 'port', 0)!;
  if (port > 65535) throw new UsageError(`--port: expected an integer in [0, 65535], got '${String(values.port)}'`);
  const maxMb = numberOption(values, 'max-upload', { min: 0.001, max: 4096 })!;
  const viewer = await startViewer({
    net: values.net,
    port,
    host: String(values.host),
    ...(typeof values.data === 'string' ? { data: values.data } : {}),
    ...(typeof values.evaluation === 'string' ? { evaluation: values.evaluation } : {}),
    ...(typeof values.sanity === 'string' ? { sanity: values.sanity } : {}),
    ...(typeof values.results === 'string' ? { results: values.results } : {}),
    maxUploadBytes: Math.round(maxMb * 1024 * 1024),
    explainer: {
      top: intOption(values, 'top'),
      ...(typeof values.model === 'string' ? { model: values.model } : {}),
      ...(values.threads !== undefined ? { threads: intOption(values, 'threads') } : {}),
    },
  });
  const stopped = interrupted(); // listening before the URL is printed: a signal right after it stops cleanly
  const host = String(values.host);
  if (!(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host))) {
    process.stderr.write(`protolens view: warning: --host ${host} serves the network, its model's explanations and any --data folder to every machine that can reach this one, without authentication\n`);
  }
  process.stdout.write(`protolens view: serving ${values.net} at ${viewer.url}\nuploads and results: ${viewer.resultsDir}\n(Ctrl-C to stop)\n`);
  const sig = await stopped;
  process.stderr.write(`protolens view: ${sig}, stopping\n`);
  await viewer.close();
  return ExitCode.ok;
}

export const viewCommand: Command = { spec, run };
