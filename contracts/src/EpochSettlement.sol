// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {ClientEscrow} from "./ClientEscrow.sol";
import {PlexusToken} from "./PlexusToken.sol";
import {ProviderRegistry} from "./ProviderRegistry.sol";

/// @title EpochSettlement
/// @notice Finalizes one epoch at a time with a quorum of validator signatures: records the Merkle
/// root of every provider's cumulative lifetime earnings, charges clients' escrow, slashes providers
/// and mints the epoch's emission. Providers then `claim` the difference between their cumulative
/// amount and what they already claimed. Leaves are OpenZeppelin StandardMerkleTree leaves of
/// `(address account, uint256 cumulativeAmount)`. Ownership (the validator set and threshold) moves
/// in two steps, so it cannot be handed to a mistyped address.
contract EpochSettlement is Ownable2Step, EIP712, ReentrancyGuardTransient {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice What validators sign (EIP-712 struct `FinalizeEpoch`, domain "Plexus EpochSettlement" v1).
    struct EpochPayload {
        /// Must be `lastFinalizedEpoch + 1`.
        uint256 epoch;
        /// Root of the StandardMerkleTree of (account, cumulative lifetime earnings).
        bytes32 rewardsRoot;
        /// Sum of every cumulative amount in the tree; never decreases from one epoch to the next.
        uint256 totalEarned;
        /// Clients charged this epoch, with `chargeAmounts[i]` for `chargeClients[i]`.
        address[] chargeClients;
        uint256[] chargeAmounts;
        /// Providers slashed this epoch, with up to `slashAmounts[i]` taken from `slashProviders[i]`.
        address[] slashProviders;
        uint256[] slashAmounts;
        /// New PLX minted to this contract for this epoch (at most PlexusToken.MAX_EMISSION_PER_EPOCH).
        uint256 emission;
        /// sha256 of the epoch's canonical evidence bundle (docs/validators.md): the facts validators
        /// re-ran the epoch from. Chained: the bundle names the previous epoch's hash.
        bytes32 evidenceHash;
    }

    /// @notice EIP-712 type hash of `FinalizeEpoch`.
    bytes32 public constant FINALIZE_EPOCH_TYPEHASH = keccak256(
        "FinalizeEpoch(uint256 epoch,bytes32 rewardsRoot,uint256 totalEarned,address[] chargeClients,uint256[] chargeAmounts,address[] slashProviders,uint256[] slashAmounts,uint256 emission,bytes32 evidenceHash)"
    );

    /// @notice The PLX token.
    PlexusToken public immutable token;
    /// @notice Where providers stake (and are slashed).
    ProviderRegistry public immutable registry;
    /// @notice Where clients deposit (and are charged).
    ClientEscrow public immutable escrow;
    /// @notice Length of an epoch in seconds.
    uint256 public immutable epochDuration;
    /// @notice Start of epoch 1 (the deployment time); epoch `e` ends at `genesisTime + e * epochDuration`.
    uint256 public immutable genesisTime;

    /// @notice Last finalized epoch (0 before the first).
    uint256 public lastFinalizedEpoch;
    /// @notice Merkle root of cumulative earnings as of `lastFinalizedEpoch`.
    bytes32 public rewardsRoot;
    // Both totals share one storage slot: every claim reads the pair and writes it once (uint128 holds
    // 3.4e38 base units, far past the token's cap of 1e27).
    /// @notice Sum of cumulative earnings in `rewardsRoot`.
    uint128 public totalEarned;
    /// @notice Sum of everything claimed so far.
    uint128 public totalClaimed;
    /// @notice Cumulative amount already paid out, per account.
    mapping(address account => uint256 amount) public claimed;
    /// @notice The evidence bundle hash each finalized epoch was signed with (zero: not finalized).
    /// Its own mapping, written only by `finalizeEpoch`: `claim` never reads it, so claim gas is unchanged.
    mapping(uint256 epoch => bytes32 evidenceHash) public evidenceHashOf;

    EnumerableSet.AddressSet private _validators;
    /// @notice Distinct validator signatures needed to finalize an epoch.
    uint256 public threshold;

    /// @notice `validator` joined the validator set.
    event ValidatorAdded(address indexed validator);
    /// @notice `validator` left the validator set.
    event ValidatorRemoved(address indexed validator);
    /// @notice The signature threshold changed from `previous` to `threshold`.
    event ThresholdChanged(uint256 previous, uint256 threshold);
    /// @notice `epoch` was finalized. Its evidence hash is not repeated here (one more word is a stack too
    /// deep for the legacy pipeline): read `evidenceHashOf(epoch)` or the transaction's calldata.
    event EpochFinalized(
        uint256 indexed epoch,
        bytes32 rewardsRoot,
        uint256 totalEarned,
        uint256 charged,
        uint256 slashed,
        uint256 emission,
        uint256 signers
    );
    /// @notice `account` was paid `amount`; its claimed total is now `claimed(account)` (the
    /// `cumulativeAmount` argument of the call). Not repeated in the event: one word less keeps a
    /// first claim with a 17-hash proof under 100k gas.
    event Claimed(address indexed account, uint256 amount);

    /// @notice A constructor argument is invalid.
    error SettlementInvalidConfig();
    /// @notice The escrow's withdrawal delay is shorter than one epoch.
    error WithdrawalDelayTooShort(uint256 withdrawalDelay, uint256 epochDuration);
    /// @notice The validator address is zero.
    error ZeroValidator();
    /// @notice `validator` is already in the set.
    error ValidatorAlreadyAdded(address validator);
    /// @notice `account` is not a validator.
    error NotAValidator(address account);
    /// @notice `threshold` must be between 1 and the validator count `validators`.
    error InvalidThreshold(uint256 threshold, uint256 validators);
    /// @notice Expected epoch `expected`, got `epoch`.
    error UnexpectedEpoch(uint256 expected, uint256 epoch);
    /// @notice `epoch` ends at `endsAt` and cannot be finalized before.
    error EpochNotEnded(uint256 epoch, uint256 endsAt);
    /// @notice Cumulative earnings cannot decrease (`previous` to `totalEarned`).
    error TotalEarnedDecreased(uint256 previous, uint256 totalEarned);
    /// @notice `count` signatures given, `threshold` needed.
    error InsufficientSignatures(uint256 count, uint256 threshold);
    /// @notice Signature `index` is malformed.
    error InvalidSignature(uint256 index);
    /// @notice `signer` signed twice.
    error DuplicateSigner(address signer);
    /// @notice Signers must be in strictly ascending address order (`signer` came after `previous`).
    error SignersNotAscending(address previous, address signer);
    /// @notice After this epoch the contract would hold `available`, less than the `required` still claimable.
    error InsufficientBacking(uint256 required, uint256 available);
    /// @notice The proof does not show (`account`, `cumulativeAmount`) in the current root.
    error InvalidProof(address account, uint256 cumulativeAmount);
    /// @notice `account` already claimed `alreadyClaimed` of its `cumulativeAmount`.
    error NothingToClaim(address account, uint256 cumulativeAmount, uint256 alreadyClaimed);
    /// @notice Paying this claim would take total claims to `totalClaimed`, past `totalEarned`.
    error ClaimExceedsTotalEarned(uint256 totalClaimed, uint256 totalEarned);

    /// @param token_ the PLX token (this contract must be bound as its minter).
    /// @param registry_ the provider registry (this contract must be bound as its settlement).
    /// @param escrow_ the client escrow (this contract must be bound as its settlement).
    /// @param epochDuration_ seconds per epoch; at most the escrow's withdrawal delay.
    /// @param validators_ the initial validator set.
    /// @param threshold_ signatures needed, 1..validators_.length.
    /// @param initialOwner may change the validator set and threshold.
    constructor(
        PlexusToken token_,
        ProviderRegistry registry_,
        ClientEscrow escrow_,
        uint256 epochDuration_,
        address[] memory validators_,
        uint256 threshold_,
        address initialOwner
    ) Ownable(initialOwner) EIP712("Plexus EpochSettlement", "1") {
        if (
            address(token_) == address(0) || address(registry_) == address(0) || address(escrow_) == address(0)
                || epochDuration_ == 0
        ) revert SettlementInvalidConfig();
        uint256 delay = escrow_.withdrawalDelay();
        if (delay < epochDuration_) revert WithdrawalDelayTooShort(delay, epochDuration_);
        token = token_;
        registry = registry_;
        escrow = escrow_;
        epochDuration = epochDuration_;
        genesisTime = block.timestamp;
        for (uint256 i = 0; i < validators_.length; ++i) {
            _addValidator(validators_[i]);
        }
        _setThreshold(threshold_);
    }

    // ------------------------------------------------------------------ validator set (owner)

    /// @notice Adds `validator` to the set.
    function addValidator(address validator) external onlyOwner {
        _addValidator(validator);
    }

    /// @notice Removes `validator`; fails if fewer validators than the threshold would remain.
    function removeValidator(address validator) external onlyOwner {
        if (!_validators.remove(validator)) revert NotAValidator(validator);
        if (_validators.length() < threshold) revert InvalidThreshold(threshold, _validators.length());
        emit ValidatorRemoved(validator);
    }

    /// @notice Sets how many distinct validator signatures finalize an epoch.
    function setThreshold(uint256 threshold_) external onlyOwner {
        _setThreshold(threshold_);
    }

    // ------------------------------------------------------------------ settlement

    /// @notice Finalizes `p.epoch` when at least `threshold` current validators signed exactly `p`.
    /// `signatures` are 65-byte ECDSA signatures over the EIP-712 digest (`hashEpoch(p)`), ordered by
    /// strictly ascending signer address. Charges, slashes and emission all land in this contract;
    /// afterwards it must hold at least `totalEarned - totalClaimed`.
    function finalizeEpoch(EpochPayload calldata p, bytes[] calldata signatures) external nonReentrant {
        uint256 expected = lastFinalizedEpoch + 1;
        if (p.epoch != expected) revert UnexpectedEpoch(expected, p.epoch);
        uint256 endsAt = epochEnd(p.epoch);
        if (block.timestamp < endsAt) revert EpochNotEnded(p.epoch, endsAt);
        if (p.totalEarned < totalEarned) revert TotalEarnedDecreased(totalEarned, p.totalEarned);
        _checkSignatures(hashEpoch(p), signatures);

        lastFinalizedEpoch = p.epoch;
        rewardsRoot = p.rewardsRoot;
        totalEarned = SafeCast.toUint128(p.totalEarned);
        evidenceHashOf[p.epoch] = p.evidenceHash;

        uint256 charged = p.chargeClients.length == 0 && p.chargeAmounts.length == 0
            ? 0
            : escrow.chargeBatch(p.epoch, p.chargeClients, p.chargeAmounts);
        uint256 slashed = p.slashProviders.length == 0 && p.slashAmounts.length == 0
            ? 0
            : registry.slashBatch(p.slashProviders, p.slashAmounts);
        if (p.emission > 0) token.mintEmission(p.epoch, address(this), p.emission);

        uint256 required = p.totalEarned - totalClaimed;
        uint256 available = token.balanceOf(address(this));
        if (available < required) revert InsufficientBacking(required, available);

        emit EpochFinalized(
            p.epoch, p.rewardsRoot, p.totalEarned, charged, slashed, p.emission, signatures.length
        );
    }

    /// @notice Pays `account` its `cumulativeAmount` minus what it already claimed. Anyone may call
    /// it; the tokens always go to `account`.
    /// @return paid the amount transferred.
    /// @dev No reentrancy guard: every check and state change happens before the one external call,
    /// a transfer of our own PLX (plain OpenZeppelin ERC-20: no hooks, reverts on failure), so a
    /// re-entered call would see the updated `claimed` and revert. This keeps a first claim under
    /// 100k gas with a 17-hash proof.
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        returns (uint256 paid)
    {
        bytes32 leaf = _leaf(account, cumulativeAmount);
        if (!MerkleProof.verifyCalldata(proof, rewardsRoot, leaf)) revert InvalidProof(account, cumulativeAmount);
        uint256 already = claimed[account];
        if (cumulativeAmount <= already) revert NothingToClaim(account, cumulativeAmount, already);
        unchecked {
            paid = cumulativeAmount - already; // cumulativeAmount > already, checked above
        }
        uint256 earned = totalEarned;
        uint256 newTotal = totalClaimed + paid;
        if (newTotal > earned) revert ClaimExceedsTotalEarned(newTotal, earned);
        claimed[account] = cumulativeAmount;
        totalClaimed = uint128(newTotal); // <= totalEarned, a uint128
        // PlexusToken.transfer reverts on failure and always returns true, so SafeERC20 adds nothing.
        token.transfer(account, paid);
        emit Claimed(account, paid);
    }

    /// @dev The StandardMerkleTree leaf `keccak256(bytes.concat(keccak256(abi.encode(account, amount))))`,
    /// hashed in scratch space (OpenZeppelin's Hashes.efficientKeccak256 for the inner pair) instead of
    /// allocating two memory buffers: same value, fewer gas on every claim.
    function _leaf(address account, uint256 amount) private pure returns (bytes32 leaf) {
        bytes32 inner = Hashes.efficientKeccak256(bytes32(uint256(uint160(account))), bytes32(amount));
        assembly ("memory-safe") {
            mstore(0x00, inner)
            leaf := keccak256(0x00, 0x20)
        }
    }

    // ------------------------------------------------------------------ views

    /// @notice The EIP-712 digest validators sign for `p` (bound to this chain and contract).
    function hashEpoch(EpochPayload calldata p) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    FINALIZE_EPOCH_TYPEHASH,
                    p.epoch,
                    p.rewardsRoot,
                    p.totalEarned,
                    keccak256(abi.encodePacked(p.chargeClients)),
                    keccak256(abi.encodePacked(p.chargeAmounts)),
                    keccak256(abi.encodePacked(p.slashProviders)),
                    keccak256(abi.encodePacked(p.slashAmounts)),
                    p.emission,
                    p.evidenceHash
                )
            )
        );
    }

    /// @notice When `epoch` ends (unix seconds); it can be finalized from then on.
    function epochEnd(uint256 epoch) public view returns (uint256) {
        return genesisTime + epoch * epochDuration;
    }

    /// @notice The epoch in progress at `timestamp` (epoch 1 starts at `genesisTime`).
    function epochAt(uint256 timestamp) external view returns (uint256) {
        return timestamp < genesisTime ? 0 : (timestamp - genesisTime) / epochDuration + 1;
    }

    /// @notice What `account` could still claim with a proof of `cumulativeAmount`.
    function claimable(address account, uint256 cumulativeAmount) external view returns (uint256) {
        uint256 already = claimed[account];
        return cumulativeAmount > already ? cumulativeAmount - already : 0;
    }

    /// @notice The current validator set.
    function validators() external view returns (address[] memory) {
        return _validators.values();
    }

    /// @notice True when `account` is a current validator.
    function isValidator(address account) external view returns (bool) {
        return _validators.contains(account);
    }

    /// @notice Number of current validators.
    function validatorCount() external view returns (uint256) {
        return _validators.length();
    }

    // ------------------------------------------------------------------ internals

    function _checkSignatures(bytes32 digest, bytes[] calldata signatures) private view {
        if (signatures.length < threshold) revert InsufficientSignatures(signatures.length, threshold);
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length; ++i) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
            if (signer == previous) revert DuplicateSigner(signer);
            if (signer < previous) revert SignersNotAscending(previous, signer);
            if (!_validators.contains(signer)) revert NotAValidator(signer);
            previous = signer;
        }
    }

    function _addValidator(address validator) private {
        if (validator == address(0)) revert ZeroValidator();
        if (!_validators.add(validator)) revert ValidatorAlreadyAdded(validator);
        emit ValidatorAdded(validator);
    }

    function _setThreshold(uint256 threshold_) private {
        uint256 count = _validators.length();
        if (threshold_ == 0 || threshold_ > count) revert InvalidThreshold(threshold_, count);
        emit ThresholdChanged(threshold, threshold_);
        threshold = threshold_;
    }
}
