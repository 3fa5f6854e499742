// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title PlexusToken (PLX)
/// @notice The Plexus network token: ERC-20 with EIP-2612 permit and a hard cap.
/// The genesis supply goes to a treasury at deployment. After that, only the minter (the
/// EpochSettlement contract, bound once by the deployer) can mint, at most
/// `MAX_EMISSION_PER_EPOCH` per epoch, and never past `CAP`.
contract PlexusToken is ERC20, ERC20Permit, ERC20Capped, Ownable {
    /// @notice Hard cap on the total supply: 1,000,000,000 PLX.
    uint256 public constant CAP = 1_000_000_000e18;
    /// @notice Supply minted to the treasury at deployment: 400,000,000 PLX.
    uint256 public constant GENESIS_SUPPLY = 400_000_000e18;
    /// @notice Most that may be minted for any one epoch: 50,000 PLX.
    uint256 public constant MAX_EMISSION_PER_EPOCH = 50_000e18;

    /// @notice The only account allowed to mint after genesis; zero until bound.
    address public minter;
    /// @notice Amount minted so far for each epoch.
    mapping(uint256 epoch => uint256 amount) public emittedInEpoch;

    /// @notice The minter was bound; ownership is renounced in the same call.
    event MinterSet(address indexed minter);
    /// @notice `amount` PLX were minted to `to` as the emission of `epoch`.
    event EmissionMinted(uint256 indexed epoch, address indexed to, uint256 amount);

    /// @notice The treasury address is zero.
    error PlexusTokenZeroTreasury();
    /// @notice The minter address is zero.
    error PlexusTokenZeroMinter();
    /// @notice `caller` is not the minter.
    error PlexusTokenUnauthorizedMinter(address caller);
    /// @notice Minting `requested` for `epoch` would exceed the per-epoch limit (`alreadyEmitted` so far).
    error PlexusTokenEpochEmissionExceeded(uint256 epoch, uint256 alreadyEmitted, uint256 requested, uint256 limit);

    /// @param treasury receives the genesis supply.
    /// @param initialOwner may bind the minter once; ownership is renounced when it does.
    constructor(address treasury, address initialOwner)
        ERC20("Plexus", "PLX")
        ERC20Permit("Plexus")
        ERC20Capped(CAP)
        Ownable(initialOwner)
    {
        if (treasury == address(0)) revert PlexusTokenZeroTreasury();
        _mint(treasury, GENESIS_SUPPLY);
    }

    /// @notice Binds the settlement contract as the only minter and renounces ownership, so that
    /// nobody can ever change the minter again (a second call fails with OwnableUnauthorizedAccount).
    function setMinter(address minter_) external onlyOwner {
        if (minter_ == address(0)) revert PlexusTokenZeroMinter();
        minter = minter_;
        emit MinterSet(minter_);
        _transferOwnership(address(0));
    }

    /// @notice Mints `amount` to `to` as (part of) the emission of `epoch`.
    /// @dev Reverts past the per-epoch limit and (through ERC20Capped) past the cap.
    function mintEmission(uint256 epoch, address to, uint256 amount) external {
        if (msg.sender != minter) revert PlexusTokenUnauthorizedMinter(msg.sender);
        uint256 already = emittedInEpoch[epoch];
        if (already + amount > MAX_EMISSION_PER_EPOCH) {
            revert PlexusTokenEpochEmissionExceeded(epoch, already, amount, MAX_EMISSION_PER_EPOCH);
        }
        emittedInEpoch[epoch] = already + amount;
        _mint(to, amount);
        emit EmissionMinted(epoch, to, amount);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Capped) {
        super._update(from, to, value);
    }
}
