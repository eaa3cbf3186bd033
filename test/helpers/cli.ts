// The real CLI in a child process (bin/protolens.js), for tests of arguments, exit codes and output.
import { spawn } from 'node:child_process';

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run `protolens ...args` to completion. The environment is this process's without scheduler
 * variables (SLURM_*, JOB_COMPLETION_INDEX: a test run inside a Slurm job must not leak its own),
 * plus `env`. `onSpawn` receives a function that signals the child.
 */
export function protolens(args: string[], env: NodeJS.ProcessEnv = {}, onSpawn?: (kill: (sig: NodeJS.Signals) => void) => void): Promise<CliRun> {
  return new Promise((resolve) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SLURM_') && k !== 'JOB_COMPLETION_INDEX'));
    const p = spawn(process.execPath, ['bin/protolens.js', ...args], { env: { ...clean, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
    onSpawn?.((sig) => p.kill(sig));
  });
}
