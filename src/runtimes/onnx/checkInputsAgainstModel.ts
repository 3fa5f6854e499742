import { PlexusError } from '../../errors/PlexusError.ts';
import { shapeSize, type Tensor } from '../../protocol/safetensors.ts';
import type { OnnxModelMeta } from './inspectOnnxModel.ts';

function fmt(shape: readonly (number | string)[]): string {
  return `[${shape.map((d) => (typeof d === 'string' ? `"${d}"` : String(d))).join(', ')}]`;
}

/**
 * Checks named tensors against a model's inputs before anything runs, and throws one
 * `PLX_INPUT_MISMATCH` listing every problem: missing or extra names, wrong dtype, wrong rank, a fixed
 * dimension that differs, or one symbolic dimension (same name) bound to two different sizes.
 * `details.problems` holds the list. A model input of shape `[]` is not rank-checked because
 * onnxruntime reports unknown rank that way too.
 *
 * @example
 * checkInputsAgainstModel(meta, { x: { dtype: 'float32', shape: [1, 3, 64, 64], data } });
 */
export function checkInputsAgainstModel(
  meta: OnnxModelMeta,
  /** Decoded tensors, or only their layout (safetensorsLayout: the data's element count). */
  tensors: Record<string, Pick<Tensor, 'dtype' | 'shape'> & { data: { length: number } }>,
): void {
  const problems: string[] = [];
  const expected = new Set(meta.inputs.map((i) => i.name));
  const bound = new Map<string, { size: number; where: string }>();
  for (const input of meta.inputs) {
    if (!Object.hasOwn(tensors, input.name)) {
      problems.push(`missing input "${input.name}" (${input.dtype} ${fmt(input.shape)})`);
      continue;
    }
    const t = tensors[input.name]!;
    if (t.dtype !== input.dtype)
      problems.push(`input "${input.name}": dtype is ${t.dtype}, the model wants ${input.dtype}`);
    try {
      if (shapeSize(t.shape) !== t.data.length)
        problems.push(
          `input "${input.name}": shape ${fmt(t.shape)} does not match its ${t.data.length} elements`,
        );
    } catch {
      problems.push(`input "${input.name}": shape ${fmt(t.shape)} is not a valid shape`);
    }
    if (input.shape.length === 0) continue;
    if (t.shape.length !== input.shape.length) {
      problems.push(
        `input "${input.name}": rank is ${t.shape.length} ${fmt(t.shape)}, the model wants rank ${input.shape.length} ${fmt(input.shape)}`,
      );
      continue;
    }
    input.shape.forEach((want, axis) => {
      const got = t.shape[axis]!;
      if (typeof want === 'number') {
        // onnxruntime reports an unnamed dynamic dimension as -1 (or 0 in some exporters' metadata).
        if (want > 0 && got !== want)
          problems.push(`input "${input.name}": dimension ${axis} is ${got}, the model fixes it at ${want}`);
        return;
      }
      const prior = bound.get(want);
      if (prior === undefined) bound.set(want, { size: got, where: `"${input.name}" dimension ${axis}` });
      else if (prior.size !== got)
        problems.push(
          `input "${input.name}": dimension ${axis} ("${want}") is ${got} but ${prior.where} set "${want}" to ${prior.size}`,
        );
    });
  }
  for (const name of Object.keys(tensors))
    if (!expected.has(name))
      problems.push(
        `unexpected input "${name}" (the model's inputs are ${[...expected].map((n) => `"${n}"`).join(', ')})`,
      );
  if (problems.length > 0)
    throw new PlexusError('PLX_INPUT_MISMATCH', `inputs do not match the model: ${problems.join('; ')}`, {
      details: { problems },
    });
}
