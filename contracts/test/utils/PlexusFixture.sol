// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {ClientEscrow} from "../../src/ClientEscrow.sol";
import {EpochSettlement} from "../../src/EpochSettlement.sol";
import {PlexusToken} from "../../src/PlexusToken.sol";
import {ProviderRegistry} from "../../src/ProviderRegistry.sol";
import {MerkleBuilder} from "./MerkleBuilder.sol";

/// Deploys and wires the four contracts the way `deployPlexus` does, with five validators
/// (threshold 3), and offers helpers to sign and finalize epochs.
abstract contract PlexusFixture is Test {
    uint256 internal constant MIN_STAKE = 1_000e18;
    uint256 internal constant UNBONDING = 7 days;
    uint256 internal constant EPOCH = 1 hours;
    uint256 internal constant WITHDRAWAL_DELAY = 2 hours;

    address internal treasury = makeAddr("treasury");
    address internal admin = makeAddr("admin");

    PlexusToken internal token;
    ProviderRegistry internal registry;
    ClientEscrow internal escrow;
    EpochSettlement internal settlement;

    uint256[] internal validatorKeys;
    address[] internal validatorAddrs;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        vm.startPrank(admin);
        token = new PlexusToken(treasury, admin);
        registry = new ProviderRegistry(token, MIN_STAKE, UNBONDING, admin);
        escrow = new ClientEscrow(token, WITHDRAWAL_DELAY, admin);
        for (uint256 i = 1; i <= 5; ++i) {
            uint256 key = uint256(keccak256(abi.encode("validator", i)));
            validatorKeys.push(key);
            validatorAddrs.push(vm.addr(key));
        }
        settlement = new EpochSettlement(token, registry, escrow, EPOCH, validatorAddrs, 3, admin);
        token.setMinter(address(settlement));
        registry.setSettlement(address(settlement));
        escrow.setSettlement(address(settlement));
        vm.stopPrank();
    }

    /// Gives `to` tokens from the treasury.
    function _fund(address to, uint256 amount) internal {
        vm.prank(treasury);
        token.transfer(to, amount);
    }

    function _emptyPayload(uint256 epoch) internal pure returns (EpochSettlement.EpochPayload memory p) {
        p.epoch = epoch;
        p.chargeClients = new address[](0);
        p.chargeAmounts = new uint256[](0);
        p.slashProviders = new address[](0);
        p.slashAmounts = new uint256[](0);
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// Signatures by the validators at `idx` (indexes into validatorKeys), sorted by signer address.
    function _signSorted(bytes32 digest, uint256[] memory keys) internal pure returns (bytes[] memory sigs) {
        // insertion sort by address: at most a handful of keys
        for (uint256 i = 1; i < keys.length; ++i) {
            uint256 k = keys[i];
            uint256 j = i;
            while (j > 0 && vm.addr(keys[j - 1]) > vm.addr(k)) {
                keys[j] = keys[j - 1];
                --j;
            }
            keys[j] = k;
        }
        sigs = new bytes[](keys.length);
        for (uint256 i = 0; i < keys.length; ++i) {
            sigs[i] = _sign(keys[i], digest);
        }
    }

    function _firstKeys(uint256 n) internal view returns (uint256[] memory keys) {
        keys = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            keys[i] = validatorKeys[i];
        }
    }

    function _quorum(EpochSettlement.EpochPayload memory p) internal view returns (bytes[] memory) {
        return _signSorted(settlement.hashEpoch(p), _firstKeys(3));
    }

    /// Warps to the end of `p.epoch` and finalizes it with three validator signatures.
    function _finalize(EpochSettlement.EpochPayload memory p) internal {
        _warpToEnd(p.epoch);
        settlement.finalizeEpoch(p, _quorum(p));
    }

    function _warpToEnd(uint256 epoch) internal {
        uint256 end = settlement.epochEnd(epoch);
        if (block.timestamp < end) vm.warp(end);
    }

    function _leaf(address account, uint256 amount) internal pure returns (bytes32) {
        return MerkleBuilder.leaf(account, amount);
    }
}
