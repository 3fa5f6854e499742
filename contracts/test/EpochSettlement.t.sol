// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ClientEscrow} from "../src/ClientEscrow.sol";
import {EpochSettlement} from "../src/EpochSettlement.sol";
import {PlexusToken} from "../src/PlexusToken.sol";
import {ProviderRegistry} from "../src/ProviderRegistry.sol";
import {MerkleBuilder} from "./utils/MerkleBuilder.sol";
import {PlexusFixture} from "./utils/PlexusFixture.sol";

contract EpochSettlementTest is PlexusFixture {
    address internal client = makeAddr("client");
    address internal provider = makeAddr("provider");

    event EpochFinalized(
        uint256 indexed epoch,
        bytes32 rewardsRoot,
        uint256 totalEarned,
        uint256 charged,
        uint256 slashed,
        uint256 emission,
        uint256 signers
    );

    function setUp() public override {
        super.setUp();
        _fund(client, 1_000_000e18);
        vm.startPrank(client);
        token.approve(address(escrow), type(uint256).max);
        escrow.deposit(1_000_000e18);
        vm.stopPrank();
    }

    /// Epoch 1 pays `accounts[i]` `amounts[i]` from one client charge equal to their sum.
    function _payloadFor(address[] memory accounts, uint256[] memory amounts)
        internal
        view
        returns (EpochSettlement.EpochPayload memory p, bytes32[] memory leaves)
    {
        p = _emptyPayload(settlement.lastFinalizedEpoch() + 1);
        leaves = new bytes32[](accounts.length);
        uint256 total;
        for (uint256 i = 0; i < accounts.length; ++i) {
            leaves[i] = _leaf(accounts[i], amounts[i]);
            total += amounts[i];
        }
        p.rewardsRoot = MerkleBuilder.root(leaves);
        p.totalEarned = total;
        p.chargeClients = new address[](1);
        p.chargeAmounts = new uint256[](1);
        p.chargeClients[0] = client;
        p.chargeAmounts[0] = total - settlement.totalEarned();
    }

    // ------------------------------------------------------------------ constructor and admin

    function test_RevertWhen_ConfigInvalid() public {
        address[] memory vs = validatorAddrs;
        vm.expectRevert(EpochSettlement.SettlementInvalidConfig.selector);
        new EpochSettlement(PlexusToken(address(0)), registry, escrow, EPOCH, vs, 3, admin);
        vm.expectRevert(EpochSettlement.SettlementInvalidConfig.selector);
        new EpochSettlement(token, ProviderRegistry(address(0)), escrow, EPOCH, vs, 3, admin);
        vm.expectRevert(EpochSettlement.SettlementInvalidConfig.selector);
        new EpochSettlement(token, registry, ClientEscrow(address(0)), EPOCH, vs, 3, admin);
        vm.expectRevert(EpochSettlement.SettlementInvalidConfig.selector);
        new EpochSettlement(token, registry, escrow, 0, vs, 3, admin);
        vm.expectRevert(
            abi.encodeWithSelector(EpochSettlement.WithdrawalDelayTooShort.selector, WITHDRAWAL_DELAY, 3 hours)
        );
        new EpochSettlement(token, registry, escrow, 3 hours, vs, 3, admin);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.InvalidThreshold.selector, 6, 5));
        new EpochSettlement(token, registry, escrow, EPOCH, vs, 6, admin);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.InvalidThreshold.selector, 0, 5));
        new EpochSettlement(token, registry, escrow, EPOCH, vs, 0, admin);
        vs[1] = vs[0];
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.ValidatorAlreadyAdded.selector, vs[0]));
        new EpochSettlement(token, registry, escrow, EPOCH, vs, 3, admin);
        vs[1] = address(0);
        vm.expectRevert(EpochSettlement.ZeroValidator.selector);
        new EpochSettlement(token, registry, escrow, EPOCH, vs, 3, admin);
    }

    function test_ValidatorSetAdmin() public {
        address extra = makeAddr("extra");
        vm.startPrank(admin);
        settlement.addValidator(extra);
        assertTrue(settlement.isValidator(extra));
        assertEq(settlement.validatorCount(), 6);
        settlement.setThreshold(6);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.InvalidThreshold.selector, 6, 5));
        settlement.removeValidator(extra);
        settlement.setThreshold(4);
        settlement.removeValidator(extra);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.NotAValidator.selector, extra));
        settlement.removeValidator(extra);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.ValidatorAlreadyAdded.selector, validatorAddrs[0]));
        settlement.addValidator(validatorAddrs[0]);
        vm.stopPrank();
        assertEq(settlement.threshold(), 4);
        assertEq(settlement.validators().length, 5);
    }

    function test_OwnershipMovesInTwoSteps() public {
        address next = makeAddr("next owner");
        vm.prank(admin);
        settlement.transferOwnership(next);
        assertEq(settlement.owner(), admin, "nothing changes until the new owner accepts");
        vm.prank(makeAddr("someone else"));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, makeAddr("someone else")));
        settlement.acceptOwnership();
        vm.prank(next);
        settlement.acceptOwnership();
        assertEq(settlement.owner(), next);
    }

    function testFuzz_RevertWhen_NonOwnerChangesValidators(address caller) public {
        vm.assume(caller != admin);
        bytes memory err = abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, caller);
        vm.startPrank(caller);
        vm.expectRevert(err);
        settlement.addValidator(caller);
        vm.expectRevert(err);
        settlement.removeValidator(validatorAddrs[0]);
        vm.expectRevert(err);
        settlement.setThreshold(1);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ finalize and claim

    function testFuzz_FinalizeAndClaim(uint256 n, uint256 seed, uint256 who) public {
        n = bound(n, 1, 40);
        address[] memory accounts = new address[](n);
        uint256[] memory amounts = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            accounts[i] = address(uint160(uint256(keccak256(abi.encode(seed, i, "acct")))));
            amounts[i] = bound(uint256(keccak256(abi.encode(seed, i, "amt"))), 1, 1_000e18);
        }
        (EpochSettlement.EpochPayload memory p, bytes32[] memory leaves) = _payloadFor(accounts, amounts);
        p.emission = 7e18;
        p.evidenceHash = keccak256(abi.encode(seed, "evidence"));
        _warpToEnd(1);
        vm.expectEmit(address(settlement));
        emit EpochFinalized(1, p.rewardsRoot, p.totalEarned, p.chargeAmounts[0], 0, 7e18, 3);
        settlement.finalizeEpoch(p, _quorum(p));
        assertEq(settlement.lastFinalizedEpoch(), 1);
        assertEq(settlement.rewardsRoot(), p.rewardsRoot);
        assertEq(settlement.evidenceHashOf(1), p.evidenceHash);

        who = bound(who, 0, n - 1);
        bytes32[] memory proof = MerkleBuilder.proof(leaves, who);
        vm.prank(makeAddr("relayer")); // anyone may submit; the tokens still go to the account
        assertEq(settlement.claim(accounts[who], amounts[who], proof), amounts[who]);
        assertEq(token.balanceOf(accounts[who]), amounts[who]);
        vm.expectRevert(
            abi.encodeWithSelector(EpochSettlement.NothingToClaim.selector, accounts[who], amounts[who], amounts[who])
        );
        settlement.claim(accounts[who], amounts[who], proof);
    }

    function testFuzz_RevertWhen_ProofTampered(uint256 n, uint256 seed, uint256 who, uint256 flip) public {
        n = bound(n, 2, 30);
        address[] memory accounts = new address[](n);
        uint256[] memory amounts = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            accounts[i] = address(uint160(uint256(keccak256(abi.encode(seed, i)))));
            amounts[i] = 1e18 + i;
        }
        (EpochSettlement.EpochPayload memory p, bytes32[] memory leaves) = _payloadFor(accounts, amounts);
        _finalize(p);
        who = bound(who, 0, n - 1);
        bytes32[] memory proof = MerkleBuilder.proof(leaves, who);
        // flip one bit in one proof element
        uint256 pos = bound(flip, 0, proof.length * 256 - 1);
        proof[pos / 256] ^= bytes32(uint256(1) << (pos % 256));
        vm.expectRevert(
            abi.encodeWithSelector(EpochSettlement.InvalidProof.selector, accounts[who], amounts[who])
        );
        settlement.claim(accounts[who], amounts[who], proof);
    }

    function testFuzz_RevertWhen_ClaimedAmountInflated(uint256 extra) public {
        extra = bound(extra, 1, type(uint128).max);
        address[] memory accounts = new address[](2);
        uint256[] memory amounts = new uint256[](2);
        (accounts[0], accounts[1], amounts[0], amounts[1]) = (provider, client, 5e18, 6e18);
        (EpochSettlement.EpochPayload memory p, bytes32[] memory leaves) = _payloadFor(accounts, amounts);
        _finalize(p);
        bytes32[] memory proof = MerkleBuilder.proof(leaves, 0);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.InvalidProof.selector, provider, 5e18 + extra));
        settlement.claim(provider, 5e18 + extra, proof);
    }

    function test_ClaimPaysOnlyTheDifferenceAcrossEpochs() public {
        address[] memory accounts = new address[](2);
        uint256[] memory amounts = new uint256[](2);
        (accounts[0], accounts[1], amounts[0], amounts[1]) = (provider, client, 5e18, 1e18);
        (EpochSettlement.EpochPayload memory p, bytes32[] memory leaves) = _payloadFor(accounts, amounts);
        _finalize(p);
        settlement.claim(provider, 5e18, MerkleBuilder.proof(leaves, 0));
        amounts[0] = 12e18;
        (p, leaves) = _payloadFor(accounts, amounts);
        _finalize(p);
        assertEq(settlement.claimable(provider, 12e18), 7e18);
        assertEq(settlement.claim(provider, 12e18, MerkleBuilder.proof(leaves, 0)), 7e18);
        assertEq(token.balanceOf(provider), 12e18);
        assertEq(settlement.totalClaimed(), 12e18);
    }

    function test_RevertWhen_ClaimExceedsTotalEarned() public {
        // a quorum that signs a tree whose leaves sum past totalEarned cannot drain more than totalEarned
        address[] memory accounts = new address[](2);
        uint256[] memory amounts = new uint256[](2);
        (accounts[0], accounts[1], amounts[0], amounts[1]) = (provider, client, 5e18, 5e18);
        (EpochSettlement.EpochPayload memory p, bytes32[] memory leaves) = _payloadFor(accounts, amounts);
        p.totalEarned = 6e18;
        p.chargeAmounts[0] = 6e18;
        _finalize(p);
        settlement.claim(provider, 5e18, MerkleBuilder.proof(leaves, 0));
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.ClaimExceedsTotalEarned.selector, 10e18, 6e18));
        settlement.claim(client, 5e18, MerkleBuilder.proof(leaves, 1));
    }

    function test_SlashAndEmissionBackRewards() public {
        _fund(provider, MIN_STAKE);
        vm.startPrank(provider);
        token.approve(address(registry), MIN_STAKE);
        registry.register(MIN_STAKE, bytes32(uint256(1)), bytes32("eu"), "u");
        vm.stopPrank();
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        p.slashProviders = new address[](1);
        p.slashAmounts = new uint256[](1);
        p.slashProviders[0] = provider;
        p.slashAmounts[0] = 400e18;
        p.emission = 100e18;
        p.totalEarned = 500e18;
        p.rewardsRoot = _leaf(client, 500e18);
        _finalize(p);
        assertEq(token.balanceOf(address(settlement)), 500e18);
        assertEq(registry.getProvider(provider).stake, MIN_STAKE - 400e18);
        assertEq(token.emittedInEpoch(1), 100e18);
        settlement.claim(client, 500e18, new bytes32[](0));
        assertEq(token.balanceOf(address(settlement)), 0);
    }

    function test_RevertWhen_InsufficientBacking() public {
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        p.totalEarned = 1;
        _warpToEnd(1);
        bytes[] memory sigs = _quorum(p);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.InsufficientBacking.selector, 1, 0));
        settlement.finalizeEpoch(p, sigs);
    }

    function test_RevertWhen_TotalEarnedDecreases() public {
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        p.totalEarned = 10;
        p.emission = 10;
        _finalize(p);
        p = _emptyPayload(2);
        p.totalEarned = 9;
        _warpToEnd(2);
        bytes[] memory sigs = _quorum(p);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.TotalEarnedDecreased.selector, 10, 9));
        settlement.finalizeEpoch(p, sigs);
    }

    function test_RevertWhen_TotalEarnedOverflowsUint128() public {
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        p.totalEarned = uint256(type(uint128).max) + 1;
        _warpToEnd(1);
        bytes[] memory sigs = _quorum(p);
        vm.expectRevert(abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 128, p.totalEarned));
        settlement.finalizeEpoch(p, sigs);
    }

    function test_RevertWhen_ChargeExceedsEscrowBalance() public {
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        p.chargeClients = new address[](1);
        p.chargeAmounts = new uint256[](1);
        p.chargeClients[0] = provider;
        p.chargeAmounts[0] = 1;
        _warpToEnd(1);
        bytes[] memory sigs = _quorum(p);
        vm.expectRevert(abi.encodeWithSelector(ClientEscrow.InsufficientEscrowBalance.selector, provider, 0, 1));
        settlement.finalizeEpoch(p, sigs);
    }

    function test_RevertWhen_EmissionExceedsEpochLimit() public {
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        p.emission = token.MAX_EMISSION_PER_EPOCH() + 1;
        _warpToEnd(1);
        bytes[] memory sigs = _quorum(p);
        vm.expectRevert(
            abi.encodeWithSelector(
                PlexusToken.PlexusTokenEpochEmissionExceeded.selector, 1, 0, p.emission, token.MAX_EMISSION_PER_EPOCH()
            )
        );
        settlement.finalizeEpoch(p, sigs);
    }

    // ------------------------------------------------------------------ finalization must fail when ...

    function test_RevertWhen_EpochNotEnded() public {
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        bytes[] memory sigs = _quorum(p);
        uint256 end = settlement.epochEnd(1);
        vm.warp(end - 1);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.EpochNotEnded.selector, 1, end));
        settlement.finalizeEpoch(p, sigs);
        assertEq(settlement.epochAt(end - 1), 1);
        assertEq(settlement.epochAt(end), 2);
    }

    function testFuzz_RevertWhen_WrongEpoch(uint256 epoch) public {
        vm.assume(epoch != 1);
        EpochSettlement.EpochPayload memory p = _emptyPayload(epoch);
        vm.warp(block.timestamp + 1000 days);
        bytes[] memory sigs = _quorum(p);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.UnexpectedEpoch.selector, 1, epoch));
        settlement.finalizeEpoch(p, sigs);
    }

    function test_RevertWhen_EpochRepeated() public {
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        _finalize(p);
        bytes[] memory sigs = _quorum(p);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.UnexpectedEpoch.selector, 2, 1));
        settlement.finalizeEpoch(p, sigs);
    }

    function testFuzz_RevertWhen_FewerSignersThanThreshold(uint256 n) public {
        n = bound(n, 0, 2);
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        _warpToEnd(1);
        bytes[] memory sigs = _signSorted(settlement.hashEpoch(p), _firstKeys(n));
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.InsufficientSignatures.selector, n, 3));
        settlement.finalizeEpoch(p, sigs);
    }

    function test_RevertWhen_DuplicateSigner() public {
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        _warpToEnd(1);
        bytes32 digest = settlement.hashEpoch(p);
        bytes[] memory sigs = _signSorted(digest, _firstKeys(3));
        sigs[2] = sigs[1];
        (address dup,,) = _recover(digest, sigs[1]);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.DuplicateSigner.selector, dup));
        settlement.finalizeEpoch(p, sigs);
    }

    function test_RevertWhen_SignersNotAscending() public {
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        _warpToEnd(1);
        bytes32 digest = settlement.hashEpoch(p);
        bytes[] memory sigs = _signSorted(digest, _firstKeys(3));
        (sigs[0], sigs[2]) = (sigs[2], sigs[0]);
        (address first,,) = _recover(digest, sigs[0]);
        (address second,,) = _recover(digest, sigs[1]);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.SignersNotAscending.selector, first, second));
        settlement.finalizeEpoch(p, sigs);
    }

    function testFuzz_RevertWhen_NonValidatorSigns(uint256 outsiderKey) public {
        outsiderKey = bound(outsiderKey, 1, 2 ** 200);
        address outsider = vm.addr(outsiderKey);
        vm.assume(!settlement.isValidator(outsider));
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        _warpToEnd(1);
        uint256[] memory keys = _firstKeys(3);
        keys[1] = outsiderKey;
        bytes[] memory sigs = _signSorted(settlement.hashEpoch(p), keys);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.NotAValidator.selector, outsider));
        settlement.finalizeEpoch(p, sigs);
    }

    function test_RevertWhen_RemovedValidatorSigns() public {
        vm.prank(admin);
        settlement.removeValidator(validatorAddrs[0]);
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        _warpToEnd(1);
        bytes[] memory sigs = _quorum(p);
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.NotAValidator.selector, validatorAddrs[0]));
        settlement.finalizeEpoch(p, sigs);
    }

    function testFuzz_RevertWhen_SignatureMalformed(bytes memory garbage) public {
        vm.assume(garbage.length != 65);
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        _warpToEnd(1);
        bytes[] memory sigs = _quorum(p);
        sigs[1] = garbage;
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.InvalidSignature.selector, 1));
        settlement.finalizeEpoch(p, sigs);
    }

    /// A malleable twin (s' = n - s, v flipped) of a valid signature is rejected, not counted.
    function test_RevertWhen_SignatureHasHighS() public {
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        _warpToEnd(1);
        bytes[] memory sigs = _quorum(p);
        bytes memory sig = sigs[0];
        bytes32 r;
        bytes32 s;
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
        }
        uint8 v = uint8(sig[64]);
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        sigs[0] = abi.encodePacked(r, bytes32(n - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(abi.encodeWithSelector(EpochSettlement.InvalidSignature.selector, 0));
        settlement.finalizeEpoch(p, sigs);
    }

    /// Any change to the signed payload makes the signatures recover to other (non-validator) addresses.
    function testFuzz_RevertWhen_PayloadDiffersFromSigned(bytes32 root, uint256 emission) public {
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        _warpToEnd(1);
        bytes[] memory sigs = _quorum(p);
        vm.assume(root != bytes32(0) || emission != 0);
        p.rewardsRoot = root;
        p.emission = emission;
        vm.expectPartialRevert(EpochSettlement.NotAValidator.selector);
        settlement.finalizeEpoch(p, sigs);
    }

    /// Validators sign the evidence hash: a payload sent with other evidence than they checked fails.
    function testFuzz_RevertWhen_EvidenceDiffersFromSigned(bytes32 evidence) public {
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        _warpToEnd(1);
        bytes[] memory sigs = _quorum(p);
        vm.assume(evidence != bytes32(0));
        p.evidenceHash = evidence;
        vm.expectPartialRevert(EpochSettlement.NotAValidator.selector);
        settlement.finalizeEpoch(p, sigs);
        assertEq(settlement.evidenceHashOf(1), bytes32(0));
    }

    function testFuzz_RevertWhen_SignedForAnotherChain(uint64 chainId) public {
        vm.assume(chainId != block.chainid && chainId != 0);
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        _warpToEnd(1);
        uint256 home = block.chainid;
        vm.chainId(chainId);
        bytes[] memory sigs = _quorum(p); // hashEpoch now uses the other chain's domain
        vm.chainId(home);
        vm.expectPartialRevert(EpochSettlement.NotAValidator.selector);
        settlement.finalizeEpoch(p, sigs);
    }

    function test_RevertWhen_SignedForAnotherContract() public {
        vm.startPrank(admin);
        ClientEscrow otherEscrow = new ClientEscrow(token, WITHDRAWAL_DELAY, admin);
        EpochSettlement other = new EpochSettlement(token, registry, otherEscrow, EPOCH, validatorAddrs, 3, admin);
        vm.stopPrank();
        EpochSettlement.EpochPayload memory p = _emptyPayload(1);
        _warpToEnd(1);
        bytes[] memory sigs = _signSorted(other.hashEpoch(p), _firstKeys(3));
        vm.expectPartialRevert(EpochSettlement.NotAValidator.selector);
        settlement.finalizeEpoch(p, sigs);
    }

    function _recover(bytes32 digest, bytes memory sig) internal pure returns (address, bytes32, bytes32) {
        (bytes32 r, bytes32 s) = abi.decode(_slice64(sig), (bytes32, bytes32));
        return (ecrecover(digest, uint8(sig[64]), r, s), r, s);
    }

    function _slice64(bytes memory sig) private pure returns (bytes memory out) {
        out = new bytes(64);
        for (uint256 i = 0; i < 64; ++i) {
            out[i] = sig[i];
        }
    }
}
