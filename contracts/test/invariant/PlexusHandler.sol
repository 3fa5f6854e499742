// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {ClientEscrow} from "../../src/ClientEscrow.sol";
import {EpochSettlement} from "../../src/EpochSettlement.sol";
import {PlexusToken} from "../../src/PlexusToken.sol";
import {ProviderRegistry} from "../../src/ProviderRegistry.sol";
import {MerkleBuilder} from "../utils/MerkleBuilder.sol";

/// Drives random sequences of client, provider, validator and claimant actions, and keeps the ghost
/// state the invariants compare against. Every finalization it attempts with a defect (too few
/// signers, a duplicate or outside signer, a wrong or repeated epoch, a signature for another chain
/// or contract) is recorded if it ever succeeds.
contract PlexusHandler is CommonBase, StdCheats, StdUtils {
    PlexusToken public immutable token;
    ProviderRegistry public immutable registry;
    ClientEscrow public immutable escrow;
    EpochSettlement public immutable settlement;
    address public immutable treasury;
    uint256[] internal _validatorKeys;

    address[] public clients;
    address[] public providers;
    /// Accounts in the rewards tree (fixed order: leaf i belongs to earners[i]).
    address[] public earners;
    /// Ghost: cumulative amount of each earner in the latest finalized root.
    mapping(address => uint256) public cumulative;
    bytes32[] internal _leaves;

    bool public badFinalizationSucceeded;
    uint256 public badFinalizationAttempts;
    uint256 public goodFinalizations;
    uint256 public claims;

    constructor(
        PlexusToken token_,
        ProviderRegistry registry_,
        ClientEscrow escrow_,
        EpochSettlement settlement_,
        address treasury_,
        uint256[] memory validatorKeys_
    ) {
        token = token_;
        registry = registry_;
        escrow = escrow_;
        settlement = settlement_;
        treasury = treasury_;
        _validatorKeys = validatorKeys_;
        for (uint256 i = 0; i < 3; ++i) {
            address c = makeAddr(string.concat("client", vm.toString(i)));
            clients.push(c);
            vm.prank(treasury);
            token.transfer(c, 1_000_000e18);
            vm.prank(c);
            token.approve(address(escrow), type(uint256).max);
        }
        for (uint256 i = 0; i < 3; ++i) {
            address p = makeAddr(string.concat("provider", vm.toString(i)));
            providers.push(p);
            vm.prank(treasury);
            token.transfer(p, 100_000e18);
            vm.prank(p);
            token.approve(address(registry), type(uint256).max);
        }
        for (uint256 i = 0; i < 5; ++i) {
            earners.push(makeAddr(string.concat("earner", vm.toString(i))));
        }
    }

    // ------------------------------------------------------------------ clients

    function deposit(uint256 who, uint256 amount) external {
        address c = clients[who % clients.length];
        amount = bound(amount, 1, token.balanceOf(c) == 0 ? 1 : token.balanceOf(c));
        if (token.balanceOf(c) == 0) return;
        vm.prank(c);
        escrow.deposit(amount);
    }

    function requestWithdrawal(uint256 who, uint256 amount) external {
        address c = clients[who % clients.length];
        uint256 bal = escrow.balanceOf(c);
        if (bal == 0) return;
        vm.prank(c);
        escrow.requestWithdrawal(bound(amount, 1, bal));
    }

    function executeWithdrawal(uint256 who) external {
        address c = clients[who % clients.length];
        ClientEscrow.Withdrawal memory w = escrow.pendingWithdrawal(c);
        if (w.amount == 0) return;
        if (block.timestamp < w.readyAt) vm.warp(w.readyAt);
        vm.prank(c);
        escrow.executeWithdrawal();
    }

    // ------------------------------------------------------------------ providers

    function register(uint256 who, uint256 stake) external {
        address p = providers[who % providers.length];
        if (registry.isRegistered(p)) return;
        uint256 bal = token.balanceOf(p);
        uint256 minStake = registry.minStake();
        if (bal < minStake) return;
        stake = bound(stake, minStake, bal);
        vm.prank(p); // applies to the next external call only: compute every argument first
        registry.register(stake, keccak256(abi.encode(p)), bytes32("eu"), "u");
    }

    function unbond(uint256 who, uint256 amount) external {
        address p = providers[who % providers.length];
        uint256 stake = registry.getProvider(p).stake;
        if (stake == 0) return;
        vm.prank(p);
        registry.requestUnbonding(bound(amount, 1, stake));
    }

    function withdrawUnbonded(uint256 who) external {
        address p = providers[who % providers.length];
        ProviderRegistry.Provider memory rec = registry.getProvider(p);
        if (rec.unbonding == 0) return;
        if (block.timestamp < rec.unbondingReadyAt) vm.warp(rec.unbondingReadyAt);
        vm.prank(p);
        registry.withdrawUnbonded();
    }

    // ------------------------------------------------------------------ validators

    /// A correct finalization: charges one client, maybe slashes a provider and mints emission, and
    /// raises earners' cumulative amounts by no more than what came in.
    function finalize(uint256 clientSeed, uint256 charge, uint256 emission, uint256 slash, uint256 split) external {
        EpochSettlement.EpochPayload memory p = _empty(settlement.lastFinalizedEpoch() + 1);
        address c = clients[clientSeed % clients.length];
        charge = bound(charge, 0, escrow.balanceOf(c));
        emission = bound(emission, 0, token.MAX_EMISSION_PER_EPOCH());
        if (charge > 0) {
            p.chargeClients = new address[](1);
            p.chargeAmounts = new uint256[](1);
            p.chargeClients[0] = c;
            p.chargeAmounts[0] = charge;
        }
        address victim = providers[slash % providers.length];
        if (slash % 3 == 0 && registry.isRegistered(victim)) {
            p.slashProviders = new address[](1);
            p.slashAmounts = new uint256[](1);
            p.slashProviders[0] = victim;
            p.slashAmounts[0] = bound(slash, 1, 2 * registry.minStake());
        }
        p.emission = emission;
        // spread the income over the earners, unevenly
        uint256 income = charge + emission;
        for (uint256 i = 0; i < earners.length; ++i) {
            uint256 share = i + 1 == earners.length ? income : bound(uint256(keccak256(abi.encode(split, i))), 0, income);
            cumulative[earners[i]] += share;
            income -= share;
        }
        _rebuildTree(p);
        vm.warp(_max(block.timestamp, settlement.epochEnd(p.epoch)));
        settlement.finalizeEpoch(p, _sign(settlement.hashEpoch(p), _keys(3)));
        goodFinalizations += 1;
    }

    /// A finalization with one defect; it must always revert.
    function finalizeBadly(uint256 kind, uint256 seed) external {
        EpochSettlement.EpochPayload memory p = _empty(settlement.lastFinalizedEpoch() + 1);
        p.rewardsRoot = settlement.rewardsRoot();
        p.totalEarned = settlement.totalEarned();
        vm.warp(_max(block.timestamp, settlement.epochEnd(p.epoch)));
        bytes[] memory sigs;
        kind = kind % 7;
        if (kind == 0) {
            // fewer signers than the threshold
            sigs = _sign(settlement.hashEpoch(p), _keys(bound(seed, 0, settlement.threshold() - 1)));
        } else if (kind == 1) {
            // a duplicate signer
            sigs = _sign(settlement.hashEpoch(p), _keys(3));
            sigs[2] = sigs[seed % 2];
        } else if (kind == 2) {
            // a non-validator signer
            uint256[] memory keys = _keys(3);
            keys[seed % 3] = bound(seed, 2 ** 201, 2 ** 202);
            sigs = _sign(settlement.hashEpoch(p), keys);
        } else if (kind == 3) {
            // a wrong epoch: repeated (when one exists) or skipped ahead
            p.epoch = p.epoch > 1 && seed % 2 == 0 ? p.epoch - 1 : p.epoch + 1 + (seed % 5);
            vm.warp(_max(block.timestamp, settlement.epochEnd(p.epoch)));
            sigs = _sign(settlement.hashEpoch(p), _keys(3));
        } else if (kind == 4) {
            // signed for another chain
            sigs = _sign(_digest(p, block.chainid + 1 + (seed % 1000), address(settlement)), _keys(3));
        } else if (kind == 5) {
            // signed for another contract
            sigs = _sign(_digest(p, block.chainid, address(uint160(seed) | 1)), _keys(3));
        } else {
            // signed over a different payload
            EpochSettlement.EpochPayload memory q = _empty(p.epoch);
            q.rewardsRoot = bytes32(seed | 1);
            sigs = _sign(settlement.hashEpoch(q), _keys(3));
        }
        badFinalizationAttempts += 1;
        try settlement.finalizeEpoch(p, sigs) {
            badFinalizationSucceeded = true;
        } catch {}
    }

    // ------------------------------------------------------------------ claimants

    function claim(uint256 who) external {
        if (_leaves.length == 0) return;
        uint256 i = who % earners.length;
        address a = earners[i];
        if (settlement.claimed(a) >= cumulative[a]) return;
        settlement.claim(a, cumulative[a], MerkleBuilder.proof(_leaves, i));
        claims += 1;
    }

    // ------------------------------------------------------------------ helpers

    function earnerCount() external view returns (uint256) {
        return earners.length;
    }

    function clientCount() external view returns (uint256) {
        return clients.length;
    }

    function providerCount() external view returns (uint256) {
        return providers.length;
    }

    function _rebuildTree(EpochSettlement.EpochPayload memory p) private {
        delete _leaves;
        uint256 total;
        for (uint256 i = 0; i < earners.length; ++i) {
            _leaves.push(MerkleBuilder.leaf(earners[i], cumulative[earners[i]]));
            total += cumulative[earners[i]];
        }
        p.rewardsRoot = MerkleBuilder.root(_leaves);
        p.totalEarned = total;
    }

    function _empty(uint256 epoch) private pure returns (EpochSettlement.EpochPayload memory p) {
        p.epoch = epoch;
        p.chargeClients = new address[](0);
        p.chargeAmounts = new uint256[](0);
        p.slashProviders = new address[](0);
        p.slashAmounts = new uint256[](0);
    }

    /// The EIP-712 digest computed independently of the contract, for any chain id and address.
    function _digest(EpochSettlement.EpochPayload memory p, uint256 chainId, address verifyingContract)
        private
        view
        returns (bytes32)
    {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Plexus EpochSettlement"),
                keccak256("1"),
                chainId,
                verifyingContract
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                settlement.FINALIZE_EPOCH_TYPEHASH(),
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
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function _keys(uint256 n) private view returns (uint256[] memory keys) {
        keys = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            keys[i] = _validatorKeys[i];
        }
    }

    function _sign(bytes32 digest, uint256[] memory keys) private pure returns (bytes[] memory sigs) {
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
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[i], digest);
            sigs[i] = abi.encodePacked(r, s, v);
        }
    }

    function _max(uint256 a, uint256 b) private pure returns (uint256) {
        return a > b ? a : b;
    }
}
