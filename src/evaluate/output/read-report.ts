/** Reading an evaluation report back (`protolens evaluate --out DIR` wrote DIR/evaluation.json), e.g. for the viewer. */
import { readReportFile } from '../../io/report-file.ts';
import { InputError } from '../../util/errors.ts';
import { EVALUATION_SCHEMA, EVALUATION_SCHEMA_VERSION, type EvaluationReport } from './report.ts';
import { REPORT_FILE } from './folder.ts';

/**
 * The report at `path` (an evaluation folder or its evaluation.json), checked to be one of a network
 * with `expect.classes` classes and k = `expect.k`.
 * @throws InputError naming the file and what does not match.
 */
export async function readEvaluationReport(path: string, expect: { classes: number; k: number }): Promise<EvaluationReport> {
  const { file, value: r } = await readReportFile<EvaluationReport>(path, REPORT_FILE, 'evaluation', 'give the folder protolens evaluate --out wrote, or its evaluation.json');
  if (r.schema !== EVALUATION_SCHEMA || r.version !== EVALUATION_SCHEMA_VERSION) throw new InputError(`evaluation ${file}: not a protolens evaluation report (schema ${String(r.schema)}, version ${String(r.version)}; expected ${EVALUATION_SCHEMA} ${EVALUATION_SCHEMA_VERSION})`);
  if (r.network?.classes !== expect.classes || r.network?.k !== expect.k) {
    throw new InputError(`evaluation ${file}: evaluates a network of ${r.network?.classes} classes x k = ${r.network?.k}, this one has ${expect.classes} x ${expect.k}`);
  }
  return r as EvaluationReport;
}
