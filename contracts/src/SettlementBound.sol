// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title SettlementBound
/// @notice Base for contracts whose privileged entry points belong to the EpochSettlement contract.
/// The deployer binds the settlement address exactly once; ownership is renounced in the same call,
/// so no admin key remains afterwards.
abstract contract SettlementBound is Ownable {
    /// @notice The EpochSettlement contract; zero until bound.
    address public settlement;

    /// @notice The settlement contract was bound; ownership is renounced in the same call.
    event SettlementSet(address indexed settlement);

    /// @notice The settlement address is zero.
    error SettlementZeroAddress();
    /// @notice `caller` is not the settlement contract.
    error SettlementUnauthorized(address caller);

    constructor(address initialOwner) Ownable(initialOwner) {}

    modifier onlySettlement() {
        if (msg.sender != settlement) revert SettlementUnauthorized(msg.sender);
        _;
    }

    /// @notice Binds the settlement contract and renounces ownership (a second call fails with
    /// OwnableUnauthorizedAccount).
    function setSettlement(address settlement_) external onlyOwner {
        if (settlement_ == address(0)) revert SettlementZeroAddress();
        settlement = settlement_;
        emit SettlementSet(settlement_);
        _transferOwnership(address(0));
    }
}
