// A real one-node Slurm cluster for tests: Debian's munged, slurmctld and slurmd, started here with a
// slurm.conf written for this machine (its CPUs, free ports, state under a temporary folder) and
// stopped again. No mock: jobs are submitted with sbatch and run by slurmd.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface SlurmCluster {
  dir: string;
  /** Environment for the Slurm client commands (SLURM_CONF). */
  env: NodeJS.ProcessEnv;
  /** Run a Slurm client command; throws with its stderr when it fails. */
  run(cmd: string, args: string[]): string;
  /** Wait until the job has left the queue; false on timeout. */
  waitForJob(jobId: string, timeoutMs: number): Promise<boolean>;
  /** The daemons' logs (for failure messages). */
  logs(): string;
  stop(): Promise<void>;
}

const DAEMONS = ['munged', 'slurmctld', 'slurmd'];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pidOf(file: string): number | null {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Start munged, slurmctld and slurmd under `dir`. Throws naming the missing program or the daemon that failed, with its log. */
export async function startSlurmCluster(dir: string): Promise<SlurmCluster> {
  for (const d of [...DAEMONS, 'sbatch', 'squeue', 'scontrol']) {
    if (spawnSync('sh', ['-c', `command -v ${d}`]).status !== 0) throw new Error(`${d} is not installed: .ci/run installs Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge)`);
  }
  for (const d of ['munge', 'munge/run', 'ctld', 'spool', 'log']) mkdirSync(join(dir, d), { recursive: true, mode: 0o700 });
  chmodSync(join(dir, 'munge'), 0o700);
  const key = join(dir, 'munge', 'munge.key');
  writeFileSync(key, randomBytes(1024), { mode: 0o600 });
  const socket = join(dir, 'munge', 'run', 'munge.socket');
  const pids = { munged: join(dir, 'munge', 'run', 'munged.pid'), slurmctld: join(dir, 'slurmctld.pid'), slurmd: join(dir, 'slurmd.pid') };
  const host = hostname().split('.')[0];
  const user = userInfo().username;
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  const conf = join(dir, 'slurm.conf');
  writeFileSync(
    conf,
    [
      'ClusterName=protolens-test',
      `SlurmctldHost=${host}(127.0.0.1)`,
      `SlurmUser=${user}`,
      `SlurmdUser=${user}`,
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      `StateSaveLocation=${join(dir, 'ctld')}`,
      `SlurmdSpoolDir=${join(dir, 'spool')}`,
      `SlurmctldPidFile=${pids.slurmctld}`,
      `SlurmdPidFile=${pids.slurmd}`,
      `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
      `SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'SchedulerType=sched/builtin',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'ReturnToService=2',
      'MpiDefault=none',
      'KillWait=5',
      `NodeName=${host} NodeAddr=127.0.0.1 CPUs=${availableParallelism()} RealMemory=1000 State=UNKNOWN`,
      `PartitionName=test Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'),
  );
  const env = { ...process.env, SLURM_CONF: conf };
  const logs = () =>
    ['munge/munged.log', 'log/slurmctld.log', 'log/slurmd.log']
      .map((f) => join(dir, f))
      .filter((f) => existsSync(f))
      .map((f) => `--- ${f}\n${readFileSync(f, 'utf8').split('\n').slice(-25).join('\n')}`)
      .join('\n');
  const start = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}\n${logs()}`);
  };
  const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { env, encoding: 'utf8' });
  const cluster: SlurmCluster = {
    dir,
    env,
    run,
    logs,
    async waitForJob(jobId, timeoutMs) {
      const t0 = Date.now();
      while (Date.now() - t0 < timeoutMs) {
        if (run('squeue', ['-h', '-j', jobId, '-o', '%i %T']).trim() === '') return true;
        await sleep(1000);
      }
      return false;
    },
    async stop() {
      spawnSync('scontrol', ['shutdown'], { env });
      const munged = pidOf(pids.munged);
      for (let i = 0; i < 50; i++) {
        const left = [pidOf(pids.slurmctld), pidOf(pids.slurmd)].filter((p): p is number => p !== null && alive(p));
        if (left.length === 0) break;
        if (i === 40) for (const p of left) process.kill(p, 'SIGKILL');
        await sleep(200);
      }
      if (munged !== null && alive(munged)) process.kill(munged, 'SIGTERM');
    },
  };
  try {
    start('munged', ['--force', `--socket=${socket}`, `--key-file=${key}`, `--log-file=${join(dir, 'munge', 'munged.log')}`, `--pid-file=${pids.munged}`, `--seed-file=${join(dir, 'munge', 'seed')}`]);
    start('slurmctld', ['-f', conf]);
    start('slurmd', ['-f', conf]);
    // Ready when the node is idle.
    const t0 = Date.now();
    for (;;) {
      const state = spawnSync('sinfo', ['-h', '-N', '-o', '%T'], { env, encoding: 'utf8' }).stdout?.trim();
      if (state === 'idle') break;
      if (Date.now() - t0 > 30000) throw new Error(`the Slurm node did not become idle within 30 s (state '${state}')\n${logs()}`);
      await sleep(300);
    }
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
