/**
 * Writes a ViT-sized stand-in detector (tools/detectors/vit-graph.ts) as `<out>/<preset>.onnx` plus its manifest
 * `<out>/<preset>.json`, for benchmarks and the GPU check. Usage:
 *   node --import tsx tools/detectors/build-vit-detector.ts --preset vit-b16-224|vit-l14-336 --out DIR
 * A second call with the same preset finds the files and only prints their paths (the graph is deterministic).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { encodeModel } from '../../infra/onnx/onnx-writer';
import { VIT_PRESETS, vitDetectorManifest, vitDetectorModel, type VitPreset } from './vit-graph';

/** Builds (or finds) the preset's files in `outDir`; returns the manifest path. */
export function buildVitDetector(preset: VitPreset, outDir: string): string {
  const shape = VIT_PRESETS[preset];
  const manifestFile = path.join(outDir, `${preset}.json`);
  const onnxFile = `${preset}.onnx`;
  if (existsSync(manifestFile) && existsSync(path.join(outDir, onnxFile))) return manifestFile;
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, onnxFile), encodeModel(vitDetectorModel(shape)));
  writeFileSync(manifestFile, `${JSON.stringify(vitDetectorManifest(preset, shape, onnxFile), null, 1)}\n`);
  return manifestFile;
}

if (require.main === module) {
  const { values } = parseArgs({ options: { preset: { type: 'string', default: 'vit-b16-224' }, out: { type: 'string' } } });
  const preset = values.preset as string;
  if (!(preset in VIT_PRESETS)) {
    console.error(`--preset: expected one of ${Object.keys(VIT_PRESETS).join(', ')}, got ${JSON.stringify(preset)}`);
    process.exit(2);
  }
  if (values.out === undefined) {
    console.error('--out: expected a folder for the .onnx and .json files');
    process.exit(2);
  }
  console.log(buildVitDetector(preset as VitPreset, values.out));
}
