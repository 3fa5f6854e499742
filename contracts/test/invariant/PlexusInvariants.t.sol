// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PlexusFixture} from "../utils/PlexusFixture.sol";
import {PlexusHandler} from "./PlexusHandler.sol";

/// What must hold after any sequence of actions by clients, providers, validators and claimants.
contract PlexusInvariantsTest is PlexusFixture {
    PlexusHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new PlexusHandler(token, registry, escrow, settlement, treasury, validatorKeys);
        targetContract(address(handler));
    }

    /// PLX total supply equals the sum of all balances and never exceeds the cap.
    function invariant_SupplyIsSumOfBalancesAndCapped() public view {
        uint256 sum = token.balanceOf(treasury) + token.balanceOf(address(registry))
            + token.balanceOf(address(escrow)) + token.balanceOf(address(settlement)) + token.balanceOf(address(handler));
        for (uint256 i = 0; i < handler.clientCount(); ++i) {
            sum += token.balanceOf(handler.clients(i));
        }
        for (uint256 i = 0; i < handler.providerCount(); ++i) {
            sum += token.balanceOf(handler.providers(i));
        }
        for (uint256 i = 0; i < handler.earnerCount(); ++i) {
            sum += token.balanceOf(handler.earners(i));
        }
        assertEq(token.totalSupply(), sum);
        assertLe(token.totalSupply(), token.CAP());
    }

    /// The escrow's token balance equals the sum of client balances.
    function invariant_EscrowHoldsExactlyClientBalances() public view {
        uint256 sum;
        for (uint256 i = 0; i < handler.clientCount(); ++i) {
            sum += escrow.balanceOf(handler.clients(i));
        }
        assertEq(escrow.totalBalance(), sum);
        assertEq(token.balanceOf(address(escrow)), sum);
    }

    /// Nobody ever claims more than their cumulative amount in the latest root.
    function invariant_NoOneClaimsMoreThanCumulative() public view {
        uint256 claimedSum;
        for (uint256 i = 0; i < handler.earnerCount(); ++i) {
            address a = handler.earners(i);
            assertLe(settlement.claimed(a), handler.cumulative(a));
            assertEq(token.balanceOf(a), settlement.claimed(a), "earners receive exactly what they claimed");
            claimedSum += settlement.claimed(a);
        }
        assertEq(settlement.totalClaimed(), claimedSum);
    }

    /// The settlement contract always holds at least what remains claimable.
    function invariant_SettlementBacksWhatRemainsClaimable() public view {
        uint256 remaining;
        for (uint256 i = 0; i < handler.earnerCount(); ++i) {
            address a = handler.earners(i);
            remaining += handler.cumulative(a) - settlement.claimed(a);
        }
        assertEq(settlement.totalEarned() - settlement.totalClaimed(), remaining);
        assertGe(token.balanceOf(address(settlement)), remaining);
    }

    /// Finalization never succeeds with too few, duplicate or outside signers, a wrong or repeated
    /// epoch, or a signature made for another chain, contract or payload.
    function invariant_BadFinalizationsAlwaysFail() public view {
        assertFalse(handler.badFinalizationSucceeded());
    }

    /// Shows in the log that the runs really exercised settlement (not a test that cannot fail).
    function afterInvariant() public view {
        assertEq(settlement.lastFinalizedEpoch(), handler.goodFinalizations());
    }
}
