// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {PlexusToken} from "../src/PlexusToken.sol";
import {PlexusFixture} from "./utils/PlexusFixture.sol";

contract PlexusTokenTest is PlexusFixture {
    function test_GenesisSupplyGoesToTreasury() public view {
        assertEq(token.totalSupply(), token.GENESIS_SUPPLY());
        assertEq(token.balanceOf(treasury), token.GENESIS_SUPPLY());
        assertEq(token.cap(), token.CAP());
        assertEq(token.minter(), address(settlement));
        assertEq(token.owner(), address(0), "ownership renounced once the minter is bound");
    }

    function test_RevertWhen_TreasuryIsZero() public {
        vm.expectRevert(PlexusToken.PlexusTokenZeroTreasury.selector);
        new PlexusToken(address(0), admin);
    }

    function test_RevertWhen_MinterIsZero() public {
        PlexusToken t = new PlexusToken(treasury, address(this));
        vm.expectRevert(PlexusToken.PlexusTokenZeroMinter.selector);
        t.setMinter(address(0));
    }

    function test_RevertWhen_MinterSetTwice() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, admin));
        token.setMinter(admin);
    }

    function test_RevertWhen_NotOwnerSetsMinter() public {
        PlexusToken t = new PlexusToken(treasury, admin);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this)));
        t.setMinter(address(this));
    }

    function testFuzz_RevertWhen_NonMinterMints(address caller, uint256 amount) public {
        vm.assume(caller != address(settlement));
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(PlexusToken.PlexusTokenUnauthorizedMinter.selector, caller));
        token.mintEmission(1, caller, amount);
    }

    function testFuzz_MintWithinEpochLimit(uint256 a, uint256 b) public {
        uint256 limit = token.MAX_EMISSION_PER_EPOCH();
        a = bound(a, 0, limit);
        b = bound(b, 0, limit - a);
        vm.startPrank(address(settlement));
        token.mintEmission(7, treasury, a);
        token.mintEmission(7, treasury, b);
        vm.stopPrank();
        assertEq(token.emittedInEpoch(7), a + b);
        assertEq(token.totalSupply(), token.GENESIS_SUPPLY() + a + b);
    }

    function testFuzz_RevertWhen_EpochEmissionExceeded(uint256 a, uint256 b) public {
        uint256 limit = token.MAX_EMISSION_PER_EPOCH();
        a = bound(a, 0, limit);
        b = bound(b, limit - a + 1, type(uint128).max);
        vm.startPrank(address(settlement));
        token.mintEmission(3, treasury, a);
        vm.expectRevert(
            abi.encodeWithSelector(PlexusToken.PlexusTokenEpochEmissionExceeded.selector, 3, a, b, limit)
        );
        token.mintEmission(3, treasury, b);
        vm.stopPrank();
    }

    function test_RevertWhen_CapExceeded() public {
        uint256 limit = token.MAX_EMISSION_PER_EPOCH();
        uint256 room = token.CAP() - token.totalSupply();
        uint256 epochs = room / limit;
        vm.startPrank(address(settlement));
        // mint for real, epoch after epoch, up to the cap (writing totalSupply directly would skip the logic)
        for (uint256 e = 1; e <= epochs; ++e) {
            token.mintEmission(e, treasury, limit);
        }
        uint256 left = token.CAP() - token.totalSupply();
        if (left > 0) token.mintEmission(epochs + 1, treasury, left);
        assertEq(token.totalSupply(), token.CAP());
        vm.expectRevert(abi.encodeWithSelector(ERC20Capped.ERC20ExceededCap.selector, token.CAP() + 1, token.CAP()));
        token.mintEmission(epochs + 2, treasury, 1);
        vm.stopPrank();
    }

    function testFuzz_Permit(uint256 ownerKey, uint256 value) public {
        ownerKey = bound(ownerKey, 1, 2 ** 128);
        address owner = vm.addr(ownerKey);
        address spender = makeAddr("spender");
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                owner,
                spender,
                value,
                token.nonces(owner),
                deadline
            )
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerKey, digest);
        token.permit(owner, spender, value, deadline, v, r, s);
        assertEq(token.allowance(owner, spender), value);
        // replaying the same permit fails: the nonce moved on
        vm.expectPartialRevert(ERC20Permit.ERC2612InvalidSigner.selector);
        token.permit(owner, spender, value, deadline, v, r, s);
    }
}
