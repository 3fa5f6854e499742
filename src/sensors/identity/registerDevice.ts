import type { Kysely } from 'kysely';
import type { Address } from 'viem';
import type { Database } from '../../coordinator/store/schema.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { DeviceRegistration } from '../protocol.ts';
import { verifySensorMessage } from './sensorMessages.ts';

/** A registered device as the API shows it. */
export type SensorDevice = {
  address: Address;
  owner: Address;
  model: string;
  lat: number;
  lon: number;
  registeredAt: number;
  lastSeen: number | null;
  readingsTotal: number;
};

/**
 * Registers (or moves) a device: checks the owner's EIP-712 signature and freshness, the device
 * key's DeviceClaim signature naming that owner (the device consents), that the device is not
 * another owner's, that this registration is newer than the stored one (a replayed
 * old registration cannot move a station back), and — with a chain — that the owner is a
 * registered provider. Stores it; returns the device.
 *
 * @example
 * const device = await registerDevice({ db, chainId: 31337 }, await signDeviceRegistration(owner, 31337, { … }));
 */
export async function registerDevice(
  deps: {
    db: Kysely<Database>;
    chainId: number;
    /** With a chain: is this account a provider registered on chain? */
    isProvider?: ((owner: Address) => Promise<boolean>) | undefined;
    now?: () => number;
  },
  reg: DeviceRegistration,
): Promise<SensorDevice> {
  const now = deps.now ?? Date.now;
  await verifySensorMessage({
    chainId: deps.chainId,
    primaryType: 'DeviceRegistration',
    message: {
      owner: reg.owner,
      device: reg.device,
      model: reg.model,
      latE6: Math.round(reg.lat * 1e6),
      lonE6: Math.round(reg.lon * 1e6),
      issuedAt: BigInt(reg.issuedAt),
    },
    signature: reg.signature,
    expectedSigner: reg.owner,
    nowSec: Math.floor(now() / 1000),
  });
  // The device consents to this owner (security review: an owner-only signature let anyone
  // register a device address it does not control and take its readings' rewards).
  await verifySensorMessage({
    chainId: deps.chainId,
    primaryType: 'DeviceClaim',
    message: { device: reg.device, owner: reg.owner, issuedAt: BigInt(reg.issuedAt) },
    signature: reg.deviceSignature,
    expectedSigner: reg.device,
    nowSec: Math.floor(now() / 1000),
  });
  if (deps.isProvider && !(await deps.isProvider(reg.owner)))
    throw new PlexusError('PLX_SENSOR_OWNER_NOT_PROVIDER', `${reg.owner} is not a registered provider`, {
      details: { owner: reg.owner },
    });
  const address = reg.device.toLowerCase();
  const owner = reg.owner.toLowerCase();
  const t = now();
  await deps.db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('sensor_devices')
      .select(['owner', 'registration'])
      .where('address', '=', address)
      .executeTakeFirst();
    if (row && row.owner !== owner)
      throw new PlexusError('PLX_SENSOR_DEVICE_TAKEN', `device ${reg.device} belongs to another owner`, {
        details: { device: reg.device },
      });
    if (row && (JSON.parse(row.registration) as DeviceRegistration).issuedAt >= reg.issuedAt)
      throw new PlexusError('PLX_REPLAY', 'this registration is not newer than the stored one');
    const values = { model: reg.model, lat: reg.lat, lon: reg.lon, registration: JSON.stringify(reg) };
    if (row) await trx.updateTable('sensor_devices').set(values).where('address', '=', address).execute();
    else
      await trx
        .insertInto('sensor_devices')
        .values({ address, owner, registered_at: t, last_seen: null, ...values })
        .execute();
  });
  return (await getDevice(deps.db, address))!;
}

/**
 * A device by address, or undefined.
 *
 * @example const d = await getDevice(db, '0xabc…');
 */
export async function getDevice(db: Kysely<Database>, address: string): Promise<SensorDevice | undefined> {
  const r = await db
    .selectFrom('sensor_devices')
    .selectAll()
    .where('address', '=', address.toLowerCase())
    .executeTakeFirst();
  if (!r) return undefined;
  return {
    address: r.address as Address,
    owner: r.owner as Address,
    model: r.model,
    lat: r.lat,
    lon: r.lon,
    registeredAt: r.registered_at,
    lastSeen: r.last_seen,
    readingsTotal: r.readings_total,
  };
}
