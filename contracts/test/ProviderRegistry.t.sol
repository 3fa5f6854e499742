// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ProviderRegistry} from "../src/ProviderRegistry.sol";
import {SettlementBound} from "../src/SettlementBound.sol";
import {PlexusFixture} from "./utils/PlexusFixture.sol";

contract ProviderRegistryTest is PlexusFixture {
    address internal provider = makeAddr("provider");
    bytes32 internal constant CAPS = keccak256("caps");
    bytes32 internal constant REGION = bytes32("eu-west");

    event ProviderRegistered(
        address indexed provider, uint256 stake, bytes32 capabilitiesDigest, bytes32 region, string uri
    );
    event ProviderSlashed(address indexed provider, uint256 requested, uint256 amount, uint256 stake, uint256 unbonding);

    function setUp() public override {
        super.setUp();
        _fund(provider, 100_000e18);
        vm.prank(provider);
        token.approve(address(registry), type(uint256).max);
    }

    function _register(uint256 stake) internal {
        vm.prank(provider);
        registry.register(stake, CAPS, REGION, "https://p.example/meta.json");
    }

    function _slash(address who, uint256 amount) internal returns (uint256) {
        address[] memory ps = new address[](1);
        uint256[] memory as_ = new uint256[](1);
        ps[0] = who;
        as_[0] = amount;
        vm.prank(address(settlement));
        return registry.slashBatch(ps, as_);
    }

    function testFuzz_Register(uint256 stake) public {
        stake = bound(stake, MIN_STAKE, 100_000e18);
        vm.expectEmit(address(registry));
        emit ProviderRegistered(provider, stake, CAPS, REGION, "https://p.example/meta.json");
        _register(stake);
        ProviderRegistry.Provider memory p = registry.getProvider(provider);
        assertEq(p.stake, stake);
        assertEq(p.capabilitiesDigest, CAPS);
        assertEq(p.region, REGION);
        assertEq(p.uri, "https://p.example/meta.json");
        assertTrue(registry.isActive(provider));
        assertEq(registry.providerCount(), 1);
        assertEq(token.balanceOf(address(registry)), stake);
    }

    function test_RevertWhen_ConfigInvalid() public {
        vm.expectRevert(ProviderRegistry.RegistryInvalidConfig.selector);
        new ProviderRegistry(IERC20(address(0)), 1, 1, admin);
        vm.expectRevert(ProviderRegistry.RegistryInvalidConfig.selector);
        new ProviderRegistry(token, 0, 1, admin);
        vm.expectRevert(ProviderRegistry.RegistryInvalidConfig.selector);
        new ProviderRegistry(token, 1, 0, admin);
    }

    function testFuzz_RevertWhen_StakeBelowMinimum(uint256 stake) public {
        stake = bound(stake, 0, MIN_STAKE - 1);
        vm.expectRevert(abi.encodeWithSelector(ProviderRegistry.StakeBelowMinimum.selector, stake, MIN_STAKE));
        _register(stake);
    }

    function test_RevertWhen_AlreadyRegistered() public {
        _register(MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(ProviderRegistry.ProviderAlreadyRegistered.selector, provider));
        _register(MIN_STAKE);
    }

    function test_RevertWhen_MetadataInvalid() public {
        vm.startPrank(provider);
        vm.expectRevert(ProviderRegistry.InvalidRegion.selector);
        registry.register(MIN_STAKE, CAPS, bytes32(0), "u");
        vm.expectRevert(abi.encodeWithSelector(ProviderRegistry.InvalidUri.selector, 0, 256));
        registry.register(MIN_STAKE, CAPS, REGION, "");
        vm.expectRevert(abi.encodeWithSelector(ProviderRegistry.InvalidUri.selector, 257, 256));
        registry.register(MIN_STAKE, CAPS, REGION, string(new bytes(257)));
        vm.stopPrank();
    }

    function test_UpdateMetadata() public {
        _register(MIN_STAKE);
        vm.prank(provider);
        registry.updateMetadata(bytes32(uint256(2)), bytes32("us-east"), "ipfs://x");
        ProviderRegistry.Provider memory p = registry.getProvider(provider);
        assertEq(p.capabilitiesDigest, bytes32(uint256(2)));
        assertEq(p.region, bytes32("us-east"));
        assertEq(p.uri, "ipfs://x");
    }

    function test_RevertWhen_NotRegistered() public {
        bytes memory err = abi.encodeWithSelector(ProviderRegistry.ProviderNotRegistered.selector, provider);
        vm.startPrank(provider);
        vm.expectRevert(err);
        registry.updateMetadata(CAPS, REGION, "u");
        vm.expectRevert(err);
        registry.addStake(1);
        vm.expectRevert(err);
        registry.requestUnbonding(1);
        vm.expectRevert(err);
        registry.cancelUnbonding();
        vm.expectRevert(err);
        registry.withdrawUnbonded();
        vm.stopPrank();
    }

    function testFuzz_AddStake(uint256 amount) public {
        amount = bound(amount, 1, 50_000e18);
        _register(MIN_STAKE);
        vm.prank(provider);
        registry.addStake(amount);
        assertEq(registry.getProvider(provider).stake, MIN_STAKE + amount);
    }

    function test_RevertWhen_ZeroAmount() public {
        _register(MIN_STAKE);
        vm.startPrank(provider);
        vm.expectRevert(ProviderRegistry.ZeroAmount.selector);
        registry.addStake(0);
        vm.expectRevert(ProviderRegistry.ZeroAmount.selector);
        registry.requestUnbonding(0);
        vm.stopPrank();
    }

    function testFuzz_UnbondAndWithdraw(uint256 stake, uint256 amount) public {
        stake = bound(stake, MIN_STAKE, 100_000e18);
        amount = bound(amount, 1, stake);
        _register(stake);
        uint256 before = token.balanceOf(provider);
        vm.prank(provider);
        registry.requestUnbonding(amount);
        assertFalse(registry.isActive(provider), "unbonding providers take no new work");
        uint64 readyAt = uint64(block.timestamp + UNBONDING);
        vm.warp(readyAt - 1);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(ProviderRegistry.UnbondingNotReady.selector, readyAt, readyAt - 1));
        registry.withdrawUnbonded();
        vm.warp(readyAt);
        vm.prank(provider);
        registry.withdrawUnbonded();
        assertEq(token.balanceOf(provider), before + amount);
        assertEq(registry.isRegistered(provider), amount < stake);
        assertEq(registry.providerCount(), amount < stake ? 1 : 0);
        assertEq(registry.isActive(provider), stake - amount >= MIN_STAKE);
    }

    function test_DeregisteredProviderCanRegisterAgain() public {
        _register(MIN_STAKE);
        vm.prank(provider);
        registry.requestUnbonding(MIN_STAKE);
        vm.warp(block.timestamp + UNBONDING);
        vm.startPrank(provider);
        registry.withdrawUnbonded();
        registry.register(MIN_STAKE, CAPS, REGION, "u");
        vm.stopPrank();
        assertTrue(registry.isActive(provider));
    }

    function testFuzz_RevertWhen_UnbondingMoreThanStake(uint256 extra) public {
        extra = bound(extra, 1, type(uint128).max);
        _register(MIN_STAKE);
        vm.prank(provider);
        vm.expectRevert(
            abi.encodeWithSelector(ProviderRegistry.InsufficientStake.selector, MIN_STAKE, MIN_STAKE + extra)
        );
        registry.requestUnbonding(MIN_STAKE + extra);
    }

    function test_RevertWhen_UnbondingReadyAtOverflowsUint64() public {
        ProviderRegistry r = new ProviderRegistry(token, MIN_STAKE, 2 ** 64, admin);
        vm.startPrank(provider);
        token.approve(address(r), MIN_STAKE);
        r.register(MIN_STAKE, CAPS, REGION, "u");
        vm.expectRevert(
            abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 64, block.timestamp + 2 ** 64)
        );
        r.requestUnbonding(1);
        vm.stopPrank();
    }

    function test_CancelUnbonding() public {
        _register(2 * MIN_STAKE);
        vm.startPrank(provider);
        registry.requestUnbonding(MIN_STAKE);
        registry.cancelUnbonding();
        vm.stopPrank();
        assertEq(registry.getProvider(provider).stake, 2 * MIN_STAKE);
        assertTrue(registry.isActive(provider));
    }

    function test_RevertWhen_NothingUnbonding() public {
        _register(MIN_STAKE);
        vm.startPrank(provider);
        vm.expectRevert(abi.encodeWithSelector(ProviderRegistry.NothingUnbonding.selector, provider));
        registry.cancelUnbonding();
        vm.expectRevert(abi.encodeWithSelector(ProviderRegistry.NothingUnbonding.selector, provider));
        registry.withdrawUnbonded();
        vm.stopPrank();
    }

    function testFuzz_SlashTakesStakeThenUnbonding(uint256 unbond, uint256 amount) public {
        uint256 stake = 10 * MIN_STAKE;
        unbond = bound(unbond, 0, stake);
        amount = bound(amount, 0, 2 * stake);
        _register(stake);
        if (unbond > 0) {
            vm.prank(provider);
            registry.requestUnbonding(unbond);
        }
        uint256 bonded = stake - unbond;
        uint256 taken = amount > stake ? stake : amount;
        uint256 fromStake = amount > bonded ? bonded : amount;
        vm.expectEmit(address(registry));
        emit ProviderSlashed(provider, amount, taken, bonded - fromStake, unbond - (taken - fromStake));
        assertEq(_slash(provider, amount), taken);
        assertEq(token.balanceOf(address(settlement)), taken);
        assertEq(token.balanceOf(address(registry)), stake - taken);
    }

    function test_SlashOfUnknownProviderTakesNothing() public {
        assertEq(_slash(makeAddr("nobody"), 5e18), 0);
    }

    function testFuzz_RevertWhen_NonSettlementSlashes(address caller) public {
        vm.assume(caller != address(settlement));
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(SettlementBound.SettlementUnauthorized.selector, caller));
        registry.slashBatch(new address[](0), new uint256[](0));
    }

    function test_RevertWhen_SlashLengthMismatch() public {
        vm.prank(address(settlement));
        vm.expectRevert(abi.encodeWithSelector(ProviderRegistry.LengthMismatch.selector, 1, 0));
        registry.slashBatch(new address[](1), new uint256[](0));
    }

    function test_RevertWhen_SettlementBoundTwiceOrZero() public {
        ProviderRegistry r = new ProviderRegistry(token, 1, 1, admin);
        vm.startPrank(admin);
        vm.expectRevert(SettlementBound.SettlementZeroAddress.selector);
        r.setSettlement(address(0));
        r.setSettlement(address(settlement));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, admin));
        r.setSettlement(address(settlement));
        vm.stopPrank();
    }
}
