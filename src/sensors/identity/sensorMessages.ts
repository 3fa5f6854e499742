/**
 * EIP-712 messages of the sensor network (docs/sensors.md). They share the Plexus domain
 * (name, version, chain id) with every other off-chain message, so a signature for one network
 * is useless on another.
 */
import { type Address, type Hex, hashTypedData, type LocalAccount } from 'viem';
import { plexusDomain, verifySignedDigest } from '../../protocol/eip712.ts';

export const sensorTypes = {
  /** Signed by the owning provider account: "this device key is mine, of this model, here". */
  DeviceRegistration: [
    { name: 'owner', type: 'address' },
    { name: 'device', type: 'address' },
    { name: 'model', type: 'string' },
    { name: 'latE6', type: 'int32' },
    { name: 'lonE6', type: 'int32' },
    { name: 'issuedAt', type: 'uint64' },
  ],
  /**
   * Signed by the DEVICE key: the device agrees to be registered to `owner` (at `issuedAt`, on the
   * chain of the domain). Without it anyone could register a device address it does not control
   * and be credited with its readings (security review).
   */
  DeviceClaim: [
    { name: 'device', type: 'address' },
    { name: 'owner', type: 'address' },
    { name: 'issuedAt', type: 'uint64' },
  ],
  /** Signed by the device key: one batch of readings (payloadHash covers every field but the signature). */
  ReadingBatch: [
    { name: 'device', type: 'address' },
    { name: 'sequence', type: 'uint64' },
    { name: 'payloadHash', type: 'bytes32' },
    { name: 'issuedAt', type: 'uint64' },
  ],
  /** Signed by a client buying readings: the query (hash), a nonce and the most it will pay. */
  DatasetRequest: [
    { name: 'client', type: 'address' },
    { name: 'queryHash', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'maxCost', type: 'uint256' },
    { name: 'issuedAt', type: 'uint64' },
  ],
} as const;

export type SensorPrimaryType = keyof typeof sensorTypes;
export type DeviceRegistrationMessage = {
  owner: Address;
  device: Address;
  model: string;
  latE6: number;
  lonE6: number;
  issuedAt: bigint;
};
export type DeviceClaimMessage = { device: Address; owner: Address; issuedAt: bigint };
export type ReadingBatchMessage = { device: Address; sequence: bigint; payloadHash: Hex; issuedAt: bigint };
export type DatasetRequestMessage = {
  client: Address;
  queryHash: Hex;
  nonce: bigint;
  maxCost: bigint;
  issuedAt: bigint;
};
type MessageOf<T extends SensorPrimaryType> = T extends 'DeviceRegistration'
  ? DeviceRegistrationMessage
  : T extends 'DeviceClaim'
    ? DeviceClaimMessage
    : T extends 'ReadingBatch'
      ? ReadingBatchMessage
      : DatasetRequestMessage;

/**
 * Signs a sensor message with a local account (owner, device or client key).
 *
 * @example const sig = await signSensorMessage(deviceAccount, 31337, 'ReadingBatch', msg);
 */
export function signSensorMessage<T extends SensorPrimaryType>(
  account: LocalAccount,
  chainId: number,
  primaryType: T,
  message: MessageOf<T>,
): Promise<Hex> {
  return account.signTypedData({
    domain: plexusDomain(chainId),
    types: sensorTypes,
    primaryType,
    message,
  } as never);
}

/**
 * The EIP-712 digest of a sensor message (a batch's id).
 *
 * @example const id = sensorMessageHash(31337, 'ReadingBatch', msg);
 */
export function sensorMessageHash<T extends SensorPrimaryType>(
  chainId: number,
  primaryType: T,
  message: MessageOf<T>,
): Hex {
  return hashTypedData({ domain: plexusDomain(chainId), types: sensorTypes, primaryType, message } as never);
}

/**
 * Checks that a sensor message is fresh and signed by `expectedSigner`; throws PLX_STALE_MESSAGE
 * or PLX_BAD_SIGNATURE (the same check as every Plexus message: verifySignedDigest).
 *
 * @example await verifySensorMessage({ chainId, primaryType: 'ReadingBatch', message, signature, expectedSigner: device });
 */
export async function verifySensorMessage<T extends SensorPrimaryType>(args: {
  chainId: number;
  primaryType: T;
  message: MessageOf<T>;
  signature: Hex;
  expectedSigner: Address;
  nowSec?: number;
}): Promise<void> {
  await verifySignedDigest({
    ...args,
    issuedAt: args.message.issuedAt,
    digest: () => sensorMessageHash(args.chainId, args.primaryType, args.message),
  });
}
