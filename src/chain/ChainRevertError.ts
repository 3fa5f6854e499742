import { BaseError, ContractFunctionRevertedError } from 'viem';
import { PlexusError } from '../errors/PlexusError.ts';

/**
 * A Plexus contract reverted. Carries the custom error's name and decoded arguments
 * (`errorName: 'InsufficientEscrowBalance'`, `args: [client, balance, needed]`), and the function
 * that was called. Wire code `PLX_CHAIN_REVERT`.
 *
 * @example
 * try { await claimRewards(ctx, claim); } catch (err) {
 *   if (err instanceof ChainRevertError && err.errorName === 'NothingToClaim') return;
 *   throw err;
 * }
 */
export class ChainRevertError extends PlexusError {
  override name = 'ChainRevertError';
  /** The custom error's name, or `'Error'`/`'Panic'` for require strings and panics, or undefined when unknown. */
  readonly errorName: string | undefined;
  /** The custom error's decoded arguments, in declaration order. */
  readonly args: readonly unknown[];
  /** The contract function that was called. */
  readonly functionName: string;

  constructor(functionName: string, errorName: string | undefined, args: readonly unknown[], cause: unknown) {
    super(
      'PLX_CHAIN_REVERT',
      `${functionName} reverted: ${errorName ?? 'unknown reason'}(${args.map(String).join(', ')})`,
      {
        details: {
          functionName,
          errorName,
          args: args.map((a) => (typeof a === 'bigint' ? a.toString() : a)),
        },
        cause,
      },
    );
    this.errorName = errorName;
    this.args = args;
    this.functionName = functionName;
  }
}

/**
 * Turns a viem error from a contract call into a ChainRevertError when the contract reverted;
 * returns any other error (transport, nonce, user rejection) unchanged.
 *
 * @example
 * try { await publicClient.simulateContract(call); } catch (err) { throw toChainError(err, 'claim'); }
 */
export function toChainError(err: unknown, functionName: string): unknown {
  if (!(err instanceof BaseError)) return err;
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
  if (!(reverted instanceof ContractFunctionRevertedError)) return err;
  const data = reverted.data;
  if (data) return new ChainRevertError(functionName, data.errorName, data.args ?? [], err);
  return new ChainRevertError(
    functionName,
    reverted.reason === undefined ? undefined : 'Error',
    reverted.reason === undefined ? [] : [reverted.reason],
    err,
  );
}
