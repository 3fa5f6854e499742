// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ClientEscrow} from "../src/ClientEscrow.sol";
import {SettlementBound} from "../src/SettlementBound.sol";
import {PlexusFixture} from "./utils/PlexusFixture.sol";

contract ClientEscrowTest is PlexusFixture {
    uint256 internal clientKey = 0xC11E47;
    address internal client;

    function setUp() public override {
        super.setUp();
        client = vm.addr(clientKey);
        _fund(client, 1_000_000e18);
        vm.prank(client);
        token.approve(address(escrow), type(uint256).max);
    }

    function _charge(address who, uint256 amount) internal returns (uint256) {
        address[] memory cs = new address[](1);
        uint256[] memory as_ = new uint256[](1);
        cs[0] = who;
        as_[0] = amount;
        vm.prank(address(settlement));
        return escrow.chargeBatch(1, cs, as_);
    }

    function test_RevertWhen_ConfigInvalid() public {
        vm.expectRevert(ClientEscrow.EscrowInvalidConfig.selector);
        new ClientEscrow(IERC20(address(0)), 1, admin);
        vm.expectRevert(ClientEscrow.EscrowInvalidConfig.selector);
        new ClientEscrow(token, 0, admin);
    }

    function testFuzz_Deposit(uint256 a, uint256 b) public {
        a = bound(a, 1, 500_000e18);
        b = bound(b, 1, 500_000e18);
        vm.startPrank(client);
        escrow.deposit(a);
        escrow.deposit(b);
        vm.stopPrank();
        assertEq(escrow.balanceOf(client), a + b);
        assertEq(escrow.totalBalance(), a + b);
        assertEq(token.balanceOf(address(escrow)), a + b);
    }

    function test_RevertWhen_DepositZero() public {
        vm.prank(client);
        vm.expectRevert(ClientEscrow.ZeroAmount.selector);
        escrow.deposit(0);
    }

    function testFuzz_DepositWithPermit(uint256 amount) public {
        amount = bound(amount, 1, 1_000_000e18);
        vm.prank(client);
        token.approve(address(escrow), 0);
        uint256 deadline = block.timestamp + 600;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                client,
                address(escrow),
                amount,
                token.nonces(client),
                deadline
            )
        );
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(clientKey, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
        vm.prank(client);
        escrow.depositWithPermit(amount, deadline, v, r, s);
        assertEq(escrow.balanceOf(client), amount);
        assertEq(token.allowance(client, address(escrow)), 0);
    }

    function test_DepositWithPermitToleratesFrontRunPermit() public {
        // the allowance already exists (the permit was used by someone else): the deposit still works
        vm.prank(client);
        escrow.depositWithPermit(5e18, block.timestamp, 27, bytes32(0), bytes32(0));
        assertEq(escrow.balanceOf(client), 5e18);
    }

    function test_RevertWhen_PermitInvalidAndNoAllowance() public {
        vm.prank(client);
        token.approve(address(escrow), 0);
        vm.prank(client);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, 5e18)
        );
        escrow.depositWithPermit(5e18, block.timestamp, 27, bytes32(0), bytes32(0));
    }

    function test_RevertWhen_WithdrawalReadyAtOverflowsUint64() public {
        ClientEscrow e = new ClientEscrow(token, 2 ** 64, admin);
        vm.startPrank(client);
        token.approve(address(e), 1);
        e.deposit(1);
        vm.expectRevert(
            abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 64, block.timestamp + 2 ** 64)
        );
        e.requestWithdrawal(1);
        vm.stopPrank();
    }

    function testFuzz_WithdrawAfterDelay(uint256 dep, uint256 req, uint256 charged) public {
        dep = bound(dep, 1, 1_000_000e18);
        req = bound(req, 1, dep);
        charged = bound(charged, 0, dep);
        vm.prank(client);
        escrow.deposit(dep);
        vm.prank(client);
        escrow.requestWithdrawal(req);
        uint64 readyAt = uint64(block.timestamp + WITHDRAWAL_DELAY);
        assertEq(escrow.pendingWithdrawal(client).amount, req);
        // charges earned before the request still settle during the delay
        if (charged > 0) _charge(client, charged);
        vm.warp(readyAt - 1);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(ClientEscrow.WithdrawalNotReady.selector, readyAt, readyAt - 1));
        escrow.executeWithdrawal();
        vm.warp(readyAt);
        uint256 before = token.balanceOf(client);
        vm.prank(client);
        escrow.executeWithdrawal();
        uint256 left = dep - charged;
        uint256 paid = req < left ? req : left;
        assertEq(token.balanceOf(client), before + paid);
        assertEq(escrow.balanceOf(client), left - paid);
        assertEq(token.balanceOf(address(escrow)), escrow.totalBalance());
    }

    function test_RevertWhen_WithdrawalInvalid() public {
        vm.startPrank(client);
        vm.expectRevert(ClientEscrow.ZeroAmount.selector);
        escrow.requestWithdrawal(0);
        vm.expectRevert(abi.encodeWithSelector(ClientEscrow.InsufficientEscrowBalance.selector, client, 0, 1));
        escrow.requestWithdrawal(1);
        vm.expectRevert(abi.encodeWithSelector(ClientEscrow.NoPendingWithdrawal.selector, client));
        escrow.executeWithdrawal();
        vm.expectRevert(abi.encodeWithSelector(ClientEscrow.NoPendingWithdrawal.selector, client));
        escrow.cancelWithdrawal();
        vm.stopPrank();
    }

    function test_CancelWithdrawal() public {
        vm.startPrank(client);
        escrow.deposit(10);
        escrow.requestWithdrawal(10);
        escrow.cancelWithdrawal();
        vm.stopPrank();
        assertEq(escrow.pendingWithdrawal(client).amount, 0);
    }

    function testFuzz_RevertWhen_ChargeExceedsBalance(uint256 dep, uint256 amount) public {
        dep = bound(dep, 1, 1_000_000e18);
        amount = bound(amount, dep + 1, type(uint256).max);
        vm.prank(client);
        escrow.deposit(dep);
        vm.expectRevert(
            abi.encodeWithSelector(ClientEscrow.InsufficientEscrowBalance.selector, client, dep, amount)
        );
        _charge(client, amount);
    }

    function testFuzz_RevertWhen_NonSettlementCharges(address caller) public {
        vm.assume(caller != address(settlement));
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(SettlementBound.SettlementUnauthorized.selector, caller));
        escrow.chargeBatch(1, new address[](0), new uint256[](0));
    }

    function test_RevertWhen_ChargeLengthMismatch() public {
        vm.prank(address(settlement));
        vm.expectRevert(abi.encodeWithSelector(ClientEscrow.LengthMismatch.selector, 0, 2));
        escrow.chargeBatch(1, new address[](0), new uint256[](2));
    }
}
