/** `realgen mini probe`: the reward-signal gate before any training (issue 15). */
import type { Command } from 'commander';
import { loadConfig } from '../configs/load';
import { runRewardProbe, type RewardProbeResult } from '../infra/mini/reward-probe';
import { addConfigOption, configFileOf, intOption } from './options';
import { makeTable } from './terminal';

function printProbe(r: RewardProbeResult): void {
  console.log(
    `reward-signal probe: ${r.nSamples} base-generator samples in ${r.nGroups} groups of ${r.settings.groupSize} ` +
      `(${r.settings.samplingSteps}-step SDE as stage 2), ${r.seconds.toFixed(1)} s`,
  );
  console.log(
    `weights: ${Object.entries(r.weights)
      .map(([k, w]) => `${k} ${w}`)
      .join(', ')}`,
  );
  console.log(`within-group correlation (combined advantage vs held-out z): ${r.withinGroupCorrelation.toFixed(3)}`);
  for (const [k, v] of Object.entries(r.keyCorrelations)) console.log(`  ${k} z vs held-out z: ${v.toFixed(3)}`);
  const pairs = makeTable(['detector A', 'detector B', 'r across images']);
  for (const p of r.pairwise) pairs.push([p.a, p.b, p.r.toFixed(3)]);
  console.log(pairs.toString());
  const names = r.detectors.map((d) => d.name);
  const edits = makeTable([
    'edit (mean ΔP(real)×100)',
    ...names.map((n) => `${n} (${r.detectors.find((d) => d.name === n)?.role})`),
  ]);
  for (const [edit, row] of Object.entries(r.editEffects)) edits.push([edit, ...names.map((n) => (row[n] ?? NaN).toFixed(1))]);
  console.log(edits.toString());
  console.log(r.gate.passed ? 'gate: PASSED' : `gate: FAILED\n  - ${r.gate.failures.join('\n  - ')}`);
}

/** Registers `mini probe` under the `mini` command group. */
export function registerMiniProbeCommand(mini: Command): void {
  addConfigOption(mini.command('probe'), 'run config naming the models and the stage-2 group settings')
    .description(
      'does the Detector Reward point where the held-out detector sees realism? (within-group correlation, detector agreement, image edits)',
    )
    .option('--groups <n>', 'prompt groups to sample', intOption('--groups', 2), 24)
    .option('--seed <n>', 'probe seed', intOption('--seed', 0), 0)
    .option('--json', 'print the report as JSON (withinGroupCorrelation, keyCorrelations, pairwise, editEffects, gate)')
    .action(async (opts: { groups: number; seed: number; json?: boolean; config?: string }) => {
      const r = await runRewardProbe(loadConfig(configFileOf(opts.config)), {
        groups: opts.groups,
        seed: opts.seed,
        ...(opts.json ? {} : { progress: (d: number, t: number) => process.stderr.write(`\rsampling ${d}/${t}`) }),
      });
      if (!opts.json) process.stderr.write('\n');
      if (opts.json) console.log(JSON.stringify(r, null, 2));
      else printProbe(r);
      if (!r.gate.passed) process.exitCode = 1;
    });
}
