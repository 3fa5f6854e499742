// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SettlementBound} from "./SettlementBound.sol";

/// @title ProviderRegistry
/// @notice Providers register here with a PLX stake and their metadata. Stake is bonded until the
/// provider requests unbonding; unbonding tokens can be withdrawn after `unbondingPeriod` and stay
/// slashable until then. A provider with tokens unbonding takes no new work (`isActive` is false).
contract ProviderRegistry is SettlementBound, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Longest accepted metadata URI, in bytes.
    uint256 public constant MAX_URI_LENGTH = 256;

    struct Provider {
        /// Bonded stake.
        uint256 stake;
        /// Stake waiting out the unbonding period; still slashable.
        uint256 unbonding;
        /// When `unbonding` can be withdrawn (unix seconds); zero when nothing is unbonding.
        uint64 unbondingReadyAt;
        /// When the provider registered (unix seconds); zero when not registered.
        uint64 registeredAt;
        /// Digest of the provider's capability manifest (hardware, runtimes), signed off chain.
        bytes32 capabilitiesDigest;
        /// Region code, ASCII left-aligned and zero-padded (for example "eu-west").
        bytes32 region;
        /// Where the provider's public metadata can be fetched.
        string uri;
    }

    /// @notice The staking token (PLX).
    IERC20 public immutable token;
    /// @notice Least bonded stake to register and to count as active.
    uint256 public immutable minStake;
    /// @notice Seconds between requesting unbonding and being able to withdraw.
    uint256 public immutable unbondingPeriod;

    mapping(address provider => Provider) private _providers;
    /// @notice Number of registered providers.
    uint256 public providerCount;

    /// @notice `provider` registered with `stake` and metadata.
    event ProviderRegistered(
        address indexed provider, uint256 stake, bytes32 capabilitiesDigest, bytes32 region, string uri
    );
    /// @notice `provider` changed its metadata.
    event ProviderMetadataUpdated(address indexed provider, bytes32 capabilitiesDigest, bytes32 region, string uri);
    /// @notice `provider` added `amount`; its bonded stake is now `stake`.
    event StakeAdded(address indexed provider, uint256 amount, uint256 stake);
    /// @notice `provider` started unbonding `amount`; all its unbonding tokens are withdrawable at `readyAt`.
    event UnbondingRequested(address indexed provider, uint256 amount, uint256 unbonding, uint64 readyAt);
    /// @notice `provider` moved `amount` from unbonding back to bonded stake.
    event UnbondingCancelled(address indexed provider, uint256 amount, uint256 stake);
    /// @notice `provider` withdrew `amount` unbonded tokens.
    event StakeWithdrawn(address indexed provider, uint256 amount);
    /// @notice `provider` has no tokens left in the registry and is no longer registered.
    event ProviderDeregistered(address indexed provider);
    /// @notice `provider` lost `amount` (requested `requested`) to a slash; the tokens went to the settlement contract.
    event ProviderSlashed(address indexed provider, uint256 requested, uint256 amount, uint256 stake, uint256 unbonding);

    /// @notice A constructor argument is invalid.
    error RegistryInvalidConfig();
    /// @notice `provider` is already registered.
    error ProviderAlreadyRegistered(address provider);
    /// @notice `provider` is not registered.
    error ProviderNotRegistered(address provider);
    /// @notice `stake` is below the minimum `minStake`.
    error StakeBelowMinimum(uint256 stake, uint256 minStake);
    /// @notice The amount must be greater than zero.
    error ZeroAmount();
    /// @notice The URI is empty or longer than `maxLength` bytes.
    error InvalidUri(uint256 length, uint256 maxLength);
    /// @notice The region code is zero.
    error InvalidRegion();
    /// @notice Unbonding `requested` exceeds the bonded stake `stake`.
    error InsufficientStake(uint256 stake, uint256 requested);
    /// @notice `provider` has nothing unbonding.
    error NothingUnbonding(address provider);
    /// @notice The unbonding tokens can only be withdrawn at `readyAt` (now `nowTs`).
    error UnbondingNotReady(uint64 readyAt, uint256 nowTs);
    /// @notice The two batch arrays differ in length.
    error LengthMismatch(uint256 a, uint256 b);

    /// @param token_ the PLX token.
    /// @param minStake_ least stake to register and stay active (must be > 0).
    /// @param unbondingPeriod_ seconds an unbonding request waits before withdrawal (must be > 0).
    /// @param initialOwner binds the settlement contract once.
    constructor(IERC20 token_, uint256 minStake_, uint256 unbondingPeriod_, address initialOwner)
        SettlementBound(initialOwner)
    {
        if (address(token_) == address(0) || minStake_ == 0 || unbondingPeriod_ == 0) {
            revert RegistryInvalidConfig();
        }
        token = token_;
        minStake = minStake_;
        unbondingPeriod = unbondingPeriod_;
    }

    // ------------------------------------------------------------------ provider actions

    /// @notice Registers the caller with `stake` PLX (pulled with transferFrom) and its metadata.
    function register(uint256 stake, bytes32 capabilitiesDigest, bytes32 region, string calldata uri)
        external
        nonReentrant
    {
        Provider storage p = _providers[msg.sender];
        if (p.registeredAt != 0) revert ProviderAlreadyRegistered(msg.sender);
        if (stake < minStake) revert StakeBelowMinimum(stake, minStake);
        _checkMetadata(region, uri);
        p.stake = stake;
        p.registeredAt = SafeCast.toUint64(block.timestamp);
        p.capabilitiesDigest = capabilitiesDigest;
        p.region = region;
        p.uri = uri;
        providerCount += 1;
        token.safeTransferFrom(msg.sender, address(this), stake);
        emit ProviderRegistered(msg.sender, stake, capabilitiesDigest, region, uri);
    }

    /// @notice Replaces the caller's metadata.
    function updateMetadata(bytes32 capabilitiesDigest, bytes32 region, string calldata uri) external {
        Provider storage p = _registered(msg.sender);
        _checkMetadata(region, uri);
        p.capabilitiesDigest = capabilitiesDigest;
        p.region = region;
        p.uri = uri;
        emit ProviderMetadataUpdated(msg.sender, capabilitiesDigest, region, uri);
    }

    /// @notice Adds `amount` PLX (pulled with transferFrom) to the caller's bonded stake.
    function addStake(uint256 amount) external nonReentrant {
        Provider storage p = _registered(msg.sender);
        if (amount == 0) revert ZeroAmount();
        p.stake += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit StakeAdded(msg.sender, amount, p.stake);
    }

    /// @notice Starts unbonding `amount` of the caller's bonded stake. The provider takes no new work
    /// until the unbonding tokens are withdrawn or the request is cancelled. A further request adds to
    /// the unbonding amount and restarts the period for all of it.
    function requestUnbonding(uint256 amount) external {
        Provider storage p = _registered(msg.sender);
        if (amount == 0) revert ZeroAmount();
        if (amount > p.stake) revert InsufficientStake(p.stake, amount);
        p.stake -= amount;
        p.unbonding += amount;
        uint64 readyAt = SafeCast.toUint64(block.timestamp + unbondingPeriod);
        p.unbondingReadyAt = readyAt;
        emit UnbondingRequested(msg.sender, amount, p.unbonding, readyAt);
    }

    /// @notice Moves everything the caller has unbonding back to bonded stake.
    function cancelUnbonding() external {
        Provider storage p = _registered(msg.sender);
        uint256 amount = p.unbonding;
        if (amount == 0) revert NothingUnbonding(msg.sender);
        p.unbonding = 0;
        p.unbondingReadyAt = 0;
        p.stake += amount;
        emit UnbondingCancelled(msg.sender, amount, p.stake);
    }

    /// @notice Withdraws the caller's unbonding tokens once the unbonding period is over. When nothing
    /// is left in the registry, the provider is deregistered.
    function withdrawUnbonded() external nonReentrant {
        Provider storage p = _registered(msg.sender);
        uint256 amount = p.unbonding;
        if (amount == 0) revert NothingUnbonding(msg.sender);
        if (block.timestamp < p.unbondingReadyAt) revert UnbondingNotReady(p.unbondingReadyAt, block.timestamp);
        p.unbonding = 0;
        p.unbondingReadyAt = 0;
        bool empty = p.stake == 0;
        if (empty) {
            delete _providers[msg.sender];
            providerCount -= 1;
        }
        token.safeTransfer(msg.sender, amount);
        emit StakeWithdrawn(msg.sender, amount);
        if (empty) emit ProviderDeregistered(msg.sender);
    }

    // ------------------------------------------------------------------ settlement

    /// @notice Slashes each `providers[i]` by up to `amounts[i]`, bonded stake first, then unbonding
    /// tokens; the slashed tokens go to the settlement contract. A slash larger than what the provider
    /// holds takes everything (so a finalized epoch never fails on a provider that withdrew early).
    /// Unregistered providers are skipped with a zero-amount event.
    /// @return total the amount actually slashed and transferred.
    function slashBatch(address[] calldata providers, uint256[] calldata amounts)
        external
        onlySettlement
        nonReentrant
        returns (uint256 total)
    {
        if (providers.length != amounts.length) revert LengthMismatch(providers.length, amounts.length);
        for (uint256 i = 0; i < providers.length; ++i) {
            address who = providers[i];
            Provider storage p = _providers[who];
            uint256 requested = amounts[i];
            uint256 fromStake = requested < p.stake ? requested : p.stake;
            uint256 rest = requested - fromStake;
            uint256 fromUnbonding = rest < p.unbonding ? rest : p.unbonding;
            p.stake -= fromStake;
            p.unbonding -= fromUnbonding;
            if (p.unbonding == 0) p.unbondingReadyAt = 0;
            total += fromStake + fromUnbonding;
            emit ProviderSlashed(who, requested, fromStake + fromUnbonding, p.stake, p.unbonding);
        }
        if (total > 0) token.safeTransfer(msg.sender, total);
    }

    // ------------------------------------------------------------------ views

    /// @notice The full record of `provider` (all zero when not registered).
    function getProvider(address provider) external view returns (Provider memory) {
        return _providers[provider];
    }

    /// @notice True when `provider` is registered.
    function isRegistered(address provider) external view returns (bool) {
        return _providers[provider].registeredAt != 0;
    }

    /// @notice True when `provider` may take new work: registered, bonded stake at least `minStake`,
    /// and nothing unbonding.
    function isActive(address provider) external view returns (bool) {
        Provider storage p = _providers[provider];
        return p.registeredAt != 0 && p.unbonding == 0 && p.stake >= minStake;
    }

    // ------------------------------------------------------------------ internals

    function _registered(address provider) private view returns (Provider storage p) {
        p = _providers[provider];
        if (p.registeredAt == 0) revert ProviderNotRegistered(provider);
    }

    function _checkMetadata(bytes32 region, string calldata uri) private pure {
        if (region == bytes32(0)) revert InvalidRegion();
        uint256 len = bytes(uri).length;
        if (len == 0 || len > MAX_URI_LENGTH) revert InvalidUri(len, MAX_URI_LENGTH);
    }
}
