/**
 * Whether two outputs of the same task agree, by the rule of their kind: two render frames by the
 * render rule (`compareRenderOutputs`: sampling noise within the SSIM/PSNR thresholds, so two
 * honest frames are never the same bytes), anything else by the tensor tolerance
 * (`compareTensorSets`). Used wherever a review's outputs are compared — the coordinator's canary
 * reviews (a caught provider's frame of an ended job, work/reviewLeases.ts) and validators'
 * re-derivation of compensations (validator/checkCompensations.ts) — so both judge alike.
 */
import { RENDER_EXR_TENSOR, RENDER_PNG_TENSOR } from '../../protocol/render.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { compareRenderOutputs } from './compareRenders.ts';
import { compareTensorSets } from './compareTensors.ts';

/** Whether `t` is a render output (a PNG or EXR frame, or a region of one). */
export function isRenderOutput(t: TensorSet): boolean {
  return t[RENDER_PNG_TENSOR] !== undefined || t[RENDER_EXR_TENSOR] !== undefined;
}

/**
 * Whether outputs `a` and `b` agree within their kind's tolerance. Pure.
 *
 * @example if (outputsAgree(first.tensors, check)) resolve();
 */
export function outputsAgree(a: TensorSet, b: TensorSet): boolean {
  if (isRenderOutput(a) || isRenderOutput(b)) return compareRenderOutputs(a, b).ok;
  return compareTensorSets(a, b).ok;
}
