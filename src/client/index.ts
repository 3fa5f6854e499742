/**
 * `plexus/client`: the SDK for people who submit work to Plexus.
 * @example
 * import { createClient } from 'plexus/client';
 */
export {
  createClient,
  type JobEvent,
  type JobResults,
  type JobView,
  type PlexusClient,
  type TrainingView,
  type TrainRoundEvent,
  type TrainRoundView,
} from './createClient.ts';
export {
  createStorageClient,
  type StorageClient,
  type StoredObjectView,
  type StoredPieceView,
} from './createStorageClient.ts';
export {
  currentOutput,
  currentOutputs,
  type JobOutput,
  type OutputRevokedEvent,
  outputRevoked,
  type RevokedOutput,
  revokedOutputs,
} from './outputs.ts';
export { signJobSubmission } from './signJobSubmission.ts';
