// `npm run demo`: the whole method on the bundled parts dataset, one HTML page (src/demo/, docs/demo.md).
import { runDemoCli } from '../src/cli/demo.ts';

process.exitCode = await runDemoCli(process.argv.slice(2));
