// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SettlementBound} from "./SettlementBound.sol";

/// @title ClientEscrow
/// @notice Clients deposit PLX here to pay for jobs. The settlement contract charges them once per
/// epoch. A withdrawal is requested first and executed no earlier than `withdrawalDelay` seconds
/// later (at least one epoch, checked by EpochSettlement), so that charges already earned still
/// settle: the requested amount stays chargeable until it is executed.
contract ClientEscrow is SettlementBound, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    struct Withdrawal {
        /// Amount requested; zero when no request is pending.
        uint256 amount;
        /// Earliest execution time (unix seconds).
        uint64 readyAt;
    }

    /// @notice The payment token (PLX).
    IERC20 public immutable token;
    /// @notice Seconds between a withdrawal request and its execution.
    uint256 public immutable withdrawalDelay;

    /// @notice Deposited, not yet charged or withdrawn, per client.
    mapping(address client => uint256 amount) public balanceOf;
    /// @notice Sum of all client balances (always equals the escrow's token balance).
    uint256 public totalBalance;
    mapping(address client => Withdrawal) private _withdrawals;

    /// @notice `client` deposited `amount`; its balance is now `balance`.
    event Deposited(address indexed client, uint256 amount, uint256 balance);
    /// @notice `client` asked to withdraw `amount`, executable at `readyAt`.
    event WithdrawalRequested(address indexed client, uint256 amount, uint64 readyAt);
    /// @notice `client` cancelled its pending withdrawal.
    event WithdrawalCancelled(address indexed client);
    /// @notice `client` withdrew `amount` (its request, less what was charged meanwhile).
    event Withdrawn(address indexed client, uint256 amount, uint256 balance);
    /// @notice `client` was charged `amount` in `epoch`; its balance is now `balance`.
    event Charged(uint256 indexed epoch, address indexed client, uint256 amount, uint256 balance);

    /// @notice A constructor argument is invalid.
    error EscrowInvalidConfig();
    /// @notice The amount must be greater than zero.
    error ZeroAmount();
    /// @notice `client` holds `balance`, less than `needed`.
    error InsufficientEscrowBalance(address client, uint256 balance, uint256 needed);
    /// @notice `client` has no pending withdrawal.
    error NoPendingWithdrawal(address client);
    /// @notice The withdrawal can be executed at `readyAt` (now `nowTs`).
    error WithdrawalNotReady(uint64 readyAt, uint256 nowTs);
    /// @notice The two batch arrays differ in length.
    error LengthMismatch(uint256 a, uint256 b);

    /// @param token_ the PLX token.
    /// @param withdrawalDelay_ seconds between request and execution (must be > 0; EpochSettlement
    /// requires at least its epoch duration).
    /// @param initialOwner binds the settlement contract once.
    constructor(IERC20 token_, uint256 withdrawalDelay_, address initialOwner) SettlementBound(initialOwner) {
        if (address(token_) == address(0) || withdrawalDelay_ == 0) revert EscrowInvalidConfig();
        token = token_;
        withdrawalDelay = withdrawalDelay_;
    }

    /// @notice Deposits `amount` PLX (pulled with transferFrom) to the caller's balance.
    function deposit(uint256 amount) external nonReentrant {
        _deposit(msg.sender, amount);
    }

    /// @notice Deposits with an EIP-2612 permit instead of a prior approve. A permit that fails
    /// (for example because someone front-ran it) is ignored when the allowance is already there.
    function depositWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        try IERC20Permit(address(token)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _deposit(msg.sender, amount);
    }

    /// @notice Requests a withdrawal of `amount`, executable after `withdrawalDelay`. A new request
    /// replaces a pending one and restarts the delay.
    function requestWithdrawal(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 bal = balanceOf[msg.sender];
        if (amount > bal) revert InsufficientEscrowBalance(msg.sender, bal, amount);
        uint64 readyAt = SafeCast.toUint64(block.timestamp + withdrawalDelay);
        _withdrawals[msg.sender] = Withdrawal({amount: amount, readyAt: readyAt});
        emit WithdrawalRequested(msg.sender, amount, readyAt);
    }

    /// @notice Cancels the caller's pending withdrawal.
    function cancelWithdrawal() external {
        if (_withdrawals[msg.sender].amount == 0) revert NoPendingWithdrawal(msg.sender);
        delete _withdrawals[msg.sender];
        emit WithdrawalCancelled(msg.sender);
    }

    /// @notice Executes the caller's pending withdrawal once the delay is over. Pays the requested
    /// amount, or the whole balance if charges since the request left less.
    function executeWithdrawal() external nonReentrant {
        Withdrawal memory w = _withdrawals[msg.sender];
        if (w.amount == 0) revert NoPendingWithdrawal(msg.sender);
        if (block.timestamp < w.readyAt) revert WithdrawalNotReady(w.readyAt, block.timestamp);
        delete _withdrawals[msg.sender];
        uint256 bal = balanceOf[msg.sender];
        uint256 amount = w.amount < bal ? w.amount : bal;
        balanceOf[msg.sender] = bal - amount;
        totalBalance -= amount;
        if (amount > 0) token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount, bal - amount);
    }

    /// @notice Charges each `clients[i]` `amounts[i]` for `epoch` and sends the total to the
    /// settlement contract in one transfer. Reverts when any charge exceeds that client's balance.
    /// @return total the sum of the charges.
    function chargeBatch(uint256 epoch, address[] calldata clients, uint256[] calldata amounts)
        external
        onlySettlement
        nonReentrant
        returns (uint256 total)
    {
        if (clients.length != amounts.length) revert LengthMismatch(clients.length, amounts.length);
        for (uint256 i = 0; i < clients.length; ++i) {
            address client = clients[i];
            uint256 amount = amounts[i];
            uint256 bal = balanceOf[client];
            if (amount > bal) revert InsufficientEscrowBalance(client, bal, amount);
            unchecked {
                bal -= amount;
                total += amount; // bounded by totalBalance, which fits in uint256
            }
            balanceOf[client] = bal;
            emit Charged(epoch, client, amount, bal);
        }
        totalBalance -= total;
        if (total > 0) token.safeTransfer(msg.sender, total);
    }

    /// @notice The pending withdrawal of `client` (amount zero when none).
    function pendingWithdrawal(address client) external view returns (Withdrawal memory) {
        return _withdrawals[client];
    }

    function _deposit(address client, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        uint256 bal = balanceOf[client] + amount;
        balanceOf[client] = bal;
        totalBalance += amount;
        token.safeTransferFrom(client, address(this), amount);
        emit Deposited(client, amount, bal);
    }
}
